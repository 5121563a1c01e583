"""The model shipped in model/pretrained/: it loads, and it scores what its files say."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from model.classes import CLASS_NAMES
from model.tinyvgg import TinyVGG
from model.training.engine import evaluate
from tests.conftest import ARTIFACTS, ROOT

PRETRAINED = ROOT / "model" / "pretrained"


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((PRETRAINED / "metrics.json").read_text())


def test_the_shipped_folder_holds_every_artifact_but_the_checkpoint():
    names = {p.name for p in PRETRAINED.iterdir()}

    assert ARTIFACTS | {"reliability_diagram.png"} <= names
    assert "checkpoint.pt" not in names


def test_the_shipped_model_loads_strictly_with_the_dataset_class_names(metrics):
    model = TinyVGG.from_pretrained(PRETRAINED)

    assert model.class_names == list(CLASS_NAMES)
    assert model.num_parameters == metrics["num_parameters"] <= 100_000


@pytest.mark.slow
def test_the_shipped_model_scores_its_recorded_accuracy_on_the_real_test_set(fashion_mnist, metrics):
    model = TinyVGG.from_pretrained(PRETRAINED)

    scored = evaluate(model, fashion_mnist.test_images, fashion_mnist.test_labels)

    assert metrics["data"]["test_images"] == 10_000
    # Another CPU's kernels round differently and may flip a handful of the 10,000 predictions.
    assert scored.accuracy == pytest.approx(metrics["test_accuracy"], abs=0.002)


def test_the_shipped_card_states_the_recorded_accuracy(metrics):
    card = ModelCard.load(PRETRAINED / "README.md")

    assert card.data.eval_results[0].metric_value == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert f"{metrics['test_accuracy'] * 100:.2f}%" in card.text
