"""The shipped model's figures in the README and docs/, generated from its metrics.json so they never go stale.

    python -m model.publishing.results            # rewrite README.md and docs/*.md from model/pretrained/metrics.json
    python -m model.publishing.results --check    # exit 1, naming the file, where a page states other figures

Two kinds of marker, invisible on a rendered page, hold the generated text:

    <!-- results:start --> ... <!-- results:end -->   the README's table of the shipped model
    <!-- figure:NAME -->93.53%<!-- /figure -->         one figure (FIGURES) inside prose or a table

Figures of earlier steps and other runs (the real-photo step table, benchmark timings) are history
and stay as written, each with the command that measured it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from model import artifacts
from model.training.metrics import Metrics, MetricsError, read_metrics

PAGES = ("README.md", "docs/*.md")
BLOCK = re.compile(r"(<!-- results:start -->\n)(.*?)(<!-- results:end -->)", re.S)
FIGURE = re.compile(r"(<!-- figure:([\w.]+) -->)(.*?)(<!-- /figure -->)")


def _validation(m: Metrics) -> str:
    last = m["history"][-1]
    if "val_accuracy" not in last:
        return "no held-out validation images"
    return f"validation: {last['val_accuracy']:.2%} on {m['data']['val_images']:,} held-out training images"


# Name -> the figure as the pages write it.
FIGURES: dict[str, Callable[[Metrics], str]] = {
    "test_accuracy": lambda m: f"{m['test_accuracy']:.2%}",
    "test_images": lambda m: f"{m['data']['test_images']:,}",
    "parameters": lambda m: f"{m['num_parameters']:,}",
    "train_seconds": lambda m: f"{m['train_seconds']:.0f} s",
    "epochs": lambda m: f"{len(m['history'])}",
    "images_per_second": lambda m: f"{m['train_images_per_second']:,.0f}",
    "precision": lambda m: m["environment"].get("precision", "fp32"),
    "temperature": lambda m: f"{m['calibration']['temperature']:.3f}",
    "ece_before": lambda m: f"{m['calibration']['ece_before']:.2%}",
    "ece_after": lambda m: f"{m['calibration']['ece_after']:.2%}",
    "photo_temperature": lambda m: f"{m['photo_calibration']['photo_temperature']:.3f}",
    "photo_fitted_on": lambda m: f"{m['photo_calibration']['fitted_on']:,}",
    "photo_ece_single_class": lambda m: f"{m['photo_calibration']['ece_single_class_after']:.1%}",
    "frame_threshold": lambda m: f"{m['photo_calibration']['frame_threshold']:.2f}",
    "real_photos": lambda m: f"{m['real_photos']['mapped_photos']:,}",
    "real_photos_mean": lambda m: f"{m['real_photos']['mean_accuracy']:.1%}",
    "real_photos_top3": lambda m: f"{m['real_photos']['top3_mean']:.1%}",
    "real_photos_ece": lambda m: f"{m['real_photos']['ece']:.1%}",
    "real_photos_ece_single_class": lambda m: f"{m['real_photos']['ece_single_class']:.1%}",
    "real_photos_ece_noise_floor": lambda m: f"{m['real_photos']['ece_noise_floor']:.1%}",
    "real_photos_refused": lambda m: f"{m['real_photos']['refused']:.1%}",
    "real_photos_warned": lambda m: f"{m['real_photos']['warned']:.1%}",
    "real_photos_ms": lambda m: f"{m['real_photos']['ms_per_photo_median']:.1f} ms",
    "product_photos": lambda m: f"{m['product_photos']['photos']:,}",
    "product_photos_mean": lambda m: f"{m['product_photos']['mean_accuracy']:.1%}",
    "product_photos_classes": lambda m: ", ".join(
        f"{name} {scores['accuracy']:.1%}" for name, scores in m["product_photos"]["per_class"].items()
    ),
    "shop_photos_accuracy": lambda m: f"{m['shop_photos']['accuracy']:.2%}",
    "shop_photos_change": lambda m: (
        f"{100 * (m['shop_photos']['accuracy'] - m['shop_photos']['original_accuracy']):+.2f}"
    ),
    "shop_photos_same": lambda m: f"{m['shop_photos']['same_prediction']:.2%}",
    "shop_photos_ms": lambda m: f"{m['shop_photos']['ms_per_photo']:.2f} ms",
    "validation": _validation,
    "command": lambda m: m["command"],
}


def summary(m: Metrics) -> str:
    """The README's table of the shipped model."""
    f = {name: figure(m) for name, figure in FIGURES.items()}
    rows = [
        (
            "test accuracy",
            f"**{f['test_accuracy']}** on the {f['test_images']} Fashion-MNIST test images ({f['validation']})",
        ),
        (
            "real photos",
            f"**{f['real_photos_mean']}**, the mean of the per-label accuracies on {f['real_photos']} phone photos of "
            f"people's own clothes; the right class is among the three shown for **{f['real_photos_top3']}** "
            "([Real photos](docs/real-photos.md))",
        ),
        (
            "product photos",
            f"**{f['product_photos_mean']}**, the mean of the per-class accuracies on {f['product_photos']} shop "
            f"photos of footwear and bags on white ({f['product_photos_classes']}) "
            "([Product photos](docs/real-photos.md#product-photos))",
        ),
        ("parameters", f["parameters"]),
        (
            "training",
            f"{f['train_seconds']} for {f['epochs']} epochs in {f['precision']} on "
            f"{m['environment'].get('cpu') or m['environment']['device']}, "
            f"evaluation excluded ({f['images_per_second']} images/s; "
            "[on other CPUs](docs/performance.md#what-training-costs))",
        ),
        (
            "calibration",
            f"Fashion-MNIST: temperature {f['temperature']}, expected calibration error {f['ece_before']} -> "
            f"{f['ece_after']} on the test set; phone photos: temperature {f['photo_temperature']}, error "
            f"{f['photo_ece_single_class']} on the {f['photo_fitted_on']} photos it was fitted on, and "
            f"{f['real_photos_ece']} on the {f['real_photos']} photos above ({f['real_photos_ece_single_class']} on "
            f"the labels with one right class; {f['real_photos_ece_noise_floor']} is what chance alone gives a "
            "perfectly calibrated model on that few photos) ([Real photos](docs/real-photos.md))",
        ),
        (
            "command",
            f"`{f['command']}`, then `make pretrained`'s photo calibration, ONNX export, real- and product-photo "
            "figures",
        ),
    ]
    return "| | |\n|---|---|\n" + "".join(f"| {name} | {text} |\n" for name, text in rows)


def render(text: str, metrics: Metrics) -> str:
    """`text` with every results block and figure marker filled in from `metrics`.

    Raises:
        KeyError: A marker names no figure of FIGURES.
    """
    text = BLOCK.sub(lambda match: match[1] + summary(metrics) + match[3], text)

    def figure(match: re.Match) -> str:
        if match[2] not in FIGURES:
            raise KeyError(f"<!-- figure:{match[2]} --> names no figure; known: {', '.join(FIGURES)}")
        return match[1] + FIGURES[match[2]](metrics) + match[4]

    return FIGURE.sub(figure, text)


def missing_figure(err: KeyError, folder: str) -> str:
    """What to do when a page names a figure that `folder`'s metrics.json does not hold."""
    name = err.args[0]
    if str(name).startswith("<!--"):
        return str(name)  # a marker that names no figure: the page is wrong
    return (
        f"{folder}/{artifacts.METRICS} has no {name!r}, which the pages show. They describe the shipped model, "
        f"whose folder has every figure: after train.py, `python -m model.publishing.recalibrate FOLDER --photos DIR` "
        "adds the photo calibration, `benchmarks/real_photos.py DIR --record FOLDER` the real-photo figures and "
        "`benchmarks/product_photos.py DIR --record FOLDER` the product-photo figures (`make pretrained` runs "
        "all three)."
    )


def pages(root: Path = artifacts.CHECKOUT) -> list[Path]:
    """The README and the docs pages of the checkout at `root`."""
    return sorted(path for pattern in PAGES for path in root.glob(pattern))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.publishing.results", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default=str(artifacts.PRETRAINED), help=f"the run folder (default: {artifacts.PRETRAINED})"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=artifacts.CHECKOUT,
        help=f"the checkout whose pages to write (default: {artifacts.CHECKOUT})",
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 where a page is out of date")
    args = parser.parse_args(argv)
    if not (Path(args.model) / artifacts.METRICS).is_file():
        print(
            f"error: {args.model} holds no {artifacts.METRICS}: --model names a folder written by train.py "
            f"(default: {artifacts.PRETRAINED}).",
            file=sys.stderr,
        )
        return 1
    try:
        metrics = read_metrics(Path(args.model) / artifacts.METRICS)
    except (OSError, MetricsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stale = []
    for path in pages(args.root):
        text = path.read_text()
        try:
            new = render(text, metrics)
        except KeyError as err:
            print(f"error: {path.relative_to(args.root)}: {missing_figure(err, args.model)}", file=sys.stderr)
            return 1
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    verb = "states other figures than" if args.check else "rewritten from"
    for path in stale:
        print(
            f"{path.relative_to(args.root)} {verb} {args.model}/{artifacts.METRICS}",
            file=sys.stderr if args.check else sys.stdout,
        )
    if args.check and stale:
        print("Run `python -m model.publishing.results` to write them from metrics.json.", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
