"""benchmarks/recipes.py: operations counted by PyTorch, and each run measured as `make pretrained` ships it."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from huggingface_hub import ModelCard
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import candidates, recipes
from model.publishing.recalibrate import calibrate_photos_folder
from model.training.config import TrainConfig
from model.training.engine import build_model
from tests.conftest import ROOT
from tests.test_candidates import PHONE, PHOTOS
from tests.test_product_photos import write_product_folder


def test_a_training_step_counts_the_forward_pass_and_the_backward_pass_that_doubles_it():
    config = TrainConfig(hidden_units=[32, 64], batch_size=16).resolve()
    model = build_model(config, [str(i) for i in range(10)]).train()
    with FlopCounterMode(display=False) as forward:
        model(torch.rand(16, 1, 28, 28))

    step = recipes.operations_per_image(["--hidden-units", "32,64", "--batch-size", "16"])

    assert step == pytest.approx(3 * forward.get_total_flops() / 16, rel=0.02)
    assert recipes.operations_per_image(["--hidden-units", "16,64"]) < 0.7 * step, "the 28x28 convolutions are most"


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    """A folder laid out like ../shared, with a label of no Fashion-MNIST class beside the garments."""
    root = tmp_path_factory.mktemp("shared")
    for name in (recipes.LARGE, recipes.SMALL):
        for label, (files, _) in {**PHONE, "hat": (["rug-no-garment.jpg"], None)}.items():
            (root / name / label).mkdir(parents=True)
            for file in files:
                shutil.copy(PHOTOS / file, root / name / label / file)
        classes = {label: right for label, (_, right) in PHONE.items()}
        (root / name / "labels.json").write_text(json.dumps({"classes": classes, "not_fashion_mnist_classes": ["hat"]}))
    write_product_folder(root / recipes.PRODUCT)
    return root


@pytest.mark.slow
def test_a_run_is_measured_as_make_pretrained_would_ship_it(photo_root, tmp_path):
    run = shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "run")
    shipped = shutil.copytree(run, tmp_path / "shipped")
    calibrate_photos_folder(shipped, [photo_root / recipes.LARGE])  # make pretrained's photo calibration
    expected = candidates.figures(str(shipped), candidates.prepared_sets(photo_root))

    found = recipes.measure(run, recipes.prepared_photos(photo_root, tmp_path / "prepared.pt"))

    assert found["product"] == pytest.approx(expected["product_mean"])
    assert (found["large"], found["small"]) == pytest.approx((expected["large_mean"], expected["small_mean"]))
    assert (found["large_top3"], found["small_top3"]) == pytest.approx((expected["large_top3"], expected["small_top3"]))
    assert found["test_accuracy"] == json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert 0 <= found["warned"] <= 1 and 0 <= found["others_sure"] <= 1 and 0 <= found["upscaled_changed"] <= 1
    assert (tmp_path / "prepared.pt").is_file(), "the photos are prepared once, for every later run"


@pytest.mark.slow
def test_recorded_recipes_appear_in_the_model_card_with_their_mean_and_spread(photo_root, tmp_path):
    run = shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "run")
    found = recipes.measure(run, recipes.prepared_photos(photo_root, tmp_path / "prepared.pt"))
    lower = {**found, "test_accuracy": found["test_accuracy"] - 0.01}
    results = {
        recipes.BASELINE: {"seeds": [42, 43], "tflop": 180.6, "runs": [found, lower]},
        "10 epochs": {"seeds": [42], "tflop": 60.2, "runs": [lower]},
    }

    recipes.record(run, recipes.BASELINE, results, "python benchmarks/recipes.py --record run BASELINE")

    card = ModelCard.load(run / "README.md").text
    mean = (2 * found["test_accuracy"] - 0.01) / 2
    assert "### Recipes" in card and f"| **{recipes.BASELINE}** | 42, 43 | 180.6 |" in card
    assert f"{100 * mean:.2f}% ({100 * lower['test_accuracy']:.2f}-{100 * found['test_accuracy']:.2f})" in card
    recorded = json.loads((run / "metrics.json").read_text())["recipes"]
    assert recorded["this"] == recipes.BASELINE
    assert [r["name"] for r in recorded["recipes"]] == [recipes.BASELINE, "10 epochs"]
    assert "- 10 epochs (33% of the operations): Fashion-MNIST -0.50," in card, "what the step down costs"


@pytest.mark.slow
def test_a_run_is_measured_once_and_again_when_it_changes(photo_root, tmp_path):
    run = shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "run")
    prepared = tmp_path / "prepared.pt"
    sets = recipes.prepared_photos(photo_root, prepared)
    first = recipes.measured(run, sets, prepared)
    kept = run / recipes.FIGURES
    assert json.loads(kept.read_text()) == pytest.approx(first, nan_ok=True)

    kept.write_text(json.dumps({**first, "product": -1.0}))  # what an earlier measurement left
    later = kept.stat().st_mtime + 10
    os.utime(kept, (later, later))  # whatever the file system's clock resolution
    assert recipes.measured(run, sets, prepared)["product"] == -1.0, "a run measured before is not measured again"

    metrics = run / "metrics.json"
    metrics.write_text(metrics.read_text())  # the run trained again
    os.utime(metrics, (later + 10, later + 10))
    again = recipes.measured(run, sets, prepared)
    assert again["product"] == pytest.approx(first["product"]) and json.loads(kept.read_text())["product"] != -1.0
