"""Loading a model: every broken file gets a ModelFolderError that names it, and a name that is neither a folder nor
a repo the Hub has is refused in our words, at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks.app_server import free_port
from model import TinyVGG
from model.errors import HubError, ModelFolderError
from model.loading import load, load_folder
from model.publishing.hub import push
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


@pytest.mark.slow
@pytest.mark.parametrize("loader", [TinyVGG.from_pretrained, load], ids=["from_pretrained", "load"])
def test_a_name_that_is_no_folder_and_no_repo_on_the_hub_is_refused_in_our_words_after_one_request(loader, hub_server):
    with pytest.raises(HubError) as refused:
        loader("runs/nosuch")

    assert str(refused.value).startswith(
        "There is no folder runs/nosuch here. As a Hub repo: Repository runs/nosuch not found"
    )
    assert len([path for _, path in hub_server.requests if "runs/nosuch" in path]) == 1, "no retries"


@pytest.mark.parametrize("name", ["nosuch", "runs/no/such", "runs/no such"])
def test_a_name_that_is_no_folder_and_no_repo_id_is_refused_without_asking_the_hub(name):
    with pytest.raises(ModelFolderError, match=f"There is no folder {name} here, and it is no Hub repo id"):
        TinyVGG.from_pretrained(name)


# Nothing listens there: a connection is refused at once, as on a machine with no network.
NO_HUB = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "from model import TinyVGG; TinyVGG.from_pretrained('runs/nosuch')"],
        [sys.executable, "app.py", "--model", "runs/nosuch", "--port", str(free_port())],
    ],
    ids=["from_pretrained", "app"],
)
def test_with_no_hub_to_reach_a_name_that_is_no_folder_is_refused_without_the_clients_retries(command):
    result = subprocess.run(command, cwd=ROOT, env=NO_HUB, capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert f"There is no folder runs/nosuch here, and the Hub at {NO_HUB['HF_ENDPOINT']} cannot be reached" in (
        result.stderr
    )
    assert "Retrying" not in result.stderr, "the client's retries (about 25 s) are not waited for"
    assert "check your connection" not in result.stderr


@pytest.mark.slow
def test_a_repo_in_the_cache_still_loads_when_the_hub_cannot_be_reached(hub_server, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    push(PRETRAINED, "alice/cached", wheel=False)
    TinyVGG.from_pretrained("alice/cached")  # downloaded into the cache of this test session (HF_HOME)
    code = "from model import TinyVGG; print(TinyVGG.from_pretrained('alice/cached').num_parameters)"

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=NO_HUB, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == load_folder(PRETRAINED).num_parameters
