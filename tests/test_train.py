"""The training CLI: artifacts, presets, interruption and exact resume, early failures."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file

import train
from model import artifacts
from model.training.config import TrainConfig, flag, from_preset, option
from model.training.curves import TAGS
from model.training.device import resolve_precision
from model.training.engine import build_model
from tests.conftest import ARTIFACTS, ROOT
from tests.test_curves import read_scalars

# A small run of the shipped recipe: batch norm, dropout, augmentation, one-cycle schedule.
SMALL = ["--hidden-units", "8,8", "--limit-train", "4000", "--val-size", "500", "--limit-test", "500"]


@pytest.fixture(scope="module")
def short_run_and_log(tmp_path_factory, fashion_mnist) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("short-run")
    with contextlib.redirect_stdout(io.StringIO()) as log:
        args = [*SMALL, "--epochs", "2", "--no-progress", "--output-dir", str(out)]
        assert train.main(args) == 0
    return out, log.getvalue()


@pytest.fixture(scope="module")
def short_run(short_run_and_log) -> Path:
    return short_run_and_log[0]


@pytest.mark.slow
def test_a_short_run_writes_every_artifact(short_run):
    # With held-out images the run is also calibrated, which adds the reliability diagram.
    assert ARTIFACTS | {"reliability_diagram.png"} <= {p.name for p in short_run.iterdir()}
    metrics = json.loads((short_run / "metrics.json").read_text())
    assert {"temperature", "ece_before", "ece_after"} <= set(metrics["calibration"])
    assert set(metrics["ood"]["auroc"]) == {"digits", "photos", "noise"}
    assert not [p.name for p in short_run.iterdir() if ".tmp" in p.name or p.name.startswith(".artifacts")]


@pytest.mark.slow
def test_a_run_writes_its_curves_for_tensorboard(short_run):
    history = json.loads((short_run / "metrics.json").read_text())["history"]

    scalars = read_scalars(short_run / artifacts.TENSORBOARD)

    for key in ("train_loss", "val_accuracy", "test_accuracy", "lr"):
        assert scalars[TAGS[key]] == pytest.approx({h["epoch"]: h[key] for h in history}, rel=1e-6), key


@pytest.mark.slow
def test_metrics_are_coherent_with_the_run(short_run):
    metrics = json.loads((short_run / "metrics.json").read_text())

    assert len(metrics["history"]) == 2
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    # The final test numbers are those of the last epoch's evaluation.
    assert metrics["test_accuracy"] == pytest.approx(metrics["history"][-1]["test_accuracy"])
    assert metrics["test_accuracy"] > 0.5, "two epochs on 3,500 images should beat chance by far"
    assert sum(c["support"] for c in metrics["per_class"].values()) == 500
    assert metrics["data"] == {**metrics["data"], "train_images": 3500, "val_images": 500, "test_images": 500}
    elapsed = [h["elapsed_seconds"] for h in metrics["history"]]
    assert elapsed[-1] == pytest.approx(metrics["train_seconds"])
    assert elapsed[-1] == pytest.approx(sum(h["epoch_seconds"] for h in metrics["history"]))
    assert metrics["train_images_per_second"] == pytest.approx(2 * 3500 / metrics["train_seconds"])


@pytest.mark.slow
def test_training_args_record_the_preset_values_and_the_overrides(short_run):
    args = json.loads((short_run / "training_args.json").read_text())

    assert args["preset"] == "default" and args["epochs"] == 2
    assert args["hidden_units"] == [8, 8] and args["batch_norm"] is True and args["augment"] == "photo"


@pytest.mark.slow
def test_the_precision_auto_chose_is_printed_and_recorded_with_the_run(short_run_and_log):
    folder, log = short_run_and_log
    used, reason = resolve_precision("auto", torch.device("cpu"))
    args = json.loads((folder / "training_args.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())

    assert f"precision: {used} ({reason})\n" in log
    assert (args["precision"], args["precision_used"]) == ("auto", used)
    assert metrics["environment"]["precision"] == used
    assert "(`--precision auto` chose it on this machine)" in (folder / "README.md").read_text()


@pytest.mark.slow
def test_each_epoch_line_but_the_last_says_how_long_the_rest_will_take(short_run_and_log):
    _, log = short_run_and_log
    lines = [line for line in log.splitlines() if line.startswith("epoch ")]

    assert len(lines) == 2
    assert re.search(r" \| ~\d+(\.\d)? (s|min|h) left$", lines[0]), lines[0]
    assert "left" not in lines[1]


@pytest.mark.slow
def test_the_card_reports_the_measured_accuracy_in_its_metadata(short_run):
    metrics = json.loads((short_run / "metrics.json").read_text())
    card = ModelCard.load(short_run / "README.md")

    (result,) = card.data.eval_results
    assert result.metric_type == "accuracy" and result.dataset_split == "test"
    assert result.metric_value == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert "[More Information Needed]" not in card.text
    assert metrics["command"] in card.text


@pytest.mark.slow
def test_the_written_model_loads_and_reproduces_the_reported_accuracy(short_run, fashion_mnist):
    from model.tinyvgg import TinyVGG
    from model.training.engine import evaluate

    model = TinyVGG.from_pretrained(short_run)
    scored = evaluate(model, fashion_mnist.test_images[:500], fashion_mnist.test_labels[:500])

    metrics = json.loads((short_run / "metrics.json").read_text())
    assert scored.accuracy == pytest.approx(metrics["test_accuracy"])
    assert model.num_parameters == metrics["num_parameters"]


def test_a_flag_overrides_its_preset_value():
    config = train.TrainConfig(**vars(train.build_parser().parse_args(["--preset", "notebook", "--epochs", "1"])))
    config = config.resolve()

    assert (config.epochs, config.lr, config.batch_size, config.optimizer) == (1, 0.1, 32, "sgd")
    assert config.output_dir == "runs/notebook"


def test_every_field_but_the_one_train_py_fills_has_a_flag():
    parser = train.build_parser()
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"precision_used"}

    assert set(vars(parser.parse_args([]))) == names
    assert {flag(name) for name in names} <= set(parser.format_usage().replace("[", " ").replace("]", " ").split())


def test_every_flag_in_help_states_its_default(capsys):
    with pytest.raises(SystemExit) as ended:
        train.main(["--help"])
    assert ended.value.code == 0
    # One entry per flag: a line that starts with two spaces and a dash, and the lines of help under it.
    options = capsys.readouterr().out.split("options:\n")[1].split("\n\n")[0]
    entries = [" ".join(entry.split()) for entry in re.split(r"\n(?=  -)", options)]

    # --help, and a flag for every field but precision_used.
    assert len(entries) == len(dataclasses.fields(TrainConfig))
    for entry in entries[1:]:
        assert re.search(r"\(default: [^)]+\)$", entry), entry


def test_a_fields_help_and_default_are_what_its_flag_says():
    @dataclasses.dataclass
    class Changed(TrainConfig):
        epochs: int | None = from_preset(12, "rounds over the images")
        seed: int = option(7, "where the random numbers start")

    parser = train.build_parser(Changed)
    text = " ".join(parser.format_help().split())

    assert "rounds over the images (default: from the preset; notebook: 3, fast: 1, default: 12)" in text
    assert "where the random numbers start (default: 7)" in text
    assert parser.parse_args([]).seed == 7
    assert Changed().resolve().epochs == 12 and Changed(preset="fast").resolve().epochs == 1


def test_hidden_units_take_one_width_for_both_blocks_or_one_per_block(capsys):
    parser = train.build_parser()

    assert parser.parse_args(["--hidden-units", "10"]).hidden_units == [10, 10]
    assert parser.parse_args(["--hidden-units", "32,64"]).hidden_units == [32, 64]
    with pytest.raises(SystemExit):
        parser.parse_args(["--hidden-units", "8,x"])
    assert "expected one or two integers like 10 or 32,64, got '8,x'" in capsys.readouterr().err


def test_a_presets_switch_turns_either_way_and_other_switches_only_on():
    parser = train.build_parser()

    assert parser.parse_args([]).batch_norm is None, "unset: the preset decides"
    assert parser.parse_args(["--batch-norm"]).batch_norm is True
    assert parser.parse_args(["--no-batch-norm"]).batch_norm is False
    assert parser.parse_args([]).resume is False and parser.parse_args(["--resume"]).resume is True
    assert parser.parse_args(["--no-progress"]).no_progress is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-resume"])


@pytest.mark.parametrize(
    "field", [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("choices")], ids=lambda f: f.name
)
def test_a_flag_takes_exactly_the_choices_that_validation_takes(field, capsys):
    parser = train.build_parser()

    for choice in field.metadata["choices"]:
        assert getattr(parser.parse_args([flag(field.name), choice]), field.name) == choice
        TrainConfig(**{field.name: choice}).validate()
    with pytest.raises(SystemExit):
        parser.parse_args([flag(field.name), "none-of-these"])
    assert "invalid choice: 'none-of-these'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"{flag(field.name)} must be one of"):
        TrainConfig(**{field.name: "none-of-these"}).validate()


def test_the_notebook_preset_builds_the_notebook_model():
    config = train.TrainConfig(preset="notebook").resolve()

    model = build_model(config, ("a",) * 10)

    assert model.num_parameters == 7740
    assert model.config["normalize"] is None and (model.mean, model.std) == (0.0, 1.0)


def test_an_unwritable_output_folder_fails_before_loading_any_data(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    assert train.main(["--output-dir", str(blocker / "out")]) == 1
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_bad_flag_values_are_refused_with_the_flag_named(capsys):
    with pytest.raises(SystemExit):
        train.main(["--epochs", "0"])
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys, fashion_mnist):
    assert train.main([*SMALL, "--epochs", "1", "--output-dir", str(tmp_path), "--resume"]) == 1
    assert "does not exist; run once without --resume" in capsys.readouterr().err


def _run(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# With sandals drawn with their straps from above, whose draws the generator state must carry.
RESUME_RUN = [*SMALL, "--epochs", "3", "--no-progress", "--seed", "7", "--sandal-straps", "0.5"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("uninterrupted")
    proc = _run([*RESUME_RUN, "--output-dir", str(out)])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return load_file(out / "model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, uninterrupted, signum, code):
    proc = _run([*RESUME_RUN, "--output-dir", str(tmp_path)])
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            proc.send_signal(signum)
            break
    _, err = proc.communicate(timeout=300)

    assert proc.returncode == code, err
    assert "--resume" in err
    assert (tmp_path / artifacts.CHECKPOINT).exists()
    assert not (tmp_path / "model.safetensors").exists(), "an interrupted run must not write final artifacts"

    # The same command again, without --resume, must not start over and drop the checkpoint.
    before = files_of(tmp_path)
    again = _run([*RESUME_RUN, "--output-dir", str(tmp_path)])
    _, err = again.communicate(timeout=300)
    assert again.returncode == 1
    assert (
        f"{tmp_path} already holds the checkpoint of an interrupted run" in err and "stopped after epoch 1 of 3" in err
    )
    assert "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert files_of(tmp_path) == before, "the interrupted run is kept byte for byte"

    resumed = _run([*RESUME_RUN, "--output-dir", str(tmp_path), "--resume"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming from" in out

    weights = load_file(tmp_path / "model.safetensors")
    assert weights.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert torch.equal(weights[name], tensor), name
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


@pytest.mark.slow
def test_resuming_with_a_different_recipe_is_refused(tmp_path, capsys, fashion_mnist):
    assert train.main([*SMALL, "--epochs", "1", "--no-progress", "--output-dir", str(tmp_path)]) == 0

    assert train.main([*SMALL, "--epochs", "1", "--lr", "0.5", "--output-dir", str(tmp_path), "--resume"]) == 1
    assert "different recipe (lr: now 0.5, checkpoint 0.1)" in capsys.readouterr().err


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_run_killed_at_a_random_moment_resumes_from_its_last_checkpoint(tmp_path, uninterrupted):
    # A seeded moment: a fraction of an epoch's training time after the first checkpoint (epoch 1 done)
    # is written, so somewhere in epoch 2, in its evaluation, or while its checkpoint is being written.
    fraction = random.Random(14).random()
    checkpoint_path = tmp_path / artifacts.CHECKPOINT
    proc = _run([*RESUME_RUN, "--output-dir", str(tmp_path)])
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            epoch_seconds = float(re.search(r"\| ([\d.]+)s\b", line)[1])
            break
    wait_for(checkpoint_path)
    time.sleep(fraction * epoch_seconds)
    # Freeze the run where it stands, make sure it has not finished, and kill it right there.
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, "the run ended before the kill"
    assert torch.load(checkpoint_path, weights_only=True)["progress"]["epoch_state"]["epoch"] <= 3, "the run had ended"
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # Whatever is there under its real name is complete: the checkpoint loads.
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint["progress"]["epoch_state"]["epoch"] in (2, 3)
    assert not (tmp_path / "model.safetensors").exists()

    resumed = _run([*RESUME_RUN, "--output-dir", str(tmp_path), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    weights = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(weights[name], tensor) for name, tensor in uninterrupted.items())
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name], "leftover temporary files are cleaned up"


@pytest.mark.slow
def test_temporary_files_left_by_a_killed_run_are_removed_at_the_next_start(tmp_path, fashion_mnist, capsys):
    stale = tmp_path / ".checkpoint.abc123.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    (tmp_path / ".artifacts-xyz").mkdir()

    assert train.main([*SMALL, "--epochs", "1", "--no-progress", "--output-dir", str(tmp_path)]) == 0

    assert not stale.exists() and not (tmp_path / ".artifacts-xyz").exists()
    assert f"removed {stale}" in capsys.readouterr().out


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path there, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


NOTEBOOK_RUN = [
    "--preset",
    "notebook",
    "--epochs",
    "1",
    "--limit-train",
    "1000",
    "--limit-test",
    "300",
    "--no-progress",
]


@pytest.mark.slow
def test_a_second_run_into_a_finished_run_stops_and_keeps_it_byte_for_byte(notebook_run, tmp_path, capsys):
    finished = Path(shutil.copytree(notebook_run, tmp_path / "run"))
    before = files_of(finished)
    accuracy = json.loads((finished / "metrics.json").read_text())["test_accuracy"]

    assert train.main([*NOTEBOOK_RUN, "--seed", "1", "--output-dir", str(finished)]) == 1

    out, err = capsys.readouterr()
    assert f"{finished} already holds a finished run: {accuracy:.2%} test accuracy after 1 epoch" in err
    assert f"--output-dir {tmp_path / 'run-2'}" in err and "--overwrite" in err
    assert "test images from" not in out, "it stops before loading any data"
    assert files_of(finished) == before


@pytest.mark.slow
def test_overwrite_replaces_a_finished_run(notebook_run, tmp_path, capsys):
    finished = Path(shutil.copytree(notebook_run, tmp_path / "run"))

    assert train.main([*NOTEBOOK_RUN, "--seed", "1", "--output-dir", str(finished), "--overwrite"]) == 0

    assert "--seed 1" in json.loads((finished / "metrics.json").read_text())["command"]
    assert "--overwrite" not in json.loads((finished / "metrics.json").read_text())["command"]


def test_resume_and_overwrite_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        train.main(["--resume", "--overwrite"])
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--limit-train", "0"], "--limit-train must be at least 1 image"),
        (["--limit-test", "0"], "--limit-test must be at least 1 image"),
        (["--limit-train", "100", "--val-size", "100"], "--val-size 100 would hold out all of the 100 images"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
        (["--weight-decay", "-1"], "--weight-decay must not be negative"),
        (["--seed", "-1"], "--seed must not be negative"),
    ],
)
def test_a_value_no_run_can_take_is_refused_with_its_flag_before_anything_runs(flags, says, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main([*flags, "--output-dir", str(tmp_path / "out")])
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("flag, images", [("--limit-train", "60,000"), ("--limit-test", "10,000")])
def test_a_limit_beyond_the_data_is_refused_with_the_number_of_images(flag, images, fashion_mnist, tmp_path, capsys):
    assert train.main([flag, "1000000", "--output-dir", str(tmp_path)]) == 1
    assert f"{flag} 1000000 is not between 1 and the {images} images there are" in capsys.readouterr().err


def test_a_limited_training_set_holds_out_a_tenth_unless_told_otherwise():
    from model.training.config import TrainConfig

    assert TrainConfig(limit_train=5000).resolve().val_size == 500
    assert TrainConfig(limit_train=100_000).resolve().val_size == 5000, "the preset's value is the most"
    assert TrainConfig(limit_train=5000, val_size=2000).resolve().val_size == 2000, "a flag given wins"
    assert TrainConfig().resolve().val_size == 5000


@pytest.mark.slow
def test_the_training_pages_quick_look_command_runs_as_written(tmp_path):
    page = ROOT / "docs" / "training.md"
    line = next(line for line in page.read_text().splitlines() if line.endswith("# a quick look"))
    command = line.split("#")[0].split()
    assert command[:2] == [".venv/bin/python", "train.py"]

    result = subprocess.run(
        [sys.executable, *command[1:], "--output-dir", str(tmp_path), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    assert ARTIFACTS <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.slow
def test_a_new_run_removes_the_onnx_export_of_the_weights_it_replaces(tmp_path, fashion_mnist):
    (tmp_path / "model.onnx").write_bytes(b"an export of an earlier run's weights")
    args = ["--preset", "notebook", "--epochs", "1", "--limit-train", "1000", "--limit-test", "200", "--no-progress"]

    with contextlib.redirect_stdout(io.StringIO()) as log:
        assert train.main([*args, "--output-dir", str(tmp_path)]) == 0

    assert not (tmp_path / "model.onnx").exists()
    assert f"removed {tmp_path / 'model.onnx'}" in log.getvalue()
