"""How the app does on people's own phone photos of clothes, through the app's own code.

    python benchmarks/real_photos.py [DIR] [--model model/pretrained] [--figure PNG]
                                     [--upscale 4000]

DIR holds one folder of photos per label and a `labels.json` that maps each label to the
Fashion-MNIST classes that count as right (default: ../shared/real-photos, 341 CC0 photos from
the clothing dataset by Alexey Grigorev and contributors; ../shared/real-photos-large holds 3,068
more). Each photo goes through the package's `model.classify`, as the app does (preprocessing, model, calibration and
warning), exactly as an upload does; a refused photo counts as wrong. Accuracy, and how often the
right class is among the three the app shows, are reported per label and as the mean over the
labels that map to Fashion-MNIST classes, so that the mix of labels does not matter. The
calibration error (ECE over 15 bins of the top class's probability) and the mean confidence are
over the garments the app answers. Labels with no Fashion-MNIST class (hat, shorts, skirt) are
only described, with how often the app is 80% sure or more of them anyway.

--upscale SIDE also runs UPSCALE_PER_LABEL photos of each mapped label upscaled to SIDE pixels on
the long side (JPEG quality 92, as a 12-megapixel phone photo arrives) and prints the share whose
answer stays the same.
"""

from __future__ import annotations

import argparse
import io
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

from model.predict import PREDICTION_THREADS, TOP_CLASSES, UNSURE_BELOW, Answer, classify  # noqa: E402
from model.preprocess import ImageError  # noqa: E402
from model.tinyvgg import TinyVGG  # noqa: E402
from model.training.calibrate import BINS, confidence_error  # noqa: E402
from model.training.photoset import PhotoSet, read_photo_set  # noqa: E402
from model.training.report import save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]  # the checkout: its examples/, images/ and the photos beside it

DEFAULT_DIR = ROOT.parent / "shared" / "real-photos"
SOURCE_URL = "https://github.com/alexeygrigorev/clothing-dataset-small"
LICENSE = "CC0 1.0"
# An answer this sure about a garment that is none of the ten classes (a hat) is overconfident.
SURE = 0.8
# Lines the unsure answer could take (model.predict.UNSURE_BELOW): each one's share of answers below
# it and how often those are right is printed, to choose it by.
UNSURE_LINES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
UPSCALE_PER_LABEL = 40
NOISE_DRAWS = 200
UPSCALE_QUALITY = 92


def answer_photo(source: Path | bytes, model: TinyVGG) -> tuple[Answer | None, str]:
    """The app's answer for one photo, or None and the message of a refusal."""
    try:
        return classify(source, model), ""
    except ImageError as err:
        return None, str(err)


def classify_folder(photos: PhotoSet, model: TinyVGG) -> list[dict]:
    """One record per photo: its label, the app's top classes, confidence, warning, 28x28 input and time."""
    records = []
    for label, path in photos.photos:
        started = time.perf_counter()
        answer, error = answer_photo(path, model)
        seconds = time.perf_counter() - started  # a refusal is an answer: its time counts too
        right = photos.right.get(label, [])
        ranked = sorted(answer.probabilities, key=answer.probabilities.get, reverse=True) if answer else ["(error)"]
        records.append(
            {
                "label": label,
                "path": path,
                "predicted": ranked[0],
                "confidence": answer.probabilities[ranked[0]] if answer else None,
                "right": ranked[0] in right,
                "in_top": any(name in right for name in ranked[:TOP_CLASSES]),
                "way": answer.way if answer else "refused",
                "warned": bool(answer and answer.warning),
                "error": error,
                "seen": answer.pixels.numpy() / 255 if answer else None,
                "seconds": seconds,
            }
        )
    return records


def noise_floor(confidence: torch.Tensor, draws: int = NOISE_DRAWS) -> float:
    """The mean ECE that a perfectly calibrated model would show with these confidences on this many
    photos: each answer drawn right with its own probability. Few photos per bin make ECE large by chance."""
    generator = torch.Generator().manual_seed(0)
    return float(
        np.mean(
            [
                confidence_error(confidence, torch.rand(len(confidence), generator=generator) < confidence)
                for _ in range(draws)
            ]
        )
    )


def summarize(records: list[dict], mapped: dict[str, list[str]]) -> dict:
    """Per mapped label and their mean: accuracy and the right class among the three shown; the
    calibration of the answered garments, refusals, warnings, the confusion."""

    def per_label(key: str) -> dict[str, float]:
        return {
            label: float(np.mean([r[key] for r in records if r["label"] == label]))
            for label in mapped
            if any(r["label"] == label for r in records)
        }

    accuracy, in_top = per_label("right"), per_label("in_top")
    garments = [r for r in records if r["label"] in mapped]
    answered = [r for r in garments if not r["error"]]
    others = [r for r in records if r["label"] not in mapped and not r["error"]]
    confidence = torch.tensor([r["confidence"] for r in answered])
    correct = torch.tensor([r["right"] for r in answered])
    single = torch.tensor([len(mapped[r["label"]]) == 1 for r in answered])
    return {
        "photos": len(records),
        "mapped_photos": len(garments),
        "per_label": accuracy,
        "mean_accuracy": float(np.mean(list(accuracy.values()))),
        "top3_per_label": in_top,
        "top3_mean": float(np.mean(list(in_top.values()))),
        "ece": confidence_error(confidence, correct) if answered else None,
        "ece_bins": BINS,
        # Labels with one right class: there the top class's probability can be checked class by class.
        "ece_single_class": confidence_error(confidence[single], correct[single]) if single.any() else None,
        "ece_noise_floor": noise_floor(confidence) if answered else None,
        "mean_confidence": float(confidence.mean()) if answered else None,
        "answered_accuracy": float(correct.float().mean()) if answered else None,
        "refused": float(np.mean([bool(r["error"]) for r in garments])),
        "others_sure": float(np.mean([r["confidence"] >= SURE for r in others])) if others else None,
        # Answered "unsure" (no class likely), and how often the top class is right on either side of the line.
        "unsure": float((confidence < UNSURE_BELOW).float().mean()) if answered else None,
        "right_when_unsure": _right_share(correct, confidence < UNSURE_BELOW) if answered else None,
        "right_when_sure": _right_share(correct, confidence >= UNSURE_BELOW) if answered else None,
        "others_unsure": float(np.mean([r["confidence"] < UNSURE_BELOW for r in others])) if others else None,
        "ways": dict(Counter(r["way"] for r in records)),
        "warned": float(np.mean([r["warned"] for r in garments])),
        "errors": sum(bool(r["error"]) for r in records),
        "confusion": {
            label: dict(Counter(r["predicted"] for r in records if r["label"] == label).most_common())
            for label in sorted({r["label"] for r in records})
        },
        "ms_per_photo_median": 1000 * float(np.median([r["seconds"] for r in records])),
    }


def _right_share(correct: torch.Tensor, where: torch.Tensor) -> float | None:
    """How often the answers `where` selects are right; None if it selects none."""
    return float(correct[where].float().mean()) if where.any() else None


def unsure_lines(records: list[dict], mapped: dict[str, list[str]]) -> list[tuple[float, float, float | None]]:
    """(line, share of answered garments below it, how often those are right) for each of UNSURE_LINES."""
    answered = [r for r in records if r["label"] in mapped and not r["error"]]
    confidence = torch.tensor([r["confidence"] for r in answered])
    correct = torch.tensor([r["right"] for r in answered])
    return [
        (line, float((confidence < line).float().mean()), _right_share(correct, confidence < line))
        for line in UNSURE_LINES
    ]


def record(folder: Path, model: TinyVGG, found: dict, mapped: dict[str, list[str]], argv: list[str]) -> None:
    """Merge the figures into a model folder's metrics.json, under "real_photos", and rewrite its card."""
    from model.publishing.card import record_figures

    figures = found | {
        "right": {label: mapped[label] for label in found["per_label"]},
        "source_url": SOURCE_URL,
        "license": LICENSE,
        "command": shlex.join(["python", "benchmarks/real_photos.py", *argv]),
    }
    record_figures(folder, model, "real_photos", figures)


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
    fig.suptitle("Real photos, what the model saw (28x28) and its answer; (!) = warned: unlike training", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def upscale_choice(photos: PhotoSet) -> list[tuple[str, Path]]:
    """The photos the upscale check runs: the first UPSCALE_PER_LABEL of each mapped label."""
    return [
        (label, path)
        for label in photos.right
        for path in [path for name, path in photos.photos if name == label][:UPSCALE_PER_LABEL]
    ]


def upscaled(path: Path, side: int) -> bytes:
    """The photo upscaled to `side` pixels on its long side, as a JPEG (UPSCALE_QUALITY): a phone photo at full size."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
    scale = side / max(image.size)
    large = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    large.save(buffer, "JPEG", quality=UPSCALE_QUALITY)
    return buffer.getvalue()


def upscaled_agreement(photos: PhotoSet, model: TinyVGG, side: int) -> dict:
    """The share of photos whose answer (top class, or refusal) stays the same when upscaled to `side` pixels."""
    same, right_small, right_large, count = 0, 0, 0, 0
    for label, path in upscale_choice(photos):
        answers = []
        for source in (path, upscaled(path, side)):
            answer, _ = answer_photo(source, model)
            answers.append(max(answer.probabilities, key=answer.probabilities.get) if answer else "(error)")
        same += answers[0] == answers[1]
        right_small += answers[0] in photos.right[label]
        right_large += answers[1] in photos.right[label]
        count += 1
    return {
        "side": side,
        "photos": count,
        "same": same / count,
        "accuracy": right_small / count,
        "accuracy_upscaled": right_large / count,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, default=DEFAULT_DIR, help=f"photos and labels.json (default: {DEFAULT_DIR})"
    )
    parser.add_argument("--model", default="model/pretrained", help="model folder or Hub repo (default: %(default)s)")
    parser.add_argument(
        "--figure",
        type=Path,
        help="also draw a grid of sample answers here, e.g. images/real_photos.png, the README's (default: none)",
    )
    parser.add_argument(
        "--upscale",
        type=int,
        metavar="SIDE",
        help=f"also run the first {UPSCALE_PER_LABEL} photos of each mapped label upscaled to SIDE pixels "
        "(e.g. 4000) and print the share whose answer stays the same",
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FOLDER",
        help="also store the figures in FOLDER/metrics.json (a trained model folder) and rewrite its card",
    )
    args = parser.parse_args(argv)
    try:
        photos = read_photo_set(args.folder)
    except FileNotFoundError as err:
        parser.error(str(err))

    mapped = photos.right
    model = TinyVGG.from_pretrained(args.model)
    torch.set_num_threads(PREDICTION_THREADS)  # as `python app.py` does
    classify(ROOT / "examples" / "shop-sneaker.jpg", model)  # warm-up: imports and first-call allocations
    records = classify_folder(photos, model)
    found = summarize(records, mapped)

    print(f"photos: {found['photos']} ({found['mapped_photos']} of garments that map to Fashion-MNIST classes)")
    print(f"mean of the per-label accuracies: {found['mean_accuracy']:.1%}")
    print(f"right class among the {TOP_CLASSES} shown, mean of the per-label shares: {found['top3_mean']:.1%}")
    for label, accuracy in sorted(found["per_label"].items(), key=lambda item: item[1]):
        print(
            f"  {label:<11} {accuracy:6.1%}  among {TOP_CLASSES} shown {found['top3_per_label'][label]:6.1%}"
            f"  right: {', '.join(mapped[label])}"
        )
    if found["mean_confidence"] is not None:
        print(
            f"calibration of the answered garments: ECE {found['ece']:.1%} ({BINS} bins), "
            f"mean confidence {found['mean_confidence']:.1%} vs accuracy {found['answered_accuracy']:.1%}"
        )
        if found["ece_single_class"] is not None:
            print(f"  ECE on the labels with one right class: {found['ece_single_class']:.1%}")
        print(
            f"  ECE a perfectly calibrated model would show on this many photos (mean): {found['ece_noise_floor']:.1%}"
        )
    print(f'real garments refused ("no garment stands out" and other errors): {found["refused"]:.1%}')
    print(f"real garments warned as unlike the training images: {found['warned']:.1%}")
    if found["others_sure"] is not None:
        print(f"clothes of none of the ten classes answered {SURE:.0%} sure or more: {found['others_sure']:.1%}")
    if found["unsure"] is not None:
        print(
            f"answered unsure (no class reaches {UNSURE_BELOW:.0%}): {found['unsure']:.1%} of the answered garments, "
            f"right {_percent(found['right_when_unsure'])} of the time, against {_percent(found['right_when_sure'])} "
            "above the line"
            + (
                f"; {found['others_unsure']:.1%} of the clothes of none of the ten classes"
                if found["others_unsure"] is not None
                else ""
            )
        )
        print("  where the line could be: line, share of answered garments below it, how often those are right")
        for line, share, right in unsure_lines(records, mapped):
            print(f"  {line:.0%}: {share:.1%} below, right {_percent(right)}")
    print("how photos reached the model: " + ", ".join(f"{way} {n}" for way, n in sorted(found["ways"].items())))
    print(f"photos refused with an error: {found['errors']}")
    print("what the app answers (label -> predicted class: photos):")
    for label, answers in found["confusion"].items():
        note = "" if label in mapped else "  (not a Fashion-MNIST class)"
        print(f"  {label:<11} " + ", ".join(f"{name}: {count}" for name, count in answers.items()) + note)
    print(f"milliseconds per photo (decode, preprocess, model, warning), median: {found['ms_per_photo_median']:.1f}")
    if args.upscale:
        found["upscaled"] = upscaled_agreement(photos, model, args.upscale)
        up = found["upscaled"]
        print(
            f"upscaled to {up['side']} px (JPEG quality {UPSCALE_QUALITY}), {up['photos']} photos: "
            f"{up['same']:.1%} keep their answer (accuracy {up['accuracy']:.1%} as they are, "
            f"{up['accuracy_upscaled']:.1%} upscaled)"
        )
    if args.figure:
        plot_samples(records, mapped, args.figure)
        print(f"wrote {args.figure}")
    if args.record:
        record(
            args.record, TinyVGG.from_pretrained(args.record), found, mapped, argv if argv is not None else sys.argv[1:]
        )
        print(f"recorded in {args.record / 'metrics.json'} and its model card")
    return 0


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


if __name__ == "__main__":
    raise SystemExit(main())
