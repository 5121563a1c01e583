"""Any image a person uploads -> what TinyVGG saw in training: a light garment on black, 28x28, in [0, 1].

The app, the benchmark and evaluation all go through `prepare_image`, so the model never
sees two different pipelines. Training reads the dataset's own 28x28 images and shares
`to_inputs`, the last step. Each image takes one of four ways (`Prepared.way`): the model's
confidence has one calibration for small and plain images and another for phone photos (see
model.training.calibrate).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

SIZE = 28
# Refused before any pixel is decoded: a 30000x30000 PNG is small on disk but needs gigabytes.
MAX_PIXELS = 40_000_000
# The size messages count pixels in megapixels of this many.
MEGAPIXEL = 1_000_000
MIN_SIDE = 8
# Around the garment's bounding box, as a fraction of its longer side (Fashion-MNIST garments
# touch the frame along their longer side, so the margin stays small).
MARGIN = 0.04
# Large JPEGs are decoded at a reduced scale (PIL's draft mode), still many times the 28 pixels kept:
# benchmarks/real_photos.py --upscale measures how many answers stay the same at 4,000 pixels.
DRAFT_SIDE = 400
# Only a JPEG whose shorter side is above twice the draft's is drafted: a smaller one would shrink little,
# if at all. The browser port (web/tinyvgg.js) reads this from model.json.
DRAFT_ABOVE = 2 * DRAFT_SIDE
# A background is plain (subtracted as it is) when its border pixels vary by at most this
# many gray levels (median absolute deviation); phone photos of clothes on a bed or a floor
# vary far more (benchmarks/real_photos.py counts the photos that take each way).
PLAIN_BORDER = 4.0
# Images this small (a Fashion-MNIST image, a thumbnail) are taken as they are: too few pixels to segment.
SMALL_SIDE = 64
# GrabCut runs on the photo shrunk to this longer side, to stay fast on one CPU core
# (benchmarks/predict_latency.py times a phone photo, GrabCut included), and still three times
# the 28 pixels we keep. Its starting rectangle is inset this much.
WORK_SIDE = 96
GRABCUT_INSET = 0.04
GRABCUT_ITERATIONS = 3
# OpenCV seeds GrabCut's colour models with its own RNG: a fixed seed gives a photo the same mask every time.
GRABCUT_SEED = 0
# GrabCut sees the work image blurred by this Gaussian sigma (pixels), so that JPEG noise and resampling
# do not tip its cut (benchmarks/real_photos.py --upscale).
SMOOTHING = 1.0
# GrabCut's mask is opened with a square this many pixels wide, so specks narrower than it go.
OPENING = 3
# The garment is the largest region of the mask; pixels that touch only at a corner join one region.
CONNECTIVITY = 8
# A garment smaller than this share of the photo is taken as "nothing found".
MIN_GARMENT_SHARE = 0.02
# The lightest part of a garment keeps this share of full brightness.
GARMENT_FLOOR = 0.3
# A segmented garment's shading is stretched between these percentiles of its gray levels, so a
# few pixels of glare or deep shadow do not set the range; a flat garment counts as at least
# MIN_SHADING_RANGE gray levels, to divide by.
SHADING_PERCENTILES = (2, 98)
MIN_SHADING_RANGE = 1.0
# A plain background whose median gray is above this is light (a shop photo, a scan): the image
# is inverted so the garment comes out light on black, as in Fashion-MNIST.
LIGHT_BACKGROUND = 127
# An image that rises fewer gray levels than this above its background is blank: what is left is
# noise or compression, not a garment.
BLANK_PEAK = 16
# A plain image is reduced to 28x28 as Fashion-MNIST's own were: box-averaged to this many times 28, then
# the middle pixel of each SUBSAMPLE x SUBSAMPLE block kept (benchmarks/product_photos.py shows the choice).
SUBSAMPLE = 3
# Once the garment is stretched to 0..255, what is brighter than this share of full brightness
# stands out from the background and sets the crop.
STANDS_OUT = 0.15


# The ways an image can take: small (a Fashion-MNIST image, a thumbnail) and plain (a shop photo, a
# scan) are subtracted from their background; segmented photos are cut out by GrabCut; a photo
# where nothing stands out is taken whole, frame and all.
SMALL, PLAIN, SEGMENTED, FRAME = "small", "plain", "segmented", "frame"
# The ways of phone photos, whose confidence is calibrated on real photos (`photo_temperature`).
PHOTO_WAYS = (SEGMENTED, FRAME)
# How to take a photo that works: the app's tip, its MCP tool's description and the refusal below say it.
BEST_PHOTO = (
    "one item, laid flat or hung, whole in the frame with some background around it, on a plain background that "
    "contrasts with it"
)
NO_GARMENT = f"No garment stands out from the background in this photo. Photograph {BEST_PHOTO}."

# The messages with {fields} are filled with str.format here and in the static page (web/tinyvgg.js), which
# reads them from model.json: plain named fields only, so both fill them the same way.
TOO_LARGE = (
    "The image is {width}x{height} pixels ({megapixels} megapixels); the limit is {limit} megapixels. "
    "Send a smaller photo."
)
TOO_SMALL = "The image is only {width}x{height} pixels; it needs at least {min_side} pixels on each side."
# {formats}: the formats the reader at hand decodes, as `name_list` writes them. The static page names
# its browser's own, so neither suggests a format it then refuses.
UNREADABLE = (
    "This file is not an image that can be read (empty, damaged, or another kind of file). Send a {formats} photo."
)
# The common photo formats Pillow reads, by the names people know them by.
FORMATS = ("PNG", "JPEG", "WebP", "GIF", "BMP", "TIFF")


def name_list(names: tuple[str, ...] | list[str]) -> str:
    """("A", "B", "C") -> "A, B or C", as the messages list choices (web/tinyvgg.js's nameList writes the same)."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


NOT_AN_IMAGE = UNREADABLE.format(formats=name_list(FORMATS))
TRUNCATED = "The image file is truncated or corrupt: it could not be decoded completely."
# Pillow refuses to open an image of more than twice its MAX_IMAGE_PIXELS, before we see its size.
PIL_BOMB_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
TOO_MANY_PIXELS = f"The image has too many pixels; the limit is {MAX_PIXELS // MEGAPIXEL} megapixels."
BLANK = "The image is blank (one flat colour): there is no garment to classify."


class ImageError(ValueError):
    """The image cannot be used; the message says what was wrong and what to send instead."""


@dataclass(frozen=True)
class Prepared:
    """An image as the model receives it, and the way it got there."""

    pixels: torch.Tensor  # uint8 (28, 28), a light garment on black
    way: str  # SMALL, PLAIN, SEGMENTED or FRAME


def to_inputs(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1], the model's input."""
    return images.unsqueeze(1).float().div_(255)


def open_image(source: str | Path | bytes | Image.Image, draft_side: int = DRAFT_SIDE) -> Image.Image:
    """Open and decode an image file (or bytes), checking its size before decoding.

    Animated images give their first frame. A large JPEG is decoded at a reduced scale, still at
    least `draft_side` pixels on each side.

    Raises:
        ImageError: Not an image, truncated, too many pixels or too small.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, bytes):
            source = io.BytesIO(source)
        elif isinstance(source, (str, Path)) and not Path(source).is_file():
            # A typo in a path is not a broken file: say which it is.
            what = "is a folder; name one image file in it" if Path(source).is_dir() else "does not exist"
            raise ImageError(f"{source} {what}. Check the path, or send the image's bytes.")
        try:
            with warnings.catch_warnings():
                # We check the pixel count ourselves, below, with a lower limit than PIL's warning.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)  # reads the header only
        except Image.DecompressionBombError:
            raise ImageError(TOO_MANY_PIXELS) from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise ImageError(NOT_AN_IMAGE) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        megapixels = round(width * height / MEGAPIXEL)
        raise ImageError(
            TOO_LARGE.format(width=width, height=height, megapixels=megapixels, limit=MAX_PIXELS // MEGAPIXEL)
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(TOO_SMALL.format(width=width, height=height, min_side=MIN_SIDE))
    # MPO: a phone's JPEG that carries more pictures after the first (Pillow names it apart).
    if image.format in ("JPEG", "MPO") and min(width, height) > 2 * draft_side:
        image.draft(image.mode, (draft_side, draft_side))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageError(TRUNCATED) from None
    return image


def rgb_pixels(image: Image.Image) -> np.ndarray:
    """Honour EXIF orientation, flatten transparency onto white, return uint8 RGB (H, W, 3)."""
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
        gray = np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def fashion_mnist_style(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """RGB pixels -> uint8 (28, 28), the garment light on black, cropped, square; and the way taken.

    A small image (a Fashion-MNIST one) or a plain background (a shop photo, a scan) is simply
    subtracted. On anything else (a bed, a floor, a hanger on a door) GrabCut separates the
    garment from its background first, and only the largest item is kept, its own shading
    inverted. Where nothing stands out (a garment that fills the photo, or no garment at all)
    the whole frame is taken: the model then judges whether it shows a garment (model.predict.classify).

    Raises:
        ImageError: The image is one flat colour.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if max(gray.shape) <= SMALL_SIDE:
        return _square_28(*_subtract_plain_background(gray)), SMALL
    if _border_spread(gray) <= PLAIN_BORDER:
        return _square_28(*_subtract_plain_background(gray), subsample=True), PLAIN
    small = _shrink(rgb, WORK_SIDE)
    # A sliver (400x8) shrinks to too few rows for GrabCut's rectangle: take it whole.
    mask = garment_mask(cv2.GaussianBlur(small, (0, 0), SMOOTHING)) if min(small.shape[:2]) >= MIN_SIDE else None
    way = SEGMENTED
    if mask is None:
        mask, way = np.ones(small.shape[:2], np.uint8), FRAME
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return _square_28(_light_on_black(gray, mask), mask, stretch_wide=True), way


def garment_mask(rgb: np.ndarray) -> np.ndarray | None:
    """uint8 mask (1: garment) of the one item in the middle of a photo with a busy background.

    GrabCut starts from a rectangle just inside the frame (people centre what they
    photograph); small specks are opened away and only the largest region is kept, so of
    several separate items (two shoes apart) one remains. Two shoes that touch stay one
    region: the model learns such pairs from made-up ones (model.training.augment).

    Returns None where nothing stands out from the background.
    """
    height, width = rgb.shape[:2]
    inset_y, inset_x = max(1, round(GRABCUT_INSET * height)), max(1, round(GRABCUT_INSET * width))
    mask = np.zeros((height, width), np.uint8)
    rect = (inset_x, inset_y, width - 2 * inset_x, height - 2 * inset_y)
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(rgb[:, :, ::-1].copy(), mask, rect, background, foreground, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    mask = _clean(((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8))
    if mask.sum() < MIN_GARMENT_SHARE * height * width:
        # GrabCut finds nothing when no region differs from what lies along the frame: a bare
        # rug or bed, or a garment that fills the photo and runs off every edge.
        return None
    return mask


def _clean(mask: np.ndarray) -> np.ndarray:
    """Open away specks, keep the largest region, fill its holes."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((OPENING, OPENING), np.uint8))
    return _fill_holes(_largest_region(mask))


def _border(gray: np.ndarray) -> np.ndarray:
    """The outermost pixels, all four sides."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def _border_spread(gray: np.ndarray) -> float:
    """Median absolute deviation of the outermost pixels: near 0 for a plain background."""
    border = _border(gray)
    return float(np.median(np.abs(border - np.median(border))))


def _subtract_plain_background(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light garment on black from a plain background, and the mask of what stands out."""
    border = _border(gray)
    if np.median(border) > LIGHT_BACKGROUND:
        gray = 255.0 - gray
        border = 255.0 - border
    # Make the background black, as in Fashion-MNIST, and stretch what is left to 0..255.
    gray = np.clip(gray - float(np.median(border)), 0, None)
    peak = float(gray.max())
    if peak < BLANK_PEAK:
        raise ImageError(BLANK)
    gray *= 255.0 / peak
    return gray, (gray > STANDS_OUT * 255).astype(np.uint8)


def _light_on_black(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The garment's own shading, inverted as Fashion-MNIST's is, on black.

    Contrast is stretched inside the garment, and even its lightest parts keep a floor
    of brightness, so a white shirt stays visible instead of vanishing into the black.
    """
    inside = gray[mask > 0]
    low, high = np.percentile(inside, SHADING_PERCENTILES)
    shading = 1.0 - np.clip((gray - low) / max(high - low, MIN_SHADING_RANGE), 0, 1)
    return 255.0 * (GARMENT_FLOOR + (1 - GARMENT_FLOOR) * shading) * mask


def _largest_region(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=CONNECTIVITY)
    if count <= 1:
        return mask
    return (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 1, thickness=-1)
    return filled


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    """Scale down so the longer side is at most `side` pixels (never up)."""
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def _square_28(values: np.ndarray, mask: np.ndarray, stretch_wide: bool = False, subsample: bool = False) -> np.ndarray:
    """Crop `values` to the mask's box with a small margin, pad to a black square, shrink to 28x28.

    With `stretch_wide`, a crop wider than it is tall is first stretched to a square: a top laid
    flat spreads its sleeves and is wider than any Fashion-MNIST top, which fills its square.
    With `subsample`, the shrinking ends by subsampling (SUBSAMPLE), as Fashion-MNIST's did.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left)
    margin = int(round(MARGIN * side))
    crop = values[max(top - margin, 0) : bottom + margin, max(left - margin, 0) : right + margin]
    if stretch_wide and crop.shape[1] > crop.shape[0]:
        crop = cv2.resize(crop.astype(np.float32), (crop.shape[1], crop.shape[1]), interpolation=cv2.INTER_LINEAR)
    # Pad to a square with black, the garment centred, then shrink to 28x28.
    height, width = crop.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    y, x = (side - height) // 2, (side - width) // 2
    square[y : y + height, x : x + width] = crop
    reduced = SUBSAMPLE * SIZE if subsample else SIZE
    small = np.asarray(
        Image.fromarray(square.astype(np.uint8), mode="L").resize((reduced, reduced), Image.Resampling.BOX)
    )
    if subsample:
        small = small[SUBSAMPLE // 2 :: SUBSAMPLE, SUBSAMPLE // 2 :: SUBSAMPLE]
    return np.ascontiguousarray(small, dtype=np.uint8)


def prepare_image(source: str | Path | bytes | Image.Image) -> Prepared:
    """Any image file, bytes or PIL image -> the uint8 (28, 28) light garment on black, and its way."""
    pixels, way = fashion_mnist_style(rgb_pixels(open_image(source)))
    return Prepared(torch.from_numpy(pixels.copy()), way)
