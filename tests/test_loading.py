"""Loading a model folder: every broken file gets a ModelFolderError that names it."""

from __future__ import annotations

import json
import shutil

import pytest

from model.errors import ModelFolderError
from model.loading import load_folder
from tests.conftest import ROOT

PRETRAINED = ROOT / "model" / "pretrained"


@pytest.fixture
def folder(tmp_path):
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(PRETRAINED / name, tmp_path / name)
    return tmp_path


def test_a_complete_folder_loads(folder):
    assert load_folder(folder).num_parameters == 96_554


def test_a_config_value_tinyvgg_refuses_is_a_clear_error(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_units": 0}))

    with pytest.raises(ModelFolderError, match=r"config.json holds values that build no TinyVGG: hidden_units must be"):
        load_folder(folder)


def test_a_missing_weights_file_says_how_to_make_one(folder):
    (folder / "model.safetensors").unlink()

    with pytest.raises(ModelFolderError, match="has no model.safetensors, so there is no model in it.*python train.py"):
        load_folder(folder)
