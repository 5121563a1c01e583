"""TensorBoard curves: every run writes its per-epoch metrics as event files the Hub can show."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tensorboardX.proto.event_pb2 import Event

from model import artifacts
from model.training.curves import TAGS, CurveLog


def read_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """tag -> {step: value} from every event file in `folder` (TFRecord framing: length, CRC, data, CRC)."""
    scalars: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def record(epoch: int, loss: float) -> dict[str, float]:
    return {"epoch": epoch, "train_loss": loss, "train_accuracy": 1 - loss, "test_loss": loss, "lr": 0.1 / epoch}


def test_each_epoch_is_drawn_under_its_tag_at_its_step(tmp_path):
    log = CurveLog(tmp_path, resume=False)
    log(record(1, 0.75))
    log(record(2, 0.5))
    log.close()

    scalars = read_scalars(tmp_path / artifacts.TENSORBOARD)

    assert scalars[TAGS["train_loss"]] == {1: 0.75, 2: 0.5}
    assert scalars[TAGS["lr"]] == pytest.approx({1: 0.1, 2: 0.05})
    assert TAGS["val_loss"] not in scalars, "a run without held-out images draws no validation curve"


def test_a_run_that_ends_before_its_first_epoch_leaves_the_old_curves_alone(tmp_path):
    old = CurveLog(tmp_path, resume=False)
    old(record(1, 0.9))
    old.close()

    CurveLog(tmp_path, resume=False).close()  # e.g. refused at its start: another recipe's checkpoint

    assert read_scalars(tmp_path / artifacts.TENSORBOARD)[TAGS["train_loss"]] == pytest.approx({1: 0.9})


def test_a_fresh_run_replaces_the_old_curves_and_a_resumed_one_adds_to_them(tmp_path):
    first = CurveLog(tmp_path, resume=False)
    first(record(1, 0.9))
    first.close()
    resumed = CurveLog(tmp_path, resume=True)
    resumed(record(2, 0.8))
    resumed.close()
    assert read_scalars(tmp_path / artifacts.TENSORBOARD)[TAGS["train_loss"]] == pytest.approx({1: 0.9, 2: 0.8})

    fresh = CurveLog(tmp_path, resume=False)
    fresh(record(1, 0.7))
    fresh.close()

    assert read_scalars(tmp_path / artifacts.TENSORBOARD)[TAGS["train_loss"]] == pytest.approx({1: 0.7})
