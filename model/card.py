"""The model card (`README.md`), rendered with huggingface_hub's ModelCard from a template and real numbers."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from model.files import write_text

TEMPLATE = Path(__file__).with_name("card_template.md")
TAGS = ["image-classification", "fashion-mnist", "tinyvgg", "pytorch_model_hub_mixin"]
HYPERPARAMETERS = (
    "preset",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "momentum",
    "weight_decay",
    "schedule",
    "hidden_units",
    "batch_norm",
    "dropout",
    "normalize",
    "augment",
    "photo_share",
    "precision",
    "val_size",
    "seed",
    "limit_train",
    "limit_test",
)


def build_card(folder: str | Path, repo_id: str | None = None) -> ModelCard:
    """Render the card of a saved folder from its config.json and, when present, metrics.json.

    Args:
        folder: A folder holding at least config.json (and metrics.json and
            training_args.json when `train.py` wrote it).
        repo_id: The Hub repo the card will live in; the usage snippet loads from it.
            Defaults to the folder path, so the snippet runs against the local copy.
    """
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    metrics = _read_json(folder / "metrics.json")
    args = _read_json(folder / "training_args.json") or {}

    widths = config["hidden_units"]
    widths = [widths, widths] if isinstance(widths, int) else widths
    architecture = (
        f"2 conv blocks of {widths[0]} and {widths[1]} channels"
        + (", batch norm" if config.get("batch_norm") else "")
        + (f", dropout {config['dropout']}" if config.get("dropout") else "")
    )
    name = repo_id.split("/")[-1] if repo_id else "TinyVGG on Fashion-MNIST"
    data = ModelCardData(
        model_name=name,
        library_name="pytorch",
        license="mit",
        tags=TAGS,
        datasets=["zalando-datasets/fashion_mnist"],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        eval_results=[
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type="zalando-datasets/fashion_mnist",
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
    values = dict(
        metrics=metrics,
        model_name=name,
        repo_id=repo_id or folder.as_posix(),
        architecture=architecture,
        num_parameters=_num_parameters(config),
    )
    if metrics:
        values |= dict(
            test_accuracy=metrics["test_accuracy"],
            test_loss=metrics["test_loss"],
            per_class=metrics["per_class"],
            calibration=metrics.get("calibration"),
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


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _num_parameters(config: dict) -> int:
    from model.tinyvgg import TinyVGG  # the model module imports this one to write its card

    keys = inspect.signature(TinyVGG.__init__).parameters
    return TinyVGG(**{k: v for k, v in config.items() if k in keys}).num_parameters


def write_card(folder: str | Path, repo_id: str | None = None) -> Path:
    """(Re)write `folder/README.md`, replacing any card that is there."""
    path = Path(folder) / "README.md"
    write_text(path, str(build_card(folder, repo_id)))
    return path
