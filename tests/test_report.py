"""Per-class scores and figures."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from model.training.report import per_class_scores, plot_confusion_matrix, plot_image_grid, plot_loss_curves

NAMES = ("a", "b", "c")


def test_the_confusion_matrix_counts_true_rows_against_predicted_columns(tmp_path):
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 0, 2])

    matrix = plot_confusion_matrix(labels, predictions, NAMES, tmp_path / "cm.png")

    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert matrix.sum() == len(labels)
    assert Image.open(tmp_path / "cm.png").size[0] > 300


def test_per_class_scores_use_class_names_and_count_every_image():
    labels = torch.tensor([0, 0, 1, 1])
    predictions = torch.tensor([0, 1, 1, 1])

    scores = per_class_scores(labels, predictions, NAMES)

    assert scores["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert scores["b"]["precision"] == pytest.approx(2 / 3)
    assert scores["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_loss_curves_and_image_grids_are_written_as_png(tmp_path):
    history = [
        {"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5, "test_loss": 1 / e, "test_accuracy": 0.6}
        for e in (1, 2, 3)
    ]
    plot_loss_curves(history, tmp_path / "curves.png")
    plot_image_grid(torch.zeros(4, 28, 28, dtype=torch.uint8), ["x"] * 4, tmp_path / "grid.png", columns=2)

    for name in ("curves.png", "grid.png"):
        assert Image.open(tmp_path / name).format == "PNG"
