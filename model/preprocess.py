"""Any image a person uploads -> what TinyVGG saw in training: a light garment on black, 28x28, in [0, 1].

The app, the benchmark and evaluation all go through `preprocess`, so the model never
sees two different pipelines. Training reads the dataset's own 28x28 images and shares
`to_inputs`, the last step.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

SIZE = 28
# Refused before any pixel is decoded: a 30000x30000 PNG is small on disk but needs gigabytes.
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
# Around the garment's bounding box, as a fraction of its longer side (Fashion-MNIST garments
# touch the frame along their longer side, so the margin stays small).
MARGIN = 0.04
# Decode large JPEGs at a reduced scale (PIL's draft mode): far faster, and still many
# times the 28 pixels we keep.
DRAFT_SIDE = 112


class ImageError(ValueError):
    """The image cannot be used; the message says what was wrong and what to send instead."""


def to_inputs(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1], the model's input."""
    return images.unsqueeze(1).float().div_(255)


def open_image(source: str | Path | bytes | Image.Image) -> Image.Image:
    """Open and decode an image file (or bytes), checking its size before decoding.

    Animated images give their first frame.

    Raises:
        ImageError: Not an image, truncated, too many pixels or too small.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, bytes):
            source = io.BytesIO(source)
        try:
            with warnings.catch_warnings():
                # We check the pixel count ourselves, below, with a lower limit than PIL's warning.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)  # reads the header only
        except Image.DecompressionBombError:
            raise ImageError(
                f"The image has too many pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels."
            ) from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise ImageError(
                "This file is not an image that can be read (empty, damaged, or another kind of file). "
                "Send a PNG, JPEG, WebP, GIF, BMP or TIFF photo."
            ) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {MAX_PIXELS // 1_000_000} megapixels. Send a smaller photo."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"The image is only {width}x{height} pixels; it needs at least {MIN_SIDE} pixels on each side."
        )
    if image.format == "JPEG" and min(width, height) > 2 * DRAFT_SIDE:
        image.draft(image.mode, (DRAFT_SIDE, DRAFT_SIDE))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageError("The image file is truncated or corrupt: it could not be decoded completely.") from None
    return image


def grayscale(image: Image.Image) -> np.ndarray:
    """Honour EXIF orientation, flatten transparency onto white, return float32 gray levels in [0, 255]."""
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the prediction
        pass
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit (and 32-bit) grayscale: scale the full range down to 0..255.
        pixels = np.asarray(image, dtype=np.float32)
        top = 65535.0 if pixels.max() > 255 else 255.0
        return np.clip(pixels * (255.0 / top), 0, 255)
    return np.asarray(image.convert("L"), dtype=np.float32)


def fashion_mnist_style(gray: np.ndarray) -> np.ndarray:
    """Gray levels -> uint8 (28, 28): light garment on black, cropped, square, 28x28.

    Raises:
        ImageError: The image is a single flat colour, so there is nothing to classify.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # a light background, as in shop photos: invert
        gray = 255.0 - gray
        border = 255.0 - border
    background = float(np.median(border))
    # Make the background black, as in Fashion-MNIST, and stretch what is left to 0..255.
    gray = np.clip(gray - background, 0, None)
    peak = float(gray.max())
    if peak < 16:
        raise ImageError("The image is blank (one flat colour): there is no garment to classify.")
    gray *= 255.0 / peak

    rows = np.flatnonzero((gray > 0.15 * 255).any(axis=1))
    cols = np.flatnonzero((gray > 0.15 * 255).any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left)
    margin = int(round(MARGIN * side))
    crop = gray[max(top - margin, 0) : bottom + margin, max(left - margin, 0) : right + margin]

    # Pad to a square with black, the garment centred, then shrink to 28x28.
    height, width = crop.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    y, x = (side - height) // 2, (side - width) // 2
    square[y : y + height, x : x + width] = crop
    small = Image.fromarray(square.astype(np.uint8), mode="L").resize((SIZE, SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


def prepare(source: str | Path | bytes | Image.Image) -> torch.Tensor:
    """Any image file, bytes or PIL image -> uint8 tensor (28, 28), light garment on black."""
    return torch.from_numpy(fashion_mnist_style(grayscale(open_image(source))).copy())


def preprocess(source: str | Path | bytes | Image.Image) -> torch.Tensor:
    """Any image file, bytes or PIL image -> float tensor (1, 28, 28) in [0, 1], ready for TinyVGG."""
    return to_inputs(prepare(source)[None])[0]
