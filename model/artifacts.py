"""The files of a run folder by name, and the few sets of them that loading, the app and a Space read.

A run folder is what `python train.py --output-dir DIR` writes (model/pretrained is one), plus what later commands
add (recalibrate, export). Every module names these files through this one; which a push publishes and which a new
run makes stale is model.training.run_folder's.
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
METRICS = "metrics.json"  # model.training.metrics.Metrics: what train.py measured, and what calibration adds
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
