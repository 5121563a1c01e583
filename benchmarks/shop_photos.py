"""How much accuracy survives when test images arrive as shop photos, through the app's preprocessing.

    python benchmarks/shop_photos.py [--model model/pretrained] [--limit N] [--record FOLDER]

Each test image is turned into a shop photo (dark garment on white, 280 to 504 pixels, JPEG,
see model.publishing.examples.shop_photo), decoded and preprocessed exactly as the app does, and
classified. The baseline is the same model on the original 28x28 images, in the same run.
`--record FOLDER` stores the figures in a model folder's metrics.json, from which the docs' figures
are generated (`make pretrained` records them for the shipped model).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from model.preprocess import prepare_image
from model.publishing.examples import shop_photo
from model.tinyvgg import TinyVGG
from model.training.data import load_fashion_mnist
from model.training.engine import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default="model/pretrained", help="model folder or Hub repo (default: model/pretrained)"
    )
    parser.add_argument("--limit", type=int, help="only the first N test images (default: all 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the photo sizes and margins (default: 0)")
    parser.add_argument(
        "--record",
        metavar="FOLDER",
        type=Path,
        help="also store the figures in FOLDER/metrics.json (a trained model folder) and rewrite its card",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    data = load_fashion_mnist()
    images, labels = data.test_images[: args.limit], data.test_labels[: args.limit]
    model = TinyVGG.from_pretrained(args.model)
    original = evaluate(model, images, labels)

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    prepared = torch.stack([prepare_image(shop_photo(image, rng)).pixels for image in images])
    seconds = time.perf_counter() - started
    shop = evaluate(model, prepared, labels)
    shop_accuracy = shop.accuracy
    agreement = float((shop.predictions == original.predictions).float().mean())

    if args.record:
        from model.loading import load
        from model.publishing.card import record_figures

        figures = {
            "images": len(labels),
            "original_accuracy": original.accuracy,
            "accuracy": shop_accuracy,
            "same_prediction": agreement,
            "ms_per_photo": 1000 * seconds / len(labels),
            "command": shlex.join(["python", "benchmarks/shop_photos.py", *argv]),
        }
        try:
            record_figures(args.record, load(args.record), "shop_photos", figures)
        except (FileNotFoundError, ValueError) as err:  # no model or metrics.json there, or not as they should be
            print(f"error: cannot record in {args.record}: {err}", file=sys.stderr)
            return 1
        print(f"recorded in {args.record / 'metrics.json'}")
    print(f"images:                         {len(labels):,}")
    print(f"accuracy on the 28x28 originals: {original.accuracy:.2%}")
    print(f"accuracy on shop-style photos:   {shop_accuracy:.2%}  ({shop_accuracy - original.accuracy:+.2%} points)")
    print(f"same prediction as the original: {agreement:.2%}")
    print(f"decode + preprocess per photo:   {1000 * seconds / len(labels):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
