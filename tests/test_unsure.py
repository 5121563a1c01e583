"""What an answer says when no class is likely, and what the warning says, in Python, the app and the MCP tool.

The shipped weights answer every test photo; a copy with another temperature (the same weights,
flatter or sharper probabilities) decides whether the same photo is answered with a class or "unsure".
"""

from __future__ import annotations

import json

import pytest
from gradio_client import Client, handle_file

import app
from benchmarks.app_server import start_app, stop
from model.loading import load
from model.predict import UNLIKE_TRAINING, UNSURE, UNSURE_BELOW, UNSURE_HEADLINE, classify
from model.training.calibrate import ood_sets, recalibrated
from tests.conftest import ROOT

PHOTO = ROOT / "examples" / "phone-dress.jpg"


@pytest.fixture(scope="module")
def shipped():
    return load(ROOT / "model" / "pretrained")


def flat(model):
    """The same weights with a temperature so high that no class reaches UNSURE_BELOW on any image."""
    return recalibrated(model, temperature=1000.0, photo_temperature=1000.0)


def test_an_answer_with_no_likely_class_is_unsure_and_names_the_three_closest(shipped):
    answer = classify(PHOTO, flat(shipped))
    closest = [c["label"] for c in answer.top_classes()]

    assert max(answer.probabilities.values()) < UNSURE_BELOW
    assert answer.unsure and answer.answer == UNSURE
    assert answer.notes().startswith(f"The model is unsure: no class reaches {round(100 * UNSURE_BELOW)}%.")
    assert f"It may be {closest[0]}, {closest[1]} or {closest[2]}, or none of the 10 classes." in answer.notes()


def test_an_answer_with_a_likely_class_names_it_and_adds_no_note(shipped):
    answer = classify(ROOT / "examples" / "shop-trouser.jpg", shipped)

    assert answer.probabilities["Trouser"] >= UNSURE_BELOW
    assert not answer.unsure and answer.answer == "Trouser"
    assert answer.notes() == ""


def test_the_warning_says_the_image_is_unlike_the_training_images_not_that_it_shows_no_garment(shipped, tmp_path):
    from PIL import Image

    noise = tmp_path / "noise.png"
    Image.fromarray(ood_sets()["noise"][0].numpy(), mode="L").save(noise)

    answer = classify(noise, shipped)

    assert answer.warning == UNLIKE_TRAINING and "unlike the images the model learned from" in answer.warning
    assert "clothing item" not in answer.warning and "meaningless" not in answer.warning
    assert answer.notes().endswith(UNLIKE_TRAINING)


def test_the_mcp_tools_json_says_unsure_instead_of_a_class(shipped):
    unsure = json.loads(app.classify_clothing(PHOTO, flat(shipped)))
    sure = json.loads(app.classify_clothing(ROOT / "examples" / "shop-trouser.jpg", shipped))

    assert unsure["answer"] == UNSURE and len(unsure["top_classes"]) == 3
    assert sure["answer"] == "Trouser" == sure["top_classes"][0]["label"]


@pytest.mark.slow
def test_the_app_shows_unsure_as_its_headline_with_the_closest_classes_and_the_note(shipped, tmp_path):
    folder = tmp_path / "flat"
    flat(shipped).save_pretrained(folder)
    expected = classify(PHOTO, flat(shipped))
    proc, url = start_app("--model", str(folder))
    try:
        label, notes, _ = Client(url, verbose=False).predict(handle_file(PHOTO), api_name="/predict")
    finally:
        stop(proc)

    assert label["label"] == UNSURE_HEADLINE
    assert [c["label"] for c in label["confidences"]] == [c["label"] for c in expected.top_classes()]
    assert notes == expected.notes() and notes.startswith("The model is unsure")
