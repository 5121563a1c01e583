"""A newcomer's ordinary mistakes at the command line end in one clear message and exit status 1, no traceback."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

import app
from model.publishing import hub, recalibrate, results, space
from model.training import report
from tests.conftest import ROOT

PRETRAINED = ROOT / "model" / "pretrained"


def error_of(main, argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """What `main(argv)` printed to stderr; it must return 1 (an exception escaping fails the test)."""
    assert main(argv) == 1
    return capsys.readouterr().err


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A copy of the shipped run folder, to spoil."""
    return Path(shutil.copytree(PRETRAINED, tmp_path / "run"))


def test_push_to_a_repo_id_with_a_space_names_the_rule(capsys):
    err = error_of(hub.main, ["push", str(PRETRAINED), "bad repo"], capsys)

    assert "'bad repo' is not a valid repo id: use the form user/name" in err


def test_recalibrating_a_run_without_held_out_images_says_how_to_train_one(run_copy, capsys):
    args = json.loads((run_copy / "training_args.json").read_text())
    (run_copy / "training_args.json").write_text(json.dumps(args | {"val_size": 0}))

    err = error_of(recalibrate.main, [str(run_copy)], capsys)

    assert "trained without held-out images (--val-size 0)" in err and "--val-size 5000" in err


def test_recalibrating_a_missing_folder_names_it(tmp_path, capsys):
    err = error_of(recalibrate.main, [str(tmp_path / "nothing")], capsys)

    assert f"{tmp_path / 'nothing'} is not a folder" in err and "python train.py" in err


def test_recalibrating_a_folder_without_training_args_says_why_it_is_needed(run_copy, capsys):
    (run_copy / "training_args.json").unlink()

    err = error_of(recalibrate.main, [str(run_copy)], capsys)

    assert "has no training_args.json" in err


def test_checking_the_pages_against_a_run_without_the_photo_figures_says_how_to_add_them(run_copy, capsys):
    metrics = json.loads((run_copy / "metrics.json").read_text())
    del metrics["photo_calibration"]
    (run_copy / "metrics.json").write_text(json.dumps(metrics))

    err = error_of(results.main, ["--check", "--model", str(run_copy)], capsys)

    assert "has no 'photo_calibration'" in err and "model.publishing.recalibrate" in err


def test_the_app_on_a_port_in_use_says_how_to_choose_another(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        err = error_of(app.main, ["--port", str(port)], capsys)

    assert f"port {port} on 127.0.0.1 is in use" in err and f"--port {port + 1}" in err


@pytest.mark.parametrize("main", [app.main, lambda argv: hub.main(["pull", *argv])], ids=["app", "pull"])
def test_a_missing_local_folder_is_named_as_a_folder_not_only_as_a_repo(main, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no Hub here; the message must still name the folder
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()

    err = error_of(main, ["--model", "runs/nothing"] if main is app.main else ["runs/nothing"], capsys)

    assert "There is no folder runs/nothing here" in err


def test_a_space_for_a_local_folder_says_to_push_it_first(run_copy, tmp_path, capsys):
    err = error_of(space.main, ["build", str(tmp_path / "space"), "--model", str(run_copy)], capsys)

    assert "is a local folder, but a Space downloads its model from the Hub" in err
    assert not (tmp_path / "space").exists()


@pytest.mark.slow
def test_push_without_any_token_says_that_none_was_found(hub_server, capsys):
    err = error_of(hub.main, ["push", str(PRETRAINED), "alice/tinyvgg", "--no-wheel"], capsys)

    assert "No Hugging Face token found" in err and "write access" in err and "refused the token" not in err
    assert "Nothing in" in err


@pytest.mark.slow
def test_pulling_a_repo_that_does_not_exist_asks_for_no_write_token(hub_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path))

    err = error_of(hub.main, ["pull", "alice/nothing-here"], capsys)

    assert "Repository alice/nothing-here not found" in err
    assert "read access" in err and "write access" not in err


@pytest.mark.slow
def test_a_static_space_for_a_repo_without_onnx_names_the_missing_onnx(
    hub_server, run_copy, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    (run_copy / "model.onnx").unlink()
    hub.push(run_copy, "alice/tinyvgg-no-onnx", wheel=False)

    err = error_of(
        space.main, ["build", "--static", str(tmp_path / "static"), "--model", "alice/tinyvgg-no-onnx"], capsys
    )

    assert "has no model.onnx" in err and "model.safetensors" not in err
    assert "model.publishing.export" in err


@pytest.mark.parametrize("main", [report.main, results.main], ids=["report", "results"])
def test_a_model_folder_that_is_not_there_is_named_with_what_to_pass(main, tmp_path, capsys):
    missing = tmp_path / "nothing"

    try:
        code = main(["--model", str(missing)])
    except SystemExit as exit:  # report ends through argparse's exit(1)
        code = exit.code
    assert code == 1
    err = capsys.readouterr().err

    assert str(missing) in err and ("python train.py" in err or "written by train.py" in err)
    assert "Errno" not in err
