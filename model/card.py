"""The model card (`README.md`): a pure function of the model's config, its size and its run's metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from model.config import RECIPE_FIELDS
from model.files import write_text

TEMPLATE = Path(__file__).with_name("card_template.md")
TAGS = ["image-classification", "fashion-mnist", "tinyvgg", "pytorch_model_hub_mixin"]
# The training options the card lists: the preset and every field that shapes the result.
HYPERPARAMETERS = ("preset", *RECIPE_FIELDS)
# The figures train.py draws beside the weights, which the card shows when they travel with it.
FIGURES = ("confusion_matrix.png", "loss_curves.png", "reliability_diagram.png", "reliability_photos.png")
DATASET = "zalando-datasets/fashion_mnist"
PAPER = "https://arxiv.org/abs/1708.07747"


def build_card(
    config: dict[str, Any],
    *,
    num_parameters: int,
    architecture: str,
    metrics: dict | None = None,
    training_args: dict | None = None,
    figures: dict[str, Path] | None = None,
    onnx: Path | None = None,
    repo_id: str | None = None,
    folder: str | None = None,
) -> ModelCard:
    """Render the card from what is known of a model; reads no file but the template.

    Args:
        config: The model's `config.json` values.
        num_parameters: Its parameter count.
        architecture: Its layers in a few words.
        metrics: The run's `metrics.json`, when the model was trained by train.py.
        training_args: The run's `training_args.json`.
        figures: Figure name -> file, for the figures that travel with the card.
        onnx: The `model.onnx` (`python -m model.export`) that travels with it, if any.
        repo_id: The Hub repo the card will live in: its name and where the snippets load from.
        folder: Else, the local folder the snippets load from.
    """
    name = repo_id.split("/")[-1] if repo_id else "TinyVGG on Fashion-MNIST"
    data = ModelCardData(
        model_name=name,
        library_name="pytorch",
        license="mit",
        tags=TAGS,
        datasets=[DATASET],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        eval_results=[
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=DATASET,
                dataset_name="Fashion-MNIST",
                dataset_split="test",
                metric_type="accuracy",
                metric_name="Test accuracy",
                metric_value=round(metrics["test_accuracy"], 4),
            )
        ]
        if metrics
        else None,
    )
    args = training_args or {}
    values = dict(
        metrics=metrics,
        model_name=name,
        location=repo_id or folder or "path/to/folder",
        on_hub=repo_id is not None,
        architecture=architecture,
        num_parameters=num_parameters,
        figures=set(figures or ()),
        onnx=onnx is not None,
        paper=PAPER,
        config=config,
    )
    if metrics:
        values |= dict(
            test_accuracy=metrics["test_accuracy"],
            test_loss=metrics["test_loss"],
            per_class=metrics["per_class"],
            calibration=metrics.get("calibration"),
            photo_calibration=metrics.get("photo_calibration"),
            ood=metrics.get("ood"),
            real_photos=metrics.get("real_photos"),
            command=metrics["command"],
            hyperparameters={key: args[key] for key in HYPERPARAMETERS if key in args},
            train_seconds=metrics["train_seconds"],
            train_images_per_second=metrics["train_images_per_second"],
            epochs=len(metrics["history"]),
            device=metrics["environment"]["device"],
            # What --precision resolved to; older runs did not record it.
            precision_used=metrics["environment"].get("precision"),
            train_count=metrics["data"]["train_images"],
            val_count=metrics["data"]["val_images"],
            test_count=metrics["data"]["test_images"],
            data_source=metrics["data"]["source"],
            data_sha256=metrics["data"]["sha256"],
            versions={k: v for k, v in metrics["environment"].items() if k not in ("device", "precision")},
        )
    return ModelCard.from_template(data, template_path=str(TEMPLATE), **values)


def read_run(folder: str | Path) -> dict[str, Any]:
    """What a folder written by train.py tells its card: metrics, training options and figures.

    The result is `model_card_kwargs` for `TinyVGG.save_pretrained` and `push_to_hub`.
    """
    folder = Path(folder)
    return dict(
        metrics=_read_json(folder / "metrics.json"),
        training_args=_read_json(folder / "training_args.json"),
        figures={name: folder / name for name in FIGURES if (folder / name).is_file()},
        onnx=folder / "model.onnx" if (folder / "model.onnx").is_file() else None,
    )


def render_card(folder: str | Path, model: Any, repo_id: str | None = None) -> ModelCard:
    """The card of `model` (a TinyVGG) with the run recorded in `folder`, for the Hub repo `repo_id` or that folder."""
    return model.generate_model_card(**read_run(folder), repo_id=repo_id, folder=Path(folder).as_posix())


def write_card(folder: str | Path, model: Any, repo_id: str | None = None) -> Path:
    """(Re)write `folder/README.md` with `render_card`."""
    path = Path(folder) / "README.md"
    write_text(path, str(render_card(folder, model, repo_id)))
    return path


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
