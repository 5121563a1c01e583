"""The model card (`README.md`): a pure function of the model's config, its size and its run's metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData, hf_hub_url

from model import artifacts
from model.files import write_text
from model.tinyvgg import TinyVGG
from model.training import run_folder
from model.training.config import RECIPE_FIELDS
from model.training.metrics import Candidate, Metrics, read_metrics, write_metrics

TEMPLATE = Path(__file__).with_name("card_template.md")
# The training options the card lists: the preset and every field that shapes the result.
HYPERPARAMETERS = ("preset", *RECIPE_FIELDS)
DATASET = "zalando-datasets/fashion_mnist"
# The distribution name, for the install line of a repo that carries the package's wheel.
DISTRIBUTION = "tinyvgg-fashion-mnist"


def build_card(
    model: TinyVGG,
    *,
    metrics: Metrics | None = None,
    training_args: dict | None = None,
    files: dict[str, Path] | None = None,
    wheel: str | None = None,
    revision: str | None = None,
    repo_id: str | None = None,
    folder: str | None = None,
) -> ModelCard:
    """Render the card of `model` from what is known of its run (`read_run`); reads no file but the template.

    Args:
        metrics: The run's `metrics.json`, when the model was trained by train.py.
        training_args: The run's `training_args.json`.
        files: Path in the repo -> file, for the run's files that travel with the card
            (`model.training.run_folder.run_files`): the card shows the figures and the ONNX use among them.
        wheel: The file name of the package's wheel that the repo carries under code/, if it does.
        revision: The branch the repo is pushed to (default: main), for the wheel's URL.
        repo_id: The Hub repo the card will live in: its name and where the snippets load from.
        folder: Else, the local folder the snippets load from.
    """
    name = repo_id.split("/")[-1] if repo_id else "TinyVGG on Fashion-MNIST"
    files = files or {}
    declared = TinyVGG._hub_mixin_info
    values = dict(
        metrics=metrics,
        model_name=name,
        location=repo_id or folder or "path/to/folder",
        on_hub=repo_id is not None,
        architecture=architecture(model),
        num_parameters=model.num_parameters,
        figures={name for name in artifacts.FIGURES if name in files},
        onnx=artifacts.ONNX in files,
        paper=declared.paper_url,
        config=model.config,
        distribution=DISTRIBUTION,
        wheel_url=hf_hub_url(repo_id, f"{artifacts.CODE}/{wheel}", revision=revision) if repo_id and wheel else None,
    )
    if metrics:
        values |= run_values(metrics, training_args or {})
    return ModelCard.from_template(card_data(name, metrics), template_path=str(TEMPLATE), **values)


def architecture(model: TinyVGG) -> str:
    """The layers in a few words."""
    config = model.config
    return (
        f"2 conv blocks of {model.widths[0]} and {model.widths[1]} channels"
        + (", batch norm" if config["batch_norm"] else "")
        + (f", dropout {config['dropout']}" if config["dropout"] else "")
    )


def card_data(name: str, metrics: Metrics | None) -> ModelCardData:
    """The card's metadata: what TinyVGG declares to the mixin (license, tags, library), the dataset and the
    measured accuracy."""
    result = None
    if metrics:
        result = EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=DATASET,
            dataset_name="Fashion-MNIST",
            dataset_split="test",
            metric_type="accuracy",
            metric_name="Test accuracy",
            metric_value=round(metrics["test_accuracy"], 4),
        )
    declared = TinyVGG._hub_mixin_info.model_card_data
    return ModelCardData(
        **declared.to_dict(),
        model_name=name,
        datasets=[DATASET],
        metrics=["accuracy"],
        eval_results=[result] if result else None,
    )


def run_values(metrics: Metrics, args: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of a trained run, from its metrics.json and training_args.json."""
    environment, data = metrics["environment"], metrics["data"]
    candidates = metrics.get("candidates")
    return dict(
        test_accuracy=metrics["test_accuracy"],
        test_loss=metrics["test_loss"],
        per_class=metrics["per_class"],
        calibration=metrics.get("calibration"),
        photo_calibration=metrics.get("photo_calibration"),
        ood=metrics.get("ood"),
        real_photos=metrics.get("real_photos"),
        product_photos=metrics.get("product_photos"),
        candidates=candidates,
        recipes=metrics.get("recipes"),
        leans=[leans(run, candidates["this"]) for run in candidates["runs"]] if candidates else [],
        command=metrics["command"],
        hyperparameters={key: args[key] for key in HYPERPARAMETERS if key in args},
        train_seconds=metrics["train_seconds"],
        train_images_per_second=metrics["train_images_per_second"],
        epochs=len(metrics["history"]),
        device=environment["device"] + (f" ({cpu})" if (cpu := environment.get("cpu")) else ""),
        # What --precision resolved to; older runs did not record it.
        precision_used=environment.get("precision"),
        train_count=data["train_images"],
        val_count=data["val_images"],
        test_count=data["test_images"],
        data_source=data["source"],
        data_sha256=data["sha256"],
        versions={k: v for k, v in environment.items() if k not in ("device", "precision", "cpu")},
    )


# The axes a candidate is weighed on (`benchmarks/candidates.py`): their names in the card, and the
# decimals of a difference in points (as the card's figures have them). A difference that rounds to
# zero is no lean either way.
AXES = {
    "product_photos": ("product photos", 1),
    "phone_photos_large": ("the large phone set", 1),
    "phone_photos": ("the 290 phone photos", 1),
    "test_accuracy": ("Fashion-MNIST", 2),
}


def leans(run: Candidate, this: Candidate) -> str:
    """Which way `run` leans against `this` model: the axes it is ahead and behind on, in points."""
    ahead, behind = [], []
    for key, (name, digits) in AXES.items():
        points = round(100 * (run[key] - this[key]), digits)
        if points:
            (ahead if points > 0 else behind).append(f"{name} ({points:+.{digits}f})")
    parts = [f"ahead on {', '.join(ahead)}" if ahead else "", f"behind on {', '.join(behind)}" if behind else ""]
    return "; ".join(part for part in parts if part) or "level on every axis"


def read_run(folder: str | Path) -> dict[str, Any]:
    """What a folder written by train.py tells its card: metrics, training options and the files that travel with it.

    `build_card` renders the card from it; `card_kwargs` gives what `save_pretrained` and
    `push_to_hub` need to publish the run as `python -m model.publishing.hub push` does.
    """
    folder = Path(folder)
    training_args = folder / artifacts.TRAINING_ARGS
    return dict(
        metrics=read_metrics(folder) if (folder / artifacts.METRICS).is_file() else None,
        training_args=json.loads(training_args.read_text()) if training_args.is_file() else None,
        files=run_folder.run_files(folder),
    )


def render_card(
    folder: str | Path, model: TinyVGG, repo_id: str | None = None, *, location: str | Path | None = None
) -> ModelCard:
    """The card of `model` with the run recorded in `folder`, for the Hub repo `repo_id` or the folder `location`.

    `location` is where the card's snippets load from when it is not `folder` itself (train.py
    writes the card in a scratch folder, then moves it).
    """
    return build_card(model, **read_run(folder), repo_id=repo_id, folder=Path(location or folder).as_posix())


def card_kwargs(folder: str | Path, model: TinyVGG, repo_id: str | None = None) -> dict[str, Any]:
    """`model_card_kwargs` that make `model.save_pretrained` or `model.push_to_hub(repo_id)` publish the run in
    `folder`: its card and its files (metrics, figures, ONNX weights, TensorBoard logs)."""
    return {"card": render_card(folder, model, repo_id), "files": run_folder.run_files(folder)}


def write_card(folder: str | Path, model: TinyVGG, repo_id: str | None = None) -> Path:
    """(Re)write `folder/README.md` with `render_card`."""
    path = Path(folder) / artifacts.CARD
    write_text(path, str(render_card(folder, model, repo_id)))
    return path


def record_figures(folder: str | Path, model: TinyVGG, key: str, figures: dict[str, Any]) -> Path:
    """Store a benchmark's `figures` in `folder`'s metrics.json under `key` (checked against its schema), and
    rewrite the card that reports them; `benchmarks/real_photos.py`, `product_photos.py` and `candidates.py`
    --record do this."""
    metrics = read_metrics(folder)
    metrics[key] = figures
    write_metrics(folder, metrics)
    return write_card(folder, model)
