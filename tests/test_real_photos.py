"""Phone photos of clothes, as people upload them: cut out of their background and recognised.

The photos in tests/photos are from the clothing dataset by Alexey Grigorev and contributors
(CC0 1.0, see tests/photos/README.md); rug-no-garment.jpg is a crop of a rug with no garment in it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import app
from model.preprocess import ImageError, prepare, preprocess
from model.tinyvgg import TinyVGG
from tests.conftest import ROOT

PHOTOS = ROOT / "tests" / "photos"
FOOTWEAR = {"Sandal", "Sneaker", "Ankle boot"}


@pytest.fixture(scope="module")
def shipped() -> TinyVGG:
    return TinyVGG.from_pretrained(ROOT / "model" / "pretrained")


def top_class(path, model: TinyVGG) -> tuple[str, str]:
    """What the app answers for a photo: its top class and its warning."""
    answer = app.classify(path, model)
    return max(answer.label, key=answer.label.get), answer.warning


def ring(image: np.ndarray, width: int = 2) -> np.ndarray:
    """The outermost `width` pixels of a 28x28 image."""
    inner = np.zeros_like(image, dtype=bool)
    inner[width:-width, width:-width] = True
    return image[~inner]


@pytest.mark.parametrize("name", ["dress-on-rug.jpg", "shirt-on-rug.jpg"])
def test_a_garment_on_a_patterned_rug_is_cut_out_of_it(name):
    seen = prepare(PHOTOS / name).numpy().astype(float)

    # The rug's pattern reaches every edge of the photo; none of it may reach the model.
    assert ring(seen).mean() < 15, "the background around the garment must be black"
    assert seen[8:20, 8:20].mean() > 100, "the garment in the middle must be light"


@pytest.mark.parametrize("name, expected", [("dress-on-rug.jpg", "Dress"), ("jacket-on-hanger.jpg", "Coat")])
def test_garments_on_a_rug_or_a_hanger_get_their_class_without_a_warning(name, expected, shipped):
    predicted, warning = top_class(PHOTOS / name, shipped)

    assert predicted == expected
    assert warning == ""


@pytest.mark.parametrize("name", ["pair-of-shoes.jpg", "pair-of-sandals.jpg"])
def test_a_pair_of_shoes_is_one_item_and_footwear(name, shipped):
    seen = prepare(PHOTOS / name).numpy()
    regions = cv2.connectedComponents((seen > 40).astype(np.uint8))[0] - 1  # less the background

    predicted, _ = top_class(PHOTOS / name, shipped)

    assert regions == 1, "one item reaches the model, not the bed or floor around it"
    assert predicted in FOOTWEAR


def test_a_photo_with_no_garment_gets_a_clear_answer_not_a_crash():
    with pytest.raises(ImageError, match="No garment stands out") as refused:
        preprocess(PHOTOS / "rug-no-garment.jpg")

    assert "one item" in str(refused.value) and "plain background" in str(refused.value)


def test_the_hook_of_a_hanger_is_not_taken_for_part_of_the_garment():
    seen = prepare(PHOTOS / "jacket-on-hanger.jpg").numpy()

    # A hook would stick up from the collar as a line one or two pixels wide; the collar is wider.
    top = np.flatnonzero((seen > 40).any(axis=1))[0]
    assert (seen[top] > 40).sum() >= 4, "the topmost bright row must be the collar, not a hook"


def test_the_photo_path_is_deterministic():
    first = prepare(PHOTOS / "dress-on-rug.jpg")

    assert torch.equal(first, prepare(PHOTOS / "dress-on-rug.jpg"))


@pytest.fixture
def photo_set(tmp_path):
    """A labelled folder laid out like the real-photo set, from the photos in tests/photos."""
    layout = {
        "dress": ["dress-on-rug.jpg"],
        "outwear": ["jacket-on-hanger.jpg"],
        "shoes": ["pair-of-shoes.jpg", "pair-of-sandals.jpg"],
        "shirt": ["shirt-on-rug.jpg"],
        "hat": ["rug-no-garment.jpg"],
    }
    for label, names in layout.items():
        (tmp_path / label).mkdir()
        for name in names:
            shutil.copy(PHOTOS / name, tmp_path / label / name)
    classes = {
        "dress": ["Dress"],
        "outwear": ["Coat"],
        "shoes": ["Sneaker", "Sandal", "Ankle boot"],
        "shirt": ["Shirt"],
    }
    (tmp_path / "labels.json").write_text(json.dumps({"classes": classes, "not_fashion_mnist_classes": ["hat"]}))
    return tmp_path


@pytest.mark.slow
def test_the_real_photo_benchmark_averages_per_label_and_records_in_the_card(photo_set, shipped, tmp_path_factory):
    folder = Path(shutil.copytree(ROOT / "model" / "pretrained", tmp_path_factory.mktemp("model") / "m"))
    figure = tmp_path_factory.mktemp("figure") / "grid.png"
    shirt_right = float(top_class(PHOTOS / "shirt-on-rug.jpg", shipped)[0] == "Shirt")

    result = subprocess.run(
        [sys.executable, "benchmarks/real_photos.py", str(photo_set), "--figure", str(figure), "--record", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    recorded = json.loads((folder / "metrics.json").read_text())["real_photos"]
    # dress, outwear and both shoes are right (the tests above); the mean weighs each label once.
    assert recorded["per_label"] == {"dress": 1.0, "outwear": 1.0, "shoes": 1.0, "shirt": shirt_right}
    assert recorded["mean_accuracy"] == pytest.approx((3 + shirt_right) / 4)
    assert recorded["mapped_photos"] == 5 and recorded["photos"] == 6 and recorded["errors"] == 1
    assert recorded["confusion"]["hat"] == {"(error)": 1}
    assert f"{recorded['mean_accuracy'] * 100:.1f}%" in (folder / "README.md").read_text()
    assert f"mean of the per-label accuracies: {recorded['mean_accuracy']:.1%}" in result.stdout
    assert figure.stat().st_size > 10_000
