"""A run folder: what it holds (a new run never replaces a finished run or drops a checkpoint unasked), what
of it a push publishes, what a new run makes stale, and moving artifacts into it."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

import torch

from model import artifacts
from model.training.metrics import MetricsError, read_metrics

# Beside the weights, config and card (which every save writes), what a save or a push publishes.
RUN_FILES = (
    artifacts.METRICS,
    artifacts.TRAINING_ARGS,
    *artifacts.FIGURES,
    artifacts.ONNX,
    artifacts.TENSORBOARD_EVENTS,
)
# Made from the weights by a later command, so a new training run makes them stale: file -> why and how to redo it.
STALE_AFTER_TRAINING = {
    artifacts.ONNX: "python -m model.publishing.export re-creates it",
    artifacts.RELIABILITY_PHOTOS: "python -m model.publishing.recalibrate FOLDER --photos DIR re-creates it",
}
# The ONNX graph holds the calibration, so new calibration values make it stale too.
STALE_AFTER_CALIBRATION = {artifacts.ONNX: "python -m model.publishing.export re-creates it"}

# checkpoint_position's answer for a checkpoint it cannot read.
UNREADABLE = (0, 0, 0)


class FolderTaken(Exception):
    """The output folder holds a finished run or a checkpoint that this command would replace; the message says
    what is there and the ways on."""


def finished_run(folder: Path) -> str | None:
    """The trained model in `folder`, in words (its accuracy and epochs), or None when it holds none."""
    if not (folder / artifacts.WEIGHTS).is_file():
        return None
    try:
        metrics = read_metrics(folder / artifacts.METRICS)
    except (OSError, MetricsError):
        return f"a trained model ({artifacts.WEIGHTS}, with no readable {artifacts.METRICS})"
    epochs = len(metrics["history"])
    return (
        f"a finished run: {metrics['test_accuracy']:.2%} test accuracy after {epochs} epoch{'s' * (epochs != 1)}, "
        f"trained by `{metrics['command']}`"
    )


def checkpoint_position(path: Path) -> tuple[int, int, int] | None:
    """(epoch, batch, epochs) where the checkpoint at `path` stands: it continues at `batch` of `epoch`; None
    when there is no checkpoint. An epoch past `epochs` means the run trained to its end."""
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["progress"]["epoch_state"]
        return int(state["epoch"]), int(state["step"]), int(checkpoint["recipe"]["epochs"])
    except Exception:  # unreadable or from an older train.py: still someone's work
        return UNREADABLE


def refuse_to_replace(folder: Path, *, resume: bool, overwrite: bool, command: list[str]) -> None:
    """Stop, before any data is loaded, a run that would replace what `folder` holds without being asked.

    `command` is the command line as given, for the commands that the message suggests instead.

    Raises:
        FolderTaken: `folder` holds a finished run or a checkpoint and neither `resume` nor `overwrite` was
            given; or `resume` was given and there is no checkpoint to continue.
    """
    checkpoint = folder / artifacts.CHECKPOINT
    position = checkpoint_position(checkpoint)
    if resume:
        if position is None:
            raise FolderTaken(f"--resume was given but {checkpoint} does not exist; run once without --resume first")
        return
    if overwrite:
        return
    finished = finished_run(folder)
    if finished is None and position is None:
        return
    rest = [a for a in command if a != "--resume"]
    elsewhere = shlex.join([*_without_output_dir(rest), "--output-dir", str(_free_sibling(folder))])
    replace = shlex.join([*rest, "--overwrite"])
    beside = f", beside {finished}" if finished else ""
    if position == UNREADABLE:
        what, ways = f"a checkpoint that this train.py cannot read ({checkpoint}){beside}", []
    elif position is not None and position[0] <= position[2]:  # an epoch left to train
        what = _interrupted(checkpoint, position) + beside
        ways = [("continue it", shlex.join([*rest, "--resume"]))]
    elif finished is None:
        what = f"the checkpoint of a run that trained all its {position[2]} epochs but wrote no weights"
        ways = [("write its weights", shlex.join([*rest, "--resume"]))]
    else:
        what, ways = finished, []
    ways += [("keep it and train into another folder", elsewhere), ("replace it", replace)]
    width = max(len(way) for way, _ in ways) + 2
    lines = "\n".join(f"  {way + ':':<{width}}{line}" for way, line in ways)
    raise FolderTaken(f"{folder} already holds {what}.\nA new run there would replace it. Instead:\n{lines}")


def _interrupted(checkpoint: Path, position: tuple[int, int, int]) -> str:
    epoch, batch, epochs = position
    where = f"in epoch {epoch} of {epochs}, after batch {batch}" if batch else f"after epoch {epoch - 1} of {epochs}"
    return f"the checkpoint of an interrupted run ({checkpoint}), stopped {where}"


def _without_output_dir(command: list[str]) -> list[str]:
    """`command` without its --output-dir (as `--output-dir X` or `--output-dir=X`)."""
    kept, skip = [], False
    for arg in command:
        if skip:
            skip = False
        elif arg == "--output-dir":
            skip = True
        elif not arg.startswith("--output-dir="):
            kept.append(arg)
    return kept


def _free_sibling(folder: Path) -> Path:
    """`folder` with the first -2, -3, ... suffix that names nothing yet."""
    n = 2
    while (candidate := folder.with_name(f"{folder.name}-{n}")).exists():
        n += 1
    return candidate


def run_files(folder: str | Path) -> dict[str, Path]:
    """Path in a repo -> file, for the RUN_FILES in `folder` (not the hidden temporaries of a killed command)."""
    folder = Path(folder)
    found = sorted(p for pattern in RUN_FILES for p in folder.glob(pattern) if not p.name.startswith("."))
    return {p.relative_to(folder).as_posix(): p for p in found if p.is_file()}


def remove_stale(folder: str | Path, stale: dict[str, str]) -> list[str]:
    """Delete the files of `stale` that `folder` holds; one line per file, saying why, for the caller to print."""
    removed = []
    for name, why in stale.items():
        path = Path(folder) / name
        if path.exists():
            path.unlink()
            removed.append(f"removed {path}, made for the previous weights or calibration ({why})")
    return removed


def move_into(src_dir: Path, dest_dir: Path) -> list[Path]:
    """Move every file of `src_dir` into `dest_dir`, each with one atomic rename."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    moved = []
    for src in sorted(src_dir.iterdir()):
        if src.is_file():
            os.replace(src, dest_dir / src.name)
            moved.append(dest_dir / src.name)
    return moved


def check_writable(folder: str | Path) -> None:
    """Fail now, not after an hour of training, if `folder` cannot take our artifacts.

    Raises:
        OSError: With a message naming the folder and the problem.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test."):
            pass
    except OSError as err:
        raise OSError(f"cannot write to the output folder {folder}: {err.strerror or err}") from err
    free = shutil.disk_usage(folder).free
    if free < 50 * 2**20:
        raise OSError(f"only {free // 2**20} MiB free on the disk of {folder}; a run needs at least 50 MiB")
