"""Training curves as TensorBoard event files, which the Hub's "Training metrics" tab shows.

tensorboard --logdir runs/default/tensorboard
"""

from __future__ import annotations

import time
from pathlib import Path

from tensorboardX import SummaryWriter

from model import artifacts

# metrics.json's history key -> the TensorBoard tag it is drawn under.
TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "test_loss": "loss/test",
    "train_accuracy": "accuracy/train",
    "val_accuracy": "accuracy/val",
    "test_accuracy": "accuracy/test",
    "lr": "learning_rate",
}


class CurveLog:
    """Writes each epoch's record (`engine.fit(on_epoch=...)`) into `output_dir/tensorboard/`.

    A fresh run removes the event files of an earlier run in the same folder, so its curves are
    not drawn over another run's; a resumed run adds a file for the epochs it trains.
    """

    def __init__(self, output_dir: str | Path, *, resume: bool) -> None:
        self.folder = Path(output_dir) / artifacts.TENSORBOARD
        self.resume = resume
        self.writer: SummaryWriter | None = None

    def __call__(self, record: dict[str, float]) -> None:
        if self.writer is None:
            # Only once an epoch is done: a run refused at its start leaves the old curves alone.
            if not self.resume:
                for old in self.folder.glob("events.out.tfevents.*"):
                    old.unlink()
            # Event files are named by the second they start in: a suffix keeps a quick resume from overwriting.
            self.writer = SummaryWriter(logdir=str(self.folder), filename_suffix=f".{time.time_ns()}")
        for key, tag in TAGS.items():
            if key in record:
                self.writer.add_scalar(tag, record[key], global_step=int(record["epoch"]))
        self.writer.flush()  # the epoch is on disk even if the run is killed next

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
