"""model/publishing/export.py: the shipped model as ONNX, run by the real ONNX Runtime against PyTorch."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from model.preprocess import to_inputs
from model.publishing.card import write_card
from model.publishing.export import INPUT_NAME, MIN_OPSET, OUTPUT_NAME, check, export, main
from model.tinyvgg import TinyVGG, current_config
from tests.conftest import ROOT

PRETRAINED = ROOT / "model" / "pretrained"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A copy of the shipped weights and config, exported by the CLI: (folder, exit code, what it printed)."""
    folder = tmp_path_factory.mktemp("exported")
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(PRETRAINED / name, folder / name)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([str(folder)])
    return folder, code, printed.getvalue()


@pytest.fixture(scope="module")
def shipped() -> TinyVGG:
    return TinyVGG.from_pretrained(PRETRAINED)


@pytest.mark.slow
def test_the_cli_writes_model_onnx_beside_the_weights_and_nothing_else(exported):
    folder, code, printed = exported

    assert code == 0, printed
    assert "on the 10,000 test images" in printed
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "model.onnx"}


@pytest.mark.slow
def test_the_exported_model_agrees_with_pytorch_on_the_real_test_set(exported, shipped, fashion_mnist):
    agreement = check(exported[0] / "model.onnx", shipped, to_inputs(fashion_mnist.test_images))

    assert agreement.images == 10_000
    assert agreement.same_class >= 0.999
    assert agreement.max_abs_diff <= 1e-4


@pytest.mark.slow
def test_the_same_weights_export_to_the_same_bytes_from_any_folder(exported, tmp_path):
    folder, code, _ = exported
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(PRETRAINED / name, elsewhere / name)

    export(TinyVGG.from_pretrained(elsewhere), elsewhere / "model.onnx")

    written = (folder / "model.onnx").read_bytes()
    assert code == 0 and (elsewhere / "model.onnx").read_bytes() == written
    # No trace of where the exporting code or the weights lie: another checkout gives the same file.
    assert str(ROOT).encode() not in written and b".py" not in written and str(tmp_path).encode() not in written


@pytest.mark.slow
def test_the_shipped_model_onnx_is_what_the_export_gives_today(exported):
    folder, _, _ = exported

    assert (PRETRAINED / "model.onnx").read_bytes() == (folder / "model.onnx").read_bytes()


@pytest.mark.slow
def test_the_batch_dimension_is_dynamic(exported, shipped, fashion_mnist):
    session = onnxruntime.InferenceSession(str(exported[0] / "model.onnx"), providers=["CPUExecutionProvider"])

    for size in (1, 7):
        pixels = to_inputs(fashion_mnist.test_images[:size])
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: pixels.numpy()})
        with torch.inference_mode():
            expected = shipped(pixels).numpy()
        assert logits.shape == (size, 10)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_the_metadata_carries_the_models_class_names(exported, shipped):
    session = onnxruntime.InferenceSession(str(exported[0] / "model.onnx"), providers=["CPUExecutionProvider"])

    metadata = session.get_modelmeta().custom_metadata_map

    assert json.loads(metadata["class_names"]) == shipped.class_names
    exported = current_config(json.loads(metadata["config"]), "model.onnx")
    assert exported["calibration"]["temperature"] == shipped.calibration.temperature


@pytest.mark.slow
def test_the_opset_is_18_or_later(exported):
    model = onnx.load(exported[0] / "model.onnx")

    (default_domain,) = [entry for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    assert default_domain.version >= MIN_OPSET >= 18
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.slow
def test_the_check_catches_an_onnx_file_of_another_model(tmp_path, shipped, fashion_mnist):
    # A fresh, untrained TinyVGG exported and compared with the shipped one: the check must see it.
    torch.manual_seed(0)
    other = export(TinyVGG(), tmp_path / "other.onnx")

    agreement = check(other, shipped, to_inputs(fashion_mnist.test_images[:500]))

    assert agreement.same_class < 0.5
    assert agreement.max_abs_diff > 1


def test_the_cli_refuses_a_folder_without_weights(tmp_path, capsys):
    shutil.copy2(PRETRAINED / "config.json", tmp_path / "config.json")

    code = main([str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert f"{tmp_path} has no model.safetensors, so there is no model in it" in err
    assert "python train.py" in err
    assert "Traceback" not in err
    assert not (tmp_path / "model.onnx").exists()


def test_the_cli_refuses_a_missing_folder(tmp_path, capsys):
    code = main([str(tmp_path / "nowhere")])

    assert code == 1
    assert f"{tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err


def test_the_cli_names_a_config_that_is_not_json(tmp_path, capsys):
    shutil.copy2(PRETRAINED / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text("{not json")

    code = main([str(tmp_path)])

    assert code == 1
    assert f"{tmp_path / 'config.json'} is not valid JSON" in capsys.readouterr().err


def test_the_cli_refuses_an_opset_older_than_18(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(PRETRAINED), "--opset", "17"])

    assert exit_.value.code == 2
    assert "--opset must be between 18 and" in capsys.readouterr().err


@pytest.mark.slow
def test_the_card_of_an_exported_folder_shows_onnx_runtime_code_that_runs(tmp_path, capsys):
    folder = Path(shutil.copytree(PRETRAINED, tmp_path / "model", ignore=shutil.ignore_patterns("model.onnx", "*.pt")))
    before = write_card(folder, TinyVGG.from_pretrained(folder)).read_text()  # the card of a folder without ONNX

    assert main([str(folder)]) == 0

    card = (folder / "README.md").read_text()
    assert "onnxruntime" not in before and "onnxruntime" in card
    snippet = next(code for code in re.findall(r"```python\n(.*?)```", card, flags=re.S) if "onnxruntime" in code)
    result = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in TinyVGG.from_pretrained(folder).class_names
