"""Metrics and figures: per-class scores, confusion matrix, loss curves, sample and prediction grids.

`python -m model.training.report` regenerates the README's figures in `images/` from the
shipped model and the dataset.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix, precision_recall_fscore_support  # noqa: E402

from model import artifacts  # noqa: E402
from model.files import atomic_path  # noqa: E402
from model.training.metrics import MetricsError, read_metrics  # noqa: E402


def per_class_scores(labels: torch.Tensor, predictions: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Precision, recall, F1 and support for each class name (scikit-learn)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels.numpy(), predictions.numpy(), labels=range(len(class_names)), zero_division=0
    )
    return {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    }


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion_matrix(
    labels: torch.Tensor, predictions: torch.Tensor, class_names: Sequence[str], path: str | Path
) -> np.ndarray:
    """Save the confusion matrix (rows: true class, columns: predicted) and return its counts."""
    matrix = confusion_matrix(labels.numpy(), predictions.numpy(), labels=range(len(class_names)))
    fig, ax = plt.subplots(figsize=(8, 7))
    ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45, values_format="d"
    )
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix on {matrix.sum():,} test images (accuracy {accuracy:.2%})")
    save_figure(fig, path)
    return matrix


def plot_loss_curves(history: list[dict[str, float]], path: str | Path) -> None:
    """Train and test loss and accuracy per epoch (and validation, when there was one)."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "o-"), ("val", "s--"), ("test", "^-")):
        if f"{split}_loss" not in history[0]:
            continue
        ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], style, label=split)
        ax_acc.plot(epochs, [100 * h[f"{split}_accuracy"] for h in history], style, label=split)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy per image")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    save_figure(fig, path)


def plot_image_grid(
    images: torch.Tensor,
    titles: Sequence[str],
    path: str | Path,
    *,
    colors: Sequence[str] | None = None,
    columns: int = 6,
) -> None:
    """A grid of 28x28 uint8 images with a title under each (colored if `colors` is given)."""
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.1 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].numpy(), cmap="gray", vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=9, color=colors[i] if colors else "black")
    fig.tight_layout()
    save_figure(fig, path)


def sample_indices(count: int, total: int, seed: int) -> torch.Tensor:
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:count]


def main(argv: list[str] | None = None) -> int:
    from model.errors import ModelFolderError
    from model.loading import load_folder
    from model.training.data import DataError, load_fashion_mnist
    from model.training.engine import evaluate

    parser = argparse.ArgumentParser(prog="python -m model.training.report", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="model/pretrained", help="model folder (default: model/pretrained)")
    parser.add_argument("--out", default="images", help="where to write the figures (default: images)")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files (default: as model.training.data)")
    parser.add_argument("--seed", type=int, default=42, help="picks the sample images (default: 42)")
    args = parser.parse_args(argv)

    try:
        model = load_folder(args.model)
        data = load_fashion_mnist(args.data_dir)
        history = read_metrics(args.model)["history"]  # before minutes of plotting, not after
    except (ModelFolderError, DataError, MetricsError, OSError) as err:
        parser.exit(1, f"error: {err}\n")
    out = Path(args.out)
    names = model.class_names

    picked = sample_indices(18, len(data.train_images), args.seed)
    plot_image_grid(data.train_images[picked], [names[i] for i in data.train_labels[picked]], out / "input_samples.png")

    scored = evaluate(model, data.test_images, data.test_labels)
    plot_confusion_matrix(data.test_labels, scored.predictions, names, out / artifacts.CONFUSION_MATRIX)

    picked = sample_indices(18, len(data.test_images), args.seed)
    truth = data.test_labels[picked]
    guess = scored.predictions[picked]
    plot_image_grid(
        data.test_images[picked],
        [f"pred: {names[g]}\ntrue: {names[t]}" for g, t in zip(guess, truth)],
        out / "predictions.png",
        colors=["green" if g == t else "red" for g, t in zip(guess, truth)],
    )

    plot_loss_curves(history, out / artifacts.LOSS_CURVES)
    print(f"test accuracy {scored.accuracy:.2%}; figures written to {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
