"""Example images for the app, made from the test set: real 28x28 images and shop-style photos.

    python -m model.publishing.examples [--out examples] [--data-dir DIR]

writes one real test image per class (PNG, 28x28, as in the dataset) and a few of the same kind
of image turned into a shop photo (dark garment on white, a few hundred pixels, JPEG).
"""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.files import atomic_path

SHOP_CLASSES = ("Trouser", "Dress", "Sneaker", "Bag", "Ankle boot")


def shop_photo(image: torch.Tensor, rng: np.random.Generator, quality: int = 85) -> bytes:
    """A Fashion-MNIST image (uint8 28x28) as a shop photo: JPEG bytes, dark on white, enlarged, with margins.

    The garment is inverted, enlarged 10 to 18 times with smooth interpolation, and
    placed on a white canvas with a random margin on every side.
    """
    garment = Image.fromarray(255 - image.numpy(), mode="L")
    scale = int(rng.integers(10, 19))
    garment = garment.resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    pad = [int(rng.integers(10, 80)) for _ in range(4)]  # left, top, right, bottom
    canvas = Image.new("RGB", (garment.width + pad[0] + pad[2], garment.height + pad[1] + pad[3]), "white")
    canvas.paste(garment, (pad[0], pad[1]))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_examples(
    test_images: torch.Tensor, test_labels: torch.Tensor, class_names: tuple[str, ...], out: Path
) -> list[Path]:
    """The first test image of each class as PNG, and shop photos of a few of them as JPEG."""
    rng = np.random.default_rng(0)
    written = []
    for label, name in enumerate(class_names):
        index = int((test_labels == label).nonzero()[0])
        path = out / f"{label}-{slug(name)}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(test_images[index].numpy(), mode="L").save(tmp)
        written.append(path)
        if name in SHOP_CLASSES:
            path = out / f"shop-{slug(name)}.jpg"
            with atomic_path(path) as tmp:
                tmp.write_bytes(shop_photo(test_images[index], rng))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    from model.training.data import DataError, load_fashion_mnist

    parser = argparse.ArgumentParser(prog="python -m model.publishing.examples", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="examples", help="folder to write into (default: examples)")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files (default: as model.training.data)")
    args = parser.parse_args(argv)
    try:
        data = load_fashion_mnist(args.data_dir)
    except DataError as err:
        parser.exit(1, f"error: {err}\n")
    written = write_examples(data.test_images, data.test_labels, data.class_names, Path(args.out))
    print(f"wrote {len(written)} examples to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
