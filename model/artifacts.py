"""The files of a run folder: what each is called, and which of them ship, get published and go stale.

A run folder is what `python train.py --output-dir DIR` writes (model/pretrained is one), plus
what later commands add to it (`python -m model.publishing.recalibrate`, `python -m model.publishing.export`). Every
module names these files through this one, so a rename or a new file is one edit here.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub.constants import CONFIG_NAME, REPOCARD_NAME, SAFETENSORS_SINGLE_FILE

# The library's folder, the model it ships, and the checkout it sits in when installed editable
# (pyproject.toml, app.py, examples/ and web/ are there; an installed wheel has no checkout).
PACKAGE = Path(__file__).resolve().parent
PRETRAINED = PACKAGE / "pretrained"
CHECKOUT = PACKAGE.parent

WEIGHTS = SAFETENSORS_SINGLE_FILE  # model.safetensors
CONFIG = CONFIG_NAME  # config.json: the arguments that rebuild the model, class names and calibration included
CARD = REPOCARD_NAME  # README.md: the model card (model.publishing.card)
METRICS = "metrics.json"  # model.metrics.Metrics: what train.py measured, and what calibration adds
TRAINING_ARGS = "training_args.json"  # the run's TrainConfig
CHECKPOINT = "checkpoint.pt"  # the state to resume from; never published
CONFUSION_MATRIX = "confusion_matrix.png"
LOSS_CURVES = "loss_curves.png"
RELIABILITY = "reliability_diagram.png"  # Fashion-MNIST test set, before and after calibration
RELIABILITY_PHOTOS = "reliability_photos.png"  # real photos (python -m model.publishing.recalibrate --photos)
ONNX = "model.onnx"  # python -m model.publishing.export
TENSORBOARD = "tensorboard"  # a folder of TensorBoard event files (model.training.curves)
TENSORBOARD_EVENTS = f"{TENSORBOARD}/events.out.tfevents.*"
# In a Hub repo pushed by `python -m model.publishing.hub push`: the package's wheel, so the repo carries its own code.
CODE = "code"

# The figures train.py and calibration draw, which the card shows when they travel with it.
FIGURES = (CONFUSION_MATRIX, LOSS_CURVES, RELIABILITY, RELIABILITY_PHOTOS)
# What describes a model beside its weights: the app's "About this model" panel reads them.
DESCRIPTION = (CONFIG, CARD, METRICS, CONFUSION_MATRIX)
# What a Space bundle carries of a model, when it carries one.
SPACE_FILES = (WEIGHTS, *DESCRIPTION)
# Beside the weights, config and card (which every save writes), what a save or a push publishes.
RUN_FILES = (METRICS, TRAINING_ARGS, *FIGURES, ONNX, TENSORBOARD_EVENTS)

# Made from the weights by a later command, so a new training run makes them stale: file -> why and how to redo it.
STALE_AFTER_TRAINING = {
    ONNX: "python -m model.publishing.export re-creates it",
    RELIABILITY_PHOTOS: "python -m model.publishing.recalibrate FOLDER --photos DIR re-creates it",
}
# The ONNX graph holds the calibration, so new calibration values make it stale too.
STALE_AFTER_CALIBRATION = {ONNX: "python -m model.publishing.export re-creates it"}


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
