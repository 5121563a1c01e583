"""How the app does on people's own phone photos of clothes, through the app's own code.

    python benchmarks/real_photos.py [DIR] [--model model/pretrained] [--figure images/real_photos.png]

DIR holds one folder of photos per label and a `labels.json` that maps each label to the
Fashion-MNIST classes that count as right (default: ../shared/real-photos, 341 CC0 photos from
the clothing dataset by Alexey Grigorev and contributors). Each photo goes through the app's
`app.classify` (preprocessing, model and warning), exactly as an upload does. Accuracy is reported per label and
as the mean over the labels that map to Fashion-MNIST classes, so that the mix of labels does
not matter. Labels with no Fashion-MNIST class (hat, shorts, skirt) are only described.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py sits at the top of the repository, beside this folder

from app import PREDICTION_THREADS, classify  # noqa: E402
from model.preprocess import ImageError  # noqa: E402
from model.report import save_figure  # noqa: E402
from model.tinyvgg import TinyVGG  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "real-photos"
SOURCE_URL = "https://github.com/alexeygrigorev/clothing-dataset-small"
LICENSE = "CC0 1.0"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def load_labels(folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """(label -> classes that count as right, labels with no Fashion-MNIST class) from labels.json."""
    spec = json.loads((folder / "labels.json").read_text())
    return spec["classes"], spec.get("not_fashion_mnist_classes", [])


def classify_folder(folder: Path, model: TinyVGG) -> list[dict]:
    """One record per photo: its label, the app's top class, warning, 28x28 input and time."""
    mapped, unmapped = load_labels(folder)
    records = []
    for label in sorted([*mapped, *unmapped]):
        for path in sorted(p for p in (folder / label).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
            started = time.perf_counter()
            try:
                answer = classify(path, model)
                predicted = max(answer.label, key=answer.label.get)
                warning, error, seen = answer.warning, "", answer.pixels.numpy() / 255
            except ImageError as err:  # counted as wrong, and its time too: a refusal is an answer
                predicted, warning, error, seen = "(error)", "", str(err), None
            seconds = time.perf_counter() - started
            records.append(
                {
                    "label": label,
                    "path": path,
                    "predicted": predicted,
                    "right": predicted in mapped.get(label, []),
                    "warned": bool(warning),
                    "error": error,
                    "seen": seen,
                    "seconds": seconds,
                }
            )
    return records


def summarize(records: list[dict], mapped: dict[str, list[str]]) -> dict:
    """Accuracy per mapped label and their mean, the warning rate on real garments, the confusion."""
    per_label = {
        label: float(np.mean([r["right"] for r in records if r["label"] == label]))
        for label in mapped
        if any(r["label"] == label for r in records)
    }
    garments = [r for r in records if r["label"] in mapped]
    return {
        "photos": len(records),
        "mapped_photos": len(garments),
        "per_label": per_label,
        "mean_accuracy": float(np.mean(list(per_label.values()))),
        "warned": float(np.mean([r["warned"] for r in garments])),
        "errors": sum(bool(r["error"]) for r in records),
        "confusion": {
            label: dict(Counter(r["predicted"] for r in records if r["label"] == label).most_common())
            for label in sorted({r["label"] for r in records})
        },
        "ms_per_photo_median": 1000 * float(np.median([r["seconds"] for r in records])),
    }


def record(folder: Path, model: TinyVGG, found: dict, mapped: dict[str, list[str]], argv: list[str]) -> None:
    """Merge the figures into a model folder's metrics.json, under "real_photos", and rewrite its card."""
    from model.card import write_card
    from model.files import write_json

    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["real_photos"] = found | {
        "right": {label: mapped[label] for label in found["per_label"]},
        "source_url": SOURCE_URL,
        "license": LICENSE,
        "command": shlex.join(["python", "benchmarks/real_photos.py", *argv]),
    }
    write_json(folder / "metrics.json", metrics)
    write_card(folder, model)


def plot_samples(records: list[dict], mapped: dict[str, list[str]], path: Path, per_label: int = 4) -> None:
    """A grid of photos beside the 28x28 image the model saw and its answer (green: right)."""
    rng = np.random.default_rng(0)
    labels = sorted({r["label"] for r in records})
    fig, axes = plt.subplots(len(labels), 2 * per_label, figsize=(2 * per_label * 1.1, len(labels) * 1.25))
    for row, label in enumerate(labels):
        mine = [r for r in records if r["label"] == label]
        chosen = rng.choice(len(mine), size=min(per_label, len(mine)), replace=False)
        for col in range(per_label):
            photo_ax, seen_ax = axes[row, 2 * col], axes[row, 2 * col + 1]
            photo_ax.axis("off")
            seen_ax.axis("off")
            if col >= len(chosen):
                continue
            shown = mine[chosen[col]]
            with Image.open(shown["path"]) as image:
                image.draft("RGB", (160, 160))
                thumb = ImageOps.exif_transpose(image).convert("RGB")
            thumb.thumbnail((160, 160))
            photo_ax.imshow(thumb)
            if col == 0:
                photo_ax.set_title(label, fontsize=8, loc="left")
            if shown["seen"] is not None:
                seen_ax.imshow(shown["seen"], cmap="gray", vmin=0, vmax=1)
            colour = "green" if shown["right"] else ("black" if label not in mapped else "red")
            seen_ax.set_title(shown["predicted"] + (" (!)" if shown["warned"] else ""), fontsize=7, color=colour)
    fig.suptitle("Real photos, what the model saw (28x28) and its answer; (!) = not-clothing warning", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, default=DEFAULT_DIR, help=f"photos and labels.json (default: {DEFAULT_DIR})"
    )
    parser.add_argument("--model", default="model/pretrained", help="model folder or Hub repo (default: %(default)s)")
    parser.add_argument(
        "--figure", type=Path, default=ROOT / "images" / "real_photos.png", help="sample grid (default: %(default)s)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FOLDER",
        help="also store the figures in FOLDER/metrics.json (a trained model folder) and rewrite its card",
    )
    args = parser.parse_args(argv)
    if not (args.folder / "labels.json").is_file():
        parser.error(f"{args.folder} has no labels.json: give a folder of real photos (see the README)")

    mapped, unmapped = load_labels(args.folder)
    model = TinyVGG.from_pretrained(args.model)
    torch.set_num_threads(PREDICTION_THREADS)  # as `python app.py` does
    classify(ROOT / "examples" / "shop-sneaker.jpg", model)  # warm-up: imports and first-call allocations
    records = classify_folder(args.folder, model)
    found = summarize(records, mapped)

    print(f"photos: {found['photos']} ({found['mapped_photos']} of garments that map to Fashion-MNIST classes)")
    print(f"mean of the per-label accuracies: {found['mean_accuracy']:.1%}")
    for label, accuracy in sorted(found["per_label"].items(), key=lambda item: item[1]):
        print(f"  {label:<11} {accuracy:6.1%}  right: {', '.join(mapped[label])}")
    print(f"real garments given the not-clothing warning: {found['warned']:.1%}")
    print(f"photos refused with an error: {found['errors']}")
    print("what the app answers (label -> predicted class: photos):")
    for label, answers in found["confusion"].items():
        note = "" if label in mapped else "  (not a Fashion-MNIST class)"
        print(f"  {label:<11} " + ", ".join(f"{name}: {count}" for name, count in answers.items()) + note)
    print(f"milliseconds per photo (decode, preprocess, model, warning), median: {found['ms_per_photo_median']:.1f}")
    plot_samples(records, mapped, args.figure)
    print(f"wrote {args.figure}")
    if args.record:
        record(
            args.record, TinyVGG.from_pretrained(args.record), found, mapped, argv if argv is not None else sys.argv[1:]
        )
        print(f"recorded in {args.record / 'metrics.json'} and its model card")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
