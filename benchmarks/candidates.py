"""Candidate models side by side on all three photo sets and Fashion-MNIST: the table of steps.

    python benchmarks/candidates.py RUN [RUN...] [--photos ../shared]

Each photo of `real-photos`, `real-photos-large` and `product-photos` is decoded and preprocessed
once (`model.preprocess.prepare_image`, as `classify` does it) and then answered by every model with
`model.predict.answer_logits`, the second half of `classify`, so comparing ten runs costs one pass of
preprocessing. Per model it prints one Markdown row: the product photos' mean of the per-class
accuracies (Sandal, Sneaker, Bag), the phone photos' mean of the per-label accuracies on both sets
and the right class among the three shown, the weakest label and shoes on the large set, and, from
the run's metrics.json, the Fashion-MNIST test accuracy, its calibration error and the training
minutes. The figures are those of benchmarks/real_photos.py and product_photos.py; a run without a
photo calibration (`python -m model.publishing.recalibrate RUN --photos ...`) refuses no frame.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: its neighbours are importable by name
    from product_photos import read_labels, restored
else:  # imported as benchmarks.candidates (the tests)
    from benchmarks.product_photos import read_labels, restored
from model import artifacts
from model.loading import load
from model.metrics import read_metrics
from model.predict import TOP_CLASSES, answer_logits
from model.preprocess import ImageError, Prepared, prepare_image
from model.tinyvgg import TinyVGG
from model.training.photoset import read_photo_set

DEFAULT_PHOTOS = artifacts.CHECKOUT.parent / "shared"
PHONE_SETS = ("real-photos-large", "real-photos")
PRODUCT_SET = "product-photos"


# One photo: its label, the classes that count as right, and the photo prepared (None: refused).
Photo = tuple[str, list[str], Prepared | None]


def prepared_sets(photos: Path) -> dict[str, list[Photo]]:
    """Every photo of the three sets, prepared once; the phone sets' labels without a class are left out."""
    sets = {}
    for name in PHONE_SETS:
        photo_set = read_photo_set(photos / name)
        sets[name] = [
            (label, photo_set.right[label], _prepared(path))
            for label, path in photo_set.photos
            if label in photo_set.right
        ]
    sets[PRODUCT_SET] = [
        (label, [label], _prepared(restored(path))) for path, label in read_labels(photos / PRODUCT_SET)
    ]
    return sets


def _prepared(source) -> Prepared | None:
    try:
        return prepare_image(source)
    except ImageError:
        return None


def scores(model: TinyVGG, photos: list[Photo]) -> dict[str, dict[str, float]]:
    """Per label: the share whose top class is right, and whose right class is among the three shown."""
    right, in_top = defaultdict(list), defaultdict(list)
    for label, classes, prepared in photos:
        ranked = []
        if prepared is not None:
            try:
                logits, _ = answer_logits(model, prepared)
                ranked = [model.class_names[i] for i in logits.argsort(descending=True)[:TOP_CLASSES]]
            except ImageError:  # taken whole, and it does not look like a garment: refused, as the app does
                pass
        right[label].append(bool(ranked) and ranked[0] in classes)
        in_top[label].append(any(name in classes for name in ranked))
    return {
        "accuracy": {label: float(np.mean(v)) for label, v in right.items()},
        "top3": {label: float(np.mean(v)) for label, v in in_top.items()},
    }


def row(folder: str, sets: dict[str, list[Photo]]) -> str:
    """The Markdown row of the model in `folder`."""
    model = load(folder)
    product = scores(model, sets[PRODUCT_SET])["accuracy"]
    large, small = (scores(model, sets[name]) for name in PHONE_SETS)
    metrics = read_metrics(folder)
    ece = metrics.get("calibration", {}).get("ece_after")
    cells = [
        folder,
        f"**{np.mean(list(product.values())):.1%}**",
        " / ".join(f"{product[name]:.1%}" for name in ("Sandal", "Sneaker", "Bag")),
        f"**{np.mean(list(large['accuracy'].values())):.1%}**",
        f"{np.mean(list(large['top3'].values())):.1%}",
        f"{min(large['accuracy'].values()):.1%} ({min(large['accuracy'], key=large['accuracy'].get)})",
        f"{large['accuracy'].get('shoes', float('nan')):.1%}",
        f"**{np.mean(list(small['accuracy'].values())):.1%}**",
        f"{np.mean(list(small['top3'].values())):.1%}",
        f"{metrics['test_accuracy']:.2%}",
        "-" if ece is None else f"{ece:.2%}",
        f"{metrics['train_seconds'] / 60:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| run | product photos, mean | Sandal / Sneaker / Bag | phone photos (large), mean | among 3 shown "
    "| weakest label | shoes | phone photos (290), mean | among 3 shown | Fashion-MNIST test | its ECE "
    "| training minutes |\n"
    "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="model folders written by train.py")
    parser.add_argument(
        "--photos",
        type=Path,
        default=DEFAULT_PHOTOS,
        help=f"the folder holding {', '.join(PHONE_SETS)} and {PRODUCT_SET} (default: {DEFAULT_PHOTOS})",
    )
    args = parser.parse_args(argv)
    try:
        sets = prepared_sets(args.photos)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(HEADER)
    for folder in args.runs:
        print(row(folder, sets), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
