"""How the app does on shop photos of footwear and bags on white, where Sandal, Sneaker and Ankle boot differ.

    python benchmarks/product_photos.py [DIR] [--model model/pretrained] [--json] [--record FOLDER]

DIR holds `labels.csv` (file, fmnist_class, ...) and the photos under `images/` (default:
../shared/product-photos, 816 catalogue photos: Sandal 227, Sneaker 203, Bag 385; see its README).
Each photo is resized to 168x224 first, as that README asks (the copy squashed the 3:4 originals to
squares), then goes through the package's `model.classify` as an upload does; a refused photo counts
as wrong. Accuracy is reported per class and as the mean over the classes, so that the classes'
sizes do not matter, with the confusions, the share of photos warned about and the share answered
"unsure" (no class likely: model.predict.UNSURE_BELOW). Ankle boot has one photo in the set and is
left out of the figures. `--record FOLDER` stores them in a model folder's metrics.json, from which
its card and the README's results are written.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from model import ImageError, artifacts, classify
from model.loading import load
from model.tinyvgg import TinyVGG

DEFAULT_DIR = artifacts.CHECKOUT.parent / "shared" / "product-photos"
# The set's README: undo the squashing of the 3:4 catalogue photos before anything else.
SIZE = (168, 224)
# Classes with enough photos to report; the set's one Ankle boot is not a figure.
CLASSES = ("Sandal", "Sneaker", "Bag")
# The set's README: where the photos come from, and their licence as the catalogue lists it.
SOURCE = "Myntra catalogue photos (Kaggle: paramaggarwal/fashion-product-images-dataset)"
LICENSE = "MIT, as the Kaggle page lists it"


def read_labels(folder: Path) -> list[tuple[Path, str]]:
    """(photo, Fashion-MNIST class) for every row of labels.csv whose class is reported.

    Raises:
        FileNotFoundError: `folder` has no labels.csv.
    """
    if not (folder / "labels.csv").is_file():
        raise FileNotFoundError(f"{folder} has no labels.csv: give the product-photo folder (see its README.md)")
    with open(folder / "labels.csv", newline="") as rows:
        return [
            (folder / row["file"], row["fmnist_class"])
            for row in csv.DictReader(rows)
            if row["fmnist_class"] in CLASSES
        ]


def restored(path: Path) -> Image.Image:
    """The photo at its catalogue shape (168x224), as the set's README resizes it, ready for `classify`."""
    with Image.open(path) as photo:
        return photo.convert("RGB").resize(SIZE)


def measure(photos: list[tuple[Path, str]], model: TinyVGG) -> dict:
    """Per class: photos, accuracy and the wrong answers; their mean; the warned, refused and unsure shares."""
    answers: dict[str, Counter] = {name: Counter() for name in CLASSES}
    warned = refused = unsure = 0
    for path, truth in photos:
        try:
            answer = classify(restored(path), model)
        except ImageError:
            answers[truth]["(refused)"] += 1
            refused += 1
            continue
        answers[truth][max(answer.probabilities, key=answer.probabilities.get)] += 1
        warned += bool(answer.warning)
        unsure += answer.unsure
    per_class = {
        name: {
            "photos": sum(counts.values()),
            "accuracy": counts[name] / max(sum(counts.values()), 1),
            "answers": dict(counts.most_common()),  # class shown -> photos, the right one included
        }
        for name, counts in answers.items()
    }
    return {
        "photos": len(photos),
        "per_class": per_class,
        "mean_accuracy": sum(s["accuracy"] for s in per_class.values()) / len(per_class),
        "warned": warned / max(len(photos), 1),
        "refused": refused / max(len(photos), 1),
        "unsure": unsure / max(len(photos), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR, help=f"(default: {DEFAULT_DIR})")
    parser.add_argument(
        "--model", default=str(artifacts.PRETRAINED), help="model folder or Hub repo (default: the shipped model)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--record",
        metavar="FOLDER",
        type=Path,
        help="also store the figures in FOLDER/metrics.json (a trained model folder) and rewrite its card",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        photos = read_labels(args.folder)
        model = load(args.model)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    figures = measure(photos, model)
    if args.record:
        from model.publishing.card import record_figures

        command = shlex.join(["python", "benchmarks/product_photos.py", *argv])
        about = {"source": SOURCE, "license": LICENSE, "command": command}
        try:
            # The card is the recorded folder's, written with its own model.
            record_figures(args.record, load(args.record), "product_photos", figures | about)
        except (FileNotFoundError, ValueError) as err:  # no model or metrics.json there, or not as they should be
            print(f"error: cannot record in {args.record}: {err}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{figures['photos']} product photos from {args.folder}, through model.classify with {args.model}")
    print("| class | photos | accuracy | wrong answers |\n|---|---:|---:|---|")
    for name, scores in figures["per_class"].items():
        wrong = ", ".join(f"{k} {v}" for k, v in scores["answers"].items() if k != name)
        print(f"| {name} | {scores['photos']} | {scores['accuracy']:.1%} | {wrong} |")
    print(f"| **mean per class** | {figures['photos']} | **{figures['mean_accuracy']:.1%}** | |")
    if args.record:
        print(f"recorded in {args.record / 'metrics.json'} and its model card")
    print(
        f"warned: {figures['warned']:.1%} of the photos; refused: {figures['refused']:.1%}; "
        f"unsure: {figures['unsure']:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
