"""The model card: rendered from real numbers, never stale, with a snippet that runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard

from model.predict import classify
from model.publishing.card import build_card, read_run, render_card
from model.tinyvgg import TinyVGG
from tests.conftest import ROOT

PLACEHOLDER = "[More Information Needed]"


@pytest.fixture(scope="module")
def trained(notebook_run):
    return notebook_run


def test_save_pretrained_replaces_a_stale_card(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\nstale card from an older run\n")

    TinyVGG().save_pretrained(tmp_path)

    text = (tmp_path / "README.md").read_text()
    assert "stale card" not in text
    assert ModelCard.load(tmp_path / "README.md").data.license == "mit"


def test_a_card_saved_without_metrics_claims_no_accuracy_and_has_no_placeholders(tmp_path):
    TinyVGG(hidden_units=[16, 32]).save_pretrained(tmp_path)

    card = ModelCard.load(tmp_path / "README.md")

    assert card.data.eval_results is None
    assert PLACEHOLDER not in card.text
    assert "saved without an evaluation" in card.text
    assert f"{TinyVGG(hidden_units=[16, 32]).num_parameters:,} parameters" in card.text


@pytest.mark.slow
def test_the_card_is_rendered_from_the_values_it_is_given_not_from_files(trained, tmp_path):
    folder = shutil.copytree(trained, tmp_path / "run")
    run, model = read_run(folder), TinyVGG.from_pretrained(folder)
    shutil.rmtree(folder)  # nothing left on disk to read

    card = build_card(model, **run)
    run["metrics"]["test_accuracy"] = 0.1234
    changed = build_card(model, **run)

    assert f"{json.loads((trained / 'metrics.json').read_text())['test_accuracy'] * 100:.2f}%" in card.text
    assert "12.34%" in changed.text and "12.34%" not in card.text
    assert f"{model.num_parameters:,} parameters" in card.text


@pytest.mark.slow
def test_figures_appear_in_the_card_only_where_they_travel_with_it(trained):
    run = read_run(trained)
    model = TinyVGG.from_pretrained(trained)

    with_figures = build_card(model, **run)
    without = build_card(model, **{**run, "files": {}})

    assert {n for n in run["files"] if n.endswith(".png")} == {"confusion_matrix.png", "loss_curves.png"}  # no val
    assert "![Confusion matrix](confusion_matrix.png)" in with_figures.text
    assert ".png" not in without.text


@pytest.mark.slow
def test_the_model_module_does_not_import_the_card_the_training_or_the_dataset_code():
    code = "import sys, model.tinyvgg; print(sorted(m for m in sys.modules if m.startswith(('model.', 'torchvision'))))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    # The package's __init__ brings the prediction path; nothing of the card, training, data or Hub push.
    assert eval(result.stdout) == [
        "model.artifacts",
        "model.calibration",
        "model.classes",
        "model.errors",
        "model.files",
        "model.hub_errors",
        "model.predict",
        "model.preprocess",
        "model.tinyvgg",
    ]


@pytest.mark.slow
def test_the_trained_card_has_every_section_with_the_runs_numbers(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    card = ModelCard.load(trained / "README.md")

    for heading in (
        "## How to use",
        "## Results",
        "## Training details",
        "## Data",
        "## Framework versions",
        "## Limitations",
        "## Citation",
    ):
        assert heading in card.text
    assert PLACEHOLDER not in card.text
    assert f"{metrics['test_accuracy'] * 100:.2f}%" in card.text
    for name, scores in metrics["per_class"].items():
        assert f"| {name} | {scores['precision']:.3f} | {scores['recall']:.3f} |" in card.text
    for digest in metrics["data"]["sha256"].values():
        assert digest in card.text
    assert "![Confusion matrix](confusion_matrix.png)" in card.text
    assert "![Loss and accuracy curves](loss_curves.png)" in card.text
    assert "| lr | `0.1` |" in card.text and "| batch_size | `32` |" in card.text
    assert "1708.07747" in card.text


@pytest.mark.slow
def test_every_section_a_card_points_to_is_in_that_card(trained):
    for card in (ModelCard.load(trained / "README.md").text, (ROOT / "model/pretrained/README.md").read_text()):
        for section in re.findall(r'see "([^"]+)" above', card):
            assert f"### {section}\n" in card or f"## {section}\n" in card, section


@pytest.mark.slow
def test_the_usage_snippet_runs_as_written(trained, tmp_path):
    folder = tmp_path / "my-model"
    shutil.copytree(trained, folder)
    card = render_card(folder, TinyVGG.from_pretrained(folder))
    (snippet,) = re.findall(r"```python\n(.*?)```", card.text, flags=re.S)
    shutil.copy(ROOT / "tests" / "photos" / "dress-on-rug.jpg", tmp_path / "photo.jpg")  # the snippet's photo

    result = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    answer_line, warning_line, names_line = result.stdout.strip().splitlines()[-3:]
    # The answer ("unsure" or a class) and the photo's three most likely classes, then the warning.
    name, _, classes = answer_line.partition(" [")
    expected = classify(tmp_path / "photo.jpg", TinyVGG.from_pretrained(folder))
    assert eval("[" + classes) == expected.top_classes() and name == expected.answer
    assert warning_line == expected.warning
    predicted = eval(names_line)  # then a class name for each of the four random images
    assert len(predicted) == 4 and set(predicted) <= set(TinyVGG.from_pretrained(folder).class_names)
