"""Every training option in one typed dataclass, declared once; the named presets are changes to its defaults."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from model.training.data import DEBIAN_DIR, ENV_VAR

OPTIMIZERS = ("sgd", "adamw")

SCHEDULES = ("constant", "onecycle")

# none; random flips and 2-pixel shifts; or those plus what a phone photo leaves (model.training.augment).
AUGMENTATIONS = ("none", "flip-shift", "photo")

# fp32 everywhere, or bfloat16 autocast for the forward and backward passes (weights stay fp32);
# auto is bf16 where the device computes it natively and fp32 where it would be emulated.
PRECISIONS = ("auto", "fp32", "bf16")

DEVICES = ("auto", "cpu", "cuda", "mps")

# What `--augment photo` makes of a photo-like image, besides how many images it takes (`photo_share`).
PHOTO_LIKE_SHARES = ("top_view_share", "style_share", "spin_share", "sandal_straps")
# The value of each option added to the recipe since, in the runs from before it existed: what
# `python -m model.publishing.recalibrate` redoes, and what a checkpoint without it was trained with.
BEFORE_THE_OPTION = {"top_view_share": 0.0, "style_share": 0.0, "spin_share": 0.5, "sandal_straps": 0.0}

# With --limit-train and no --val-size, at most this share of the limited training set is held out.
VAL_SHARE_OF_LIMIT = 0.1

# Pixel statistics of the Fashion-MNIST training images in [0, 1] (`python -m model.training.data`).
TRAIN_MEAN = 0.2860
TRAIN_STD = 0.3530

# What each preset changes in the recipe that TrainConfig's fields default to, the shipped model's;
# a flag given on the command line wins over both.
PRESET_CHANGES: dict[str, dict[str, Any]] = {
    # The original notebook, step for step: TinyVGG(), SGD lr 0.1, batch 32, 3 epochs.
    "notebook": dict(
        epochs=3,
        batch_size=32,
        momentum=0.0,
        weight_decay=0.0,
        schedule="constant",
        hidden_units=[10, 10],
        batch_norm=False,
        normalize=False,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        sandal_straps=0.0,
        precision="fp32",
        val_size=0,
    ),
    # The notebook's architecture with the recipe that reaches 88% in the least wall time.
    "fast": dict(
        epochs=1,
        batch_size=64,
        lr=0.01,
        optimizer="adamw",
        weight_decay=0.0,
        hidden_units=[10, 10],
        batch_norm=False,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        sandal_straps=0.0,
        val_size=0,
    ),
    # The shipped model (docs/training.md says how its recipe was chosen).
    "default": {},
}


def flag(name: str) -> str:
    """The command-line flag of a field: `batch_size` -> `--batch-size`."""
    return "--" + name.replace("_", "-")


def from_preset(default: Any, help: str, *, choices: tuple[str, ...] = ()) -> Any:
    """A recipe field: None until `resolve` fills it from the preset, which changes `default` or keeps it."""
    return field(default=None, metadata={"preset_default": default, "help": help, "choices": choices})


def option(default: Any, help: str, *, choices: tuple[str, ...] = (), default_text: str = "", metavar: str = "") -> Any:
    """A field that no preset sets. `default_text` tells --help what a default of None means."""
    metadata = {"help": help, "choices": choices, "default_text": default_text, "metavar": metavar}
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """One training run; each field's type, default and help are its flag's in train.py.

    The recipe fields stay None, "take the preset's value", until `resolve` fills them.
    """

    preset: str = option(
        "default",
        "notebook: the original notebook's recipe; fast: 88% in the least time; default: the shipped model",
        choices=tuple(PRESET_CHANGES),
    )
    epochs: int | None = from_preset(30, "passes over the training set")
    batch_size: int | None = from_preset(
        128, "images per step; under torchrun the global batch, split over the processes"
    )
    lr: float | None = from_preset(0.1, "(peak) learning rate")
    optimizer: str | None = from_preset(
        "sgd", "sgd: SGD, with Nesterov momentum when --momentum > 0; adamw: AdamW", choices=OPTIMIZERS
    )
    momentum: float | None = from_preset(0.9, "SGD momentum, Nesterov when > 0")
    weight_decay: float | None = from_preset(5e-4, "weight decay of every parameter, decoupled with adamw")
    schedule: str | None = from_preset("onecycle", "learning-rate schedule", choices=SCHEDULES)
    hidden_units: list[int] | None = from_preset([32, 64], "channels of both conv blocks, or one per block as 32,64")
    batch_norm: bool | None = from_preset(True, "BatchNorm after each conv")
    dropout: float | None = from_preset(0.0, "dropout before the classifier")
    normalize: bool | None = from_preset(True, "standardize pixels inside the model")
    augment: str | None = from_preset(
        "photo",
        "none; flip-shift: random flips and 2-pixel shifts; photo: also scale, tilt, texture, light, blur and "
        "leftover background, as phone photos arrive (model/training/augment.py)",
        choices=AUGMENTATIONS,
    )
    photo_share: float | None = from_preset(0.3, "with --augment photo, the share of each batch made photo-like")
    # Chosen on real photos (benchmarks/real_photos.py).
    top_view_share: float | None = from_preset(
        0.4,
        "with --augment photo, the share of photo-like shoes replaced by a made-up top view, alone or as a pair",
    )
    style_share: float | None = from_preset(
        0.5,
        "with --augment photo, the share of photo-like images passed through a random convolution "
        "(RandConv: new shading and texture, same shape)",
    )
    spin_share: float | None = from_preset(
        0.5,
        "with --augment photo, the share of photo-like footwear turned to any angle, as a shoe lies on a floor "
        "(the rest tilt by at most 12 degrees)",
    )
    # Chosen on product photos (benchmarks/candidates.py).
    sandal_straps: float | None = from_preset(
        1.0,
        "with --augment photo, the share of the sandals' made-up top views drawn as a sandal looks from above "
        "(its footbed between straps, no opening) instead of the plain oval every shoe gets",
    )
    precision: str | None = from_preset(
        "auto",
        "bf16: bfloat16 autocast for the forward and backward passes (the weights stay fp32), about 1.7x "
        "faster on CPUs with AVX512-BF16 or AMX and on recent GPUs, but emulated and several times slower on "
        "other CPUs; fp32: plain fp32; auto: bf16 where the device has native bfloat16, fp32 elsewhere",
        choices=PRECISIONS,
    )
    # What `precision` resolved to on this machine (device.resolve_precision); train.py fills it,
    # so it has no help and no flag.
    precision_used: str | None = None
    val_size: int | None = from_preset(
        5000,
        "training images held out for validation, never trained on; with --limit-train, the preset's value "
        "is capped at a tenth of the limit",
    )
    seed: int = option(42, "seed for weights, shuffling and augmentation")
    data_dir: str | None = option(
        None,
        "folder with the four Fashion-MNIST IDX files, .gz or not",
        default_text=f"${ENV_VAR}, else {DEBIAN_DIR}, else download with torchvision",
    )
    output_dir: str | None = option(None, "where artifacts and the checkpoint go", default_text="runs/PRESET")
    limit_train: int | None = option(None, "use only the first N training images", default_text="all")
    limit_test: int | None = option(None, "use only the first N test images", default_text="all")
    device: str = option("auto", "auto: cuda, then mps, then cpu", choices=DEVICES)
    resume: bool = option(False, "continue from OUTPUT_DIR/checkpoint.pt")
    overwrite: bool = option(
        False,
        "replace the finished run or the checkpoint that OUTPUT_DIR holds; without it (or --resume) train.py stops "
        "before training and says what is there",
    )
    no_progress: bool = option(False, "no progress bars, only one line per epoch")
    push_to_hub: str | None = option(
        None,
        "after training, upload the artifacts to this Hub repo in one commit; the token comes from "
        "$HF_TOKEN or `hf auth login`",
        default_text="no upload",
        metavar="REPO_ID",
    )

    @classmethod
    def preset_values(cls, preset: str) -> dict[str, Any]:
        """Every recipe field's value under `preset`: its change, else the field's default."""
        if preset not in PRESET_CHANGES:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_CHANGES)}")
        changes = PRESET_CHANGES[preset]
        return {
            f.name: changes.get(f.name, f.metadata["preset_default"])
            for f in dataclasses.fields(cls)
            if "preset_default" in f.metadata
        }

    def resolve(self) -> TrainConfig:
        """A copy with the preset's values in every field the caller left unset."""
        filled = {
            name: copy.deepcopy(value)  # a caller appending to hidden_units must not change the preset
            for name, value in self.preset_values(self.preset).items()
            if getattr(self, name) is None
        }
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
        for f in dataclasses.fields(self):
            value, choices = getattr(self, f.name), f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                problems.append(f"{flag(f.name)} must be one of {', '.join(choices)}, got {value!r}")
        if self.epochs is not None and self.epochs < 1:
            problems.append(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.lr is not None and self.lr <= 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            problems.append(f"--dropout must be in [0, 1), got {self.dropout}")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{flag(name)} must be at least 1 image (leave it out to use them all), got {value}")
        if self.val_size is not None and self.val_size < 0:
            problems.append(f"--val-size must not be negative, got {self.val_size}")
        if self.limit_train is not None and self.val_size and self.val_size >= self.limit_train:
            problems.append(
                f"--val-size {self.val_size} would hold out all of the {self.limit_train} images of --limit-train; "
                "hold out fewer, or train on more"
            )
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                problems.append(f"{flag(name)} must be a finite number, got {value}")
        if self.momentum is not None and not 0 <= self.momentum < 1:
            problems.append(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay is not None and self.weight_decay < 0:
            problems.append(f"--weight-decay must not be negative, got {self.weight_decay}")
        if self.seed < 0:
            problems.append(f"--seed must not be negative, got {self.seed}")
        if self.resume and self.overwrite:
            problems.append(
                "--resume continues the checkpoint in the output folder and --overwrite discards it: give one of them"
            )
        for name in ("photo_share", *PHOTO_LIKE_SHARES):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                problems.append(f"{flag(name)} must be in [0, 1], got {value}")
        if problems:
            raise ValueError("; ".join(problems))

    def photo_like_shares(self) -> dict[str, float]:
        """The shares that `model.training.augment.photo_like` takes, as this resolved config sets them."""
        return {name: getattr(self, name) for name in PHOTO_LIKE_SHARES}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    def recipe(self) -> dict[str, Any]:
        recipe = {name: getattr(self, name) for name in RECIPE_FIELDS}
        # The arithmetic is decided by what `auto` resolved to, so a run started with auto
        # resumes with auto on the same machine, or with that precision named.
        if self.precision_used is not None:
            recipe["precision"] = self.precision_used
        return recipe


# Every recipe field's value under each preset, for code that reads one without building a config.
PRESETS: dict[str, dict[str, Any]] = {name: TrainConfig.preset_values(name) for name in PRESET_CHANGES}

# Fields that define the result of a run; resuming with different values would mix two runs.
RECIPE_FIELDS = (*PRESETS["default"], "seed", "limit_train", "limit_test")
