"""Recalibrate a trained folder in place: fit with model.training.calibrate, then rewrite its files and card.

    python -m model.publishing.recalibrate FOLDER                    # the Fashion-MNIST calibration again
    python -m model.publishing.recalibrate FOLDER --photos DIR [DIR ...]  # then the photo calibration

train.py calibrates as it trains; this is for a folder whose calibration should change afterwards
(the photo calibration, on labelled real photos, is only ever fitted here). The weights stay as
they are: config.json, metrics.json, the reliability diagrams and the card are written anew, and
model.onnx, which holds the old temperatures, is removed until `python -m model.publishing.export`
writes it again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model import artifacts
from model.errors import ModelFolderError
from model.loading import load_folder
from model.publishing.card import card_kwargs
from model.training import run_folder
from model.training.calibrate import calibrate, calibrate_photos, plot_photo_reliability, plot_reliability
from model.training.config import BEFORE_THE_OPTION, PHOTO_LIKE_SHARES
from model.training.data import DataError, load_fashion_mnist, split
from model.training.metrics import MetricsError, read_metrics, write_metrics
from model.training.photoset import read_photo_set


def calibrate_folder(folder: str | Path, data_dir: str | None = None) -> dict:
    """Calibrate a folder written by train.py in place: weights, config, metrics, card, reliability diagram."""
    folder = Path(folder)
    model = load_folder(folder)
    if not (folder / artifacts.TRAINING_ARGS).is_file():
        raise ModelFolderError(
            f"{folder} has no {artifacts.TRAINING_ARGS}, so the held-out images it was calibrated on are unknown. "
            "Calibrate a folder written by `python train.py`."
        )
    args = json.loads((folder / artifacts.TRAINING_ARGS).read_text())
    if not args.get("val_size"):
        raise ModelFolderError(
            f"{folder} was trained without held-out images (--val-size 0): there is nothing to calibrate on. "
            "Train with --val-size 5000 (the default preset's) to calibrate."
        )
    data = load_fashion_mnist(data_dir)
    train, val, test = split(data, args["limit_train"], args["limit_test"], args["val_size"], args["seed"])
    # Runs from before these options existed (no value, or null) made what BEFORE_THE_OPTION says.
    shares = {name: BEFORE_THE_OPTION[name] if args.get(name) is None else args[name] for name in PHOTO_LIKE_SHARES}
    calibrated, found, probabilities = calibrate(model, train, val, test, **shares)
    metrics = read_metrics(folder) | found
    # The photo calibration was cleared with the temperature it builds on: fit it again (--photos), then
    # measure the real and product photos again (benchmarks/real_photos.py and product_photos.py --record),
    # which were measured with it.
    metrics.pop("photo_calibration", None)
    metrics.pop("real_photos", None)
    metrics.pop("product_photos", None)
    write_metrics(folder, metrics)
    plot_reliability(probabilities, test[1], folder / artifacts.RELIABILITY)
    # The photo calibration's diagram and the ONNX graph hold the old temperature: redo them to have them.
    run_folder.remove_stale(folder, run_folder.STALE_AFTER_TRAINING)
    # Weights, config.json and the card, which now reports all this.
    calibrated.save_pretrained(folder, model_card_kwargs=card_kwargs(folder, calibrated))
    return found


def calibrate_photos_folder(folder: str | Path, photos: list[str | Path]) -> dict:
    """Fit the photo calibration of a trained folder in place on folders of labelled real photos (`calibrate_photos`).

    Writes config.json, metrics.json ("photo_calibration"), reliability_photos.png and the card.
    """
    folder = Path(folder)
    photo_sets = [read_photo_set(path) for path in photos]
    calibrated, found, probabilities = calibrate_photos(load_folder(folder), photo_sets)
    write_metrics(folder, read_metrics(folder) | {"photo_calibration": found})
    plot_photo_reliability(probabilities, folder / artifacts.RELIABILITY_PHOTOS)
    # model.onnx carries the photo temperature in its photo_logits output: export it again.
    run_folder.remove_stale(folder, run_folder.STALE_AFTER_CALIBRATION)
    calibrated.save_pretrained(folder, model_card_kwargs=card_kwargs(folder, calibrated))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.publishing.recalibrate", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a folder written by train.py with a --val-size > 0")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files (default: as model.training.data)")
    parser.add_argument(
        "--photos",
        metavar="DIR",
        nargs="+",
        help="fit only the photo calibration (photo_temperature, frame_threshold) on these folders of labelled "
        "real photos, e.g. ../shared/real-photos-large (default: fit the Fashion-MNIST "
        "calibration, which clears the photo calibration)",
    )
    args = parser.parse_args(argv)
    try:
        if args.photos:
            found = calibrate_photos_folder(args.folder, args.photos)
        else:
            found = calibrate_folder(args.folder, args.data_dir)
    except (FileNotFoundError, ValueError, DataError, MetricsError) as err:  # ModelFolderError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
