"""Candidate models side by side on all three photo sets and Fashion-MNIST: the table of steps.

    python benchmarks/candidates.py [NAME=]RUN [[NAME=]RUN...] [--photos ../shared] [--plot PNG] [--record FOLDER]

Each photo of `real-photos`, `real-photos-large` and `product-photos` is decoded and preprocessed
once (`model.preprocess.prepare_image`, as `classify` does it) and then answered by every model with
`model.predict.answer_logits`, the second half of `classify`, so comparing ten runs costs one pass of
preprocessing. Per model it prints one Markdown row: the product photos' mean of the per-class
accuracies (Sandal, Sneaker, Bag), the phone photos' mean of the per-label accuracies on both sets
and the right class among the three shown, the weakest label and shoes on the large set, and, from
the run's metrics.json, the Fashion-MNIST test accuracy, its calibration error and the training
minutes. The figures are those of benchmarks/real_photos.py and product_photos.py; a run without a
photo calibration (`python -m model.publishing.recalibrate RUN --photos ...`) refuses no frame.
`--plot PNG` also draws the runs on the two photo axes, each named with its Fashion-MNIST accuracy,
beside the targets: the trade-off when no run reaches them all. A run given as `NAME=RUN` is called
NAME in the table, the plot and the record. `--record FOLDER` stores the figures in FOLDER's
metrics.json (FOLDER must be one of the runs, so that it is measured as the others are) and rewrites
its model card, whose "Candidates" section then says which way each other run leans against it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # figures are files; never open a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if __package__ in (None, ""):  # run as a script: its neighbours are importable by name
    from product_photos import read_labels, restored
else:  # imported as benchmarks.candidates (the tests)
    from benchmarks.product_photos import read_labels, restored
from model import artifacts
from model.loading import load
from model.predict import TOP_CLASSES, answer_logits
from model.preprocess import ImageError, Prepared, prepare_image
from model.tinyvgg import TinyVGG
from model.training.metrics import read_metrics
from model.training.photoset import read_photo_set

DEFAULT_PHOTOS = artifacts.CHECKOUT.parent / "shared"
PHONE_SETS = ("real-photos-large", "real-photos")
PRODUCT_SET = "product-photos"
# The shipped model's targets (docs/real-photos.md, "Product photos"): the product photos' mean per class and
# the large phone set's mean per label.
PRODUCT_TARGET, PHONE_TARGET = 0.78, 0.68


# One photo: its label, the classes that count as right, and the photo prepared (None: refused).
Photo = tuple[str, list[str], Prepared | None]


def prepared_sets(photos: Path) -> dict[str, list[Photo]]:
    """Every photo of the three sets, prepared once; the phone sets' labels without a class are left out."""
    sets = {}
    for name in PHONE_SETS:
        photo_set = read_photo_set(photos / name)
        sets[name] = [
            (label, photo_set.right[label], prepared_or_none(path))
            for label, path in photo_set.photos
            if label in photo_set.right
        ]
    sets[PRODUCT_SET] = product_photos(photos / PRODUCT_SET)
    return sets


def product_photos(folder: Path) -> list[Photo]:
    """The product photos in `folder`, each restored to its shop colours and prepared; its class is its label."""
    return [(label, [label], prepared_or_none(restored(path))) for path, label in read_labels(folder)]


def prepared_or_none(source) -> Prepared | None:
    """The photo prepared as `classify` prepares it; None where it refuses the image."""
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


def figures(folder: str, sets: dict[str, list[Photo]]) -> dict:
    """The figures of the model in `folder`: the photo sets' as measured here, Fashion-MNIST's from its metrics.json."""
    model = load(folder)
    product = scores(model, sets[PRODUCT_SET])["accuracy"]
    large, small = (scores(model, sets[name]) for name in PHONE_SETS)
    metrics = read_metrics(folder)
    weakest = min(large["accuracy"], key=large["accuracy"].get)
    return {
        "product_mean": float(np.mean(list(product.values()))),
        "product": product,
        "large_mean": float(np.mean(list(large["accuracy"].values()))),
        "large_top3": float(np.mean(list(large["top3"].values()))),
        "weakest": (weakest, large["accuracy"][weakest]),
        "shoes": large["accuracy"].get("shoes", float("nan")),
        "small_mean": float(np.mean(list(small["accuracy"].values()))),
        "small_top3": float(np.mean(list(small["top3"].values()))),
        "test_accuracy": metrics["test_accuracy"],
        "ece": metrics.get("calibration", {}).get("ece_after"),
        "train_minutes": metrics["train_seconds"] / 60,
    }


def named(arg: str) -> tuple[str, str]:
    """`NAME=RUN` -> (NAME, RUN); a bare RUN is named by itself."""
    name, sep, folder = arg.partition("=")
    return (name, folder) if sep else (arg, arg)


def candidate(name: str, found: dict) -> dict:
    """The figures of a run that a model card's "Candidates" section shows (`model.training.metrics.Candidate`)."""
    return {
        "name": name,
        "product_photos": found["product_mean"],
        "phone_photos_large": found["large_mean"],
        "phone_photos": found["small_mean"],
        "test_accuracy": found["test_accuracy"],
        "train_minutes": found["train_minutes"],
    }


def row(name: str, found: dict) -> str:
    """The Markdown row of the run called `name`, from its `figures`."""
    cells = [
        name,
        f"**{found['product_mean']:.1%}**",
        " / ".join(f"{found['product'][name]:.1%}" for name in ("Sandal", "Sneaker", "Bag")),
        f"**{found['large_mean']:.1%}**",
        f"{found['large_top3']:.1%}",
        f"{found['weakest'][1]:.1%} ({found['weakest'][0]})",
        f"{found['shoes']:.1%}",
        f"**{found['small_mean']:.1%}**",
        f"{found['small_top3']:.1%}",
        f"{found['test_accuracy']:.2%}",
        "-" if found["ece"] is None else f"{found['ece']:.2%}",
        f"{found['train_minutes']:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def plot_tradeoff(found: dict[str, dict], path: Path) -> Figure:
    """The candidates on the two photo axes (product photos, the large phone set), each named with its
    Fashion-MNIST test accuracy, beside the targets; saved to `path`."""
    figure, axes = plt.subplots(figsize=(7, 5), dpi=120)
    names = list(found)
    x = [found[name]["product_mean"] * 100 for name in names]
    y = [found[name]["large_mean"] * 100 for name in names]
    points = axes.scatter(x, y, c=[found[name]["test_accuracy"] * 100 for name in names], cmap="viridis")
    figure.colorbar(points, ax=axes, label="Fashion-MNIST test accuracy (%)")
    middle = (min(x) + max(x)) / 2
    for name, px, py in zip(names, x, y):
        label = f"{Path(name).name}\n{found[name]['test_accuracy']:.2%}"
        right_half = px > middle  # named on its left, so that no name runs off the plot
        axes.annotate(
            label,
            (px, py),
            textcoords="offset points",
            xytext=(-5 if right_half else 5, 4),
            ha="right" if right_half else "left",
            fontsize=7,
        )
    axes.axvline(PRODUCT_TARGET * 100, color="grey", linestyle="--", linewidth=1)
    axes.axhline(PHONE_TARGET * 100, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("product photos: mean of per-class accuracy (%)")
    axes.set_ylabel("phone photos (large set): mean of per-label accuracy (%)")
    axes.set_title("Candidates and the targets (dashed): up and right is better")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return figure


HEADER = (
    "| run | product photos, mean | Sandal / Sneaker / Bag | phone photos (large), mean | among 3 shown "
    "| weakest label | shoes | phone photos (290), mean | among 3 shown | Fashion-MNIST test | its ECE "
    "| training minutes |\n"
    "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "runs", nargs="+", metavar="[NAME=]RUN", help="model folders written by train.py, each optionally named"
    )
    parser.add_argument(
        "--photos",
        type=Path,
        default=DEFAULT_PHOTOS,
        help=f"the folder holding {', '.join(PHONE_SETS)} and {PRODUCT_SET} (default: {DEFAULT_PHOTOS})",
    )
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="also draw the candidates on the two photo axes, with the targets"
    )
    parser.add_argument(
        "--record",
        metavar="FOLDER",
        type=Path,
        help="also store the figures in FOLDER/metrics.json (FOLDER is one of the runs) and rewrite its card",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    runs = dict(named(arg) for arg in args.runs)
    if len(runs) < len(args.runs):
        print("error: two runs have the same name; name each one NAME=RUN", file=sys.stderr)
        return 1
    this = [name for name, folder in runs.items() if args.record and Path(folder).resolve() == args.record.resolve()]
    if args.record and not this:
        print(f"error: {args.record} is not among the runs; give it as NAME={args.record}", file=sys.stderr)
        return 1
    try:
        sets = prepared_sets(args.photos)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(HEADER)
    found = {}
    for name, folder in runs.items():
        found[name] = figures(folder, sets)
        print(row(name, found[name]), flush=True)
    if args.plot:
        plot_tradeoff(found, args.plot)
        print(f"trade-off plot: {args.plot}")
    if args.record:
        from model.publishing.card import record_figures

        others = [candidate(name, run) for name, run in found.items() if name != this[0]]
        record = {
            "this": candidate(this[0], found[this[0]]),
            "runs": others,
            "command": shlex.join(["python", "benchmarks/candidates.py", *argv]),
        }
        try:
            record_figures(args.record, load(args.record), "candidates", record)
        except (FileNotFoundError, ValueError) as err:  # no metrics.json there, or not as it should be
            print(f"error: cannot record in {args.record}: {err}", file=sys.stderr)
            return 1
        print(f"recorded in {args.record / 'metrics.json'} and its model card")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
