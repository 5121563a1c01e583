"""Every training option in one typed dataclass, with the named presets that fill it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

# Each preset fills every recipe field; a flag given on the command line wins.
PRESETS: dict[str, dict[str, Any]] = {
    # The original notebook, step for step: TinyVGG(), SGD lr 0.1, batch 32, 3 epochs.
    "notebook": dict(
        epochs=3,
        batch_size=32,
        lr=0.1,
        optimizer="sgd",
        momentum=0.0,
        weight_decay=0.0,
        schedule="constant",
        hidden_units=[10, 10],
        batch_norm=False,
        dropout=0.0,
        normalize=False,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        precision="fp32",
        val_size=0,
    ),
    # The notebook's architecture with the recipe that reaches 88% in the least wall time.
    "fast": dict(
        epochs=1,
        batch_size=64,
        lr=0.01,
        optimizer="adamw",
        momentum=0.9,
        weight_decay=0.0,
        schedule="onecycle",
        hidden_units=[10, 10],
        batch_norm=False,
        dropout=0.0,
        normalize=True,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        precision="auto",
        val_size=0,
    ),
    # The shipped model: the best accuracy under 100k parameters in 15 CPU minutes.
    "default": dict(
        epochs=30,
        batch_size=128,
        lr=0.1,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        hidden_units=[32, 64],
        batch_norm=True,
        dropout=0.0,
        normalize=True,
        augment="photo",
        photo_share=0.3,
        # Chosen on real photos (benchmarks/real_photos.py): shoes from above, and tops' prints and shading.
        top_view_share=0.4,
        style_share=0.5,
        precision="auto",
        val_size=5000,
    ),
}

# none; random flips and 2-pixel shifts; or those plus what a phone photo leaves (model.training.augment).
AUGMENTATIONS = ("none", "flip-shift", "photo")

# fp32 everywhere, or bfloat16 autocast for the forward and backward passes (weights stay fp32);
# auto is bf16 where the device computes it natively and fp32 where it would be emulated.
PRECISIONS = ("auto", "fp32", "bf16")

# With --limit-train and no --val-size, at most this share of the limited training set is held out.
VAL_SHARE_OF_LIMIT = 0.1

# Pixel statistics of the Fashion-MNIST training images in [0, 1] (`python -m model.training.data`).
TRAIN_MEAN = 0.2860
TRAIN_STD = 0.3530

# Fields that define the result of a run; resuming with different values would mix two runs.
RECIPE_FIELDS = (*PRESETS["default"], "seed", "limit_train", "limit_test")


@dataclass
class TrainConfig:
    """One training run. `resolve` fills the recipe fields left as None from the preset."""

    preset: str = "default"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    hidden_units: list[int] | None = None
    batch_norm: bool | None = None
    dropout: float | None = None
    normalize: bool | None = None
    augment: str | None = None
    photo_share: float | None = None
    top_view_share: float | None = None
    style_share: float | None = None
    precision: str | None = None
    # What `precision` resolved to on this machine (device.resolve_precision); train.py fills it.
    precision_used: str | None = None
    val_size: int | None = None
    seed: int = 42
    data_dir: str | None = None
    output_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    device: str = "auto"
    resume: bool = False
    no_progress: bool = False
    push_to_hub: str | None = None

    def resolve(self) -> TrainConfig:
        """A copy with the preset's values in every field the caller left unset."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        filled = {key: value for key, value in PRESETS[self.preset].items() if getattr(self, key) is None}
        if "val_size" in filled and self.limit_train is not None:
            # A preset's 5,000 held-out images would swallow a small --limit-train: hold out a share.
            filled["val_size"] = min(filled["val_size"], int(VAL_SHARE_OF_LIMIT * self.limit_train))
        config = dataclasses.replace(self, **filled)
        if config.output_dir is None:
            config.output_dir = f"runs/{config.preset}"
        config.validate()
        return config

    def validate(self) -> None:
        problems = []
        if self.epochs is not None and self.epochs < 1:
            problems.append(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.lr is not None and self.lr <= 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            problems.append(f"--dropout must be in [0, 1), got {self.dropout}")
        for name in ("limit_train", "limit_test", "val_size"):
            value = getattr(self, name)
            if value is not None and value < 0:
                problems.append(f"--{name.replace('_', '-')} must not be negative, got {value}")
        if self.optimizer not in (None, "sgd", "adamw"):
            problems.append(f"--optimizer must be sgd or adamw, got {self.optimizer!r}")
        for name in ("photo_share", "top_view_share", "style_share"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                problems.append(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
        if self.augment not in (None, *AUGMENTATIONS):
            problems.append(f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        if self.precision not in (None, *PRECISIONS):
            problems.append(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.schedule not in (None, "constant", "onecycle"):
            problems.append(f"--schedule must be constant or onecycle, got {self.schedule!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    def recipe(self) -> dict[str, Any]:
        recipe = {name: getattr(self, name) for name in RECIPE_FIELDS}
        # The arithmetic is decided by what `auto` resolved to, so a run started with auto
        # resumes with auto on the same machine, or with that precision named.
        if self.precision_used is not None:
            recipe["precision"] = self.precision_used
        return recipe
