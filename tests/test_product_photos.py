"""benchmarks/product_photos.py: per-class accuracy on shop photos, through the app's own classify."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.product_photos import measure, read_labels, restored
from model import classify
from model.loading import load
from tests.conftest import ROOT

# A made-up set: the shop-style examples and two photos of the app's examples, under the set's layout.
ROWS = [
    ("images/Sports_Shoes/1.jpg", "shop-sneaker.jpg", "Sneaker"),
    ("images/Handbags/2.jpg", "shop-bag.jpg", "Bag"),
    ("images/Sandals/3.jpg", "phone-sandals.jpg", "Sandal"),
    ("images/Sandals/4.jpg", "shop-ankle-boot.jpg", "Sandal"),  # a boot filed as a sandal: a wrong answer
    ("images/Boots/5.jpg", "shop-ankle-boot.jpg", "Ankle boot"),  # one photo: not a reported class
]


def write_product_folder(folder: Path, rows: list[tuple[str, str, str]] = ROWS) -> Path:
    """`folder` laid out as the product-photo set, with `rows` (file, example, class) in its labels.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "fmnist_class", "articleType", "productDisplayName"])
        for file, example, label in rows:
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / "examples" / example, folder / file)
            writer.writerow([file, label, file.split("/")[1], "A product, its name with a comma"])
    return folder


@pytest.fixture
def product_folder(tmp_path):
    return write_product_folder(tmp_path)


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    """`python benchmarks/product_photos.py ARGS` from the checkout, as the docs run it."""
    return subprocess.run(
        [sys.executable, "benchmarks/product_photos.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_only_the_reported_classes_are_read(product_folder):
    photos = read_labels(product_folder)

    assert [label for _, label in photos] == ["Sneaker", "Bag", "Sandal", "Sandal"]


def test_accuracy_is_per_class_and_averaged_over_classes_from_classify_answers(product_folder):
    model = load(ROOT / "model" / "pretrained")
    photos = read_labels(product_folder)
    shown = [max(a.probabilities, key=a.probabilities.get) for a in (classify(restored(p), model) for p, _ in photos)]

    figures = measure(photos, model)

    by_class = {}
    for (_, label), answer in zip(photos, shown):
        by_class.setdefault(label, []).append(answer == label)
    for label, right in by_class.items():
        assert figures["per_class"][label]["accuracy"] == pytest.approx(sum(right) / len(right))
        assert sum(figures["per_class"][label]["answers"].values()) == len(right)
    assert figures["mean_accuracy"] == pytest.approx(sum(sum(r) / len(r) for r in by_class.values()) / 3)
    assert figures["photos"] == 4


def test_a_photo_is_restored_to_the_catalogue_shape_first(product_folder):
    assert restored(product_folder / ROWS[0][0]).size == (168, 224)


@pytest.mark.slow
def test_record_stores_the_figures_in_metrics_json_and_the_card_and_results_show_them(product_folder, tmp_path):
    from model.publishing.results import FIGURES, summary
    from model.training.metrics import read_metrics

    folder = Path(shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "model"))
    expected = measure(read_labels(product_folder), load(folder))

    result = run_benchmark(str(product_folder), "--record", str(folder))

    assert result.returncode == 0, result.stderr
    metrics = read_metrics(folder)
    recorded = metrics["product_photos"]
    assert {k: recorded[k] for k in expected} == expected
    assert recorded["command"] == f"python benchmarks/product_photos.py {product_folder} --record {folder}"
    card = (folder / "README.md").read_text()
    assert "### Product photos" in card and f"**{expected['mean_accuracy'] * 100:.1f}%**" in card
    assert FIGURES["product_photos_mean"](metrics) == f"{expected['mean_accuracy']:.1%}"
    assert f"**{expected['mean_accuracy']:.1%}**, the mean of the per-class accuracies on 4 shop" in summary(metrics)


def test_record_into_a_folder_without_metrics_says_so(product_folder, tmp_path):
    result = run_benchmark(str(product_folder), "--record", str(tmp_path))

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"cannot record in {tmp_path}" in result.stderr
