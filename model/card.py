"""The model card (`README.md`), rendered with huggingface_hub's ModelCard from a template and real numbers."""

from __future__ import annotations

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
    "val_size",
    "seed",
    "limit_train",
    "limit_test",
)


def build_card(folder: str | Path, repo_id: str | None = None) -> ModelCard:
    """Render the card of a trained folder from its metrics.json, training_args.json and config.json.

    Args:
        folder: A folder written by `train.py`.
        repo_id: The Hub repo the card will live in; the usage snippet loads from it.
            Defaults to the folder path, so the snippet runs against the local copy.
    """
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    args = json.loads((folder / "training_args.json").read_text())
    config = json.loads((folder / "config.json").read_text())

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
        ],
    )
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        model_name=name,
        repo_id=repo_id or folder.as_posix(),
        architecture=architecture,
        num_parameters=metrics["num_parameters"],
        test_accuracy=metrics["test_accuracy"],
        test_loss=metrics["test_loss"],
        per_class=metrics["per_class"],
        command=metrics["command"],
        hyperparameters={key: args[key] for key in HYPERPARAMETERS if key in args},
        train_seconds=metrics["train_seconds"],
        train_images_per_second=metrics["train_images_per_second"],
        epochs=len(metrics["history"]),
        device=metrics["environment"]["device"],
        train_count=metrics["data"]["train_images"],
        val_count=metrics["data"]["val_images"],
        test_count=metrics["data"]["test_images"],
        data_source=metrics["data"]["source"],
        data_sha256=metrics["data"]["sha256"],
        versions={k: v for k, v in metrics["environment"].items() if k != "device"},
    )


def write_card(folder: str | Path, repo_id: str | None = None) -> Path:
    """(Re)write `folder/README.md`, replacing any card that is there."""
    path = Path(folder) / "README.md"
    write_text(path, str(build_card(folder, repo_id)))
    return path
