"""Awkward and broken image files, generated on demand (never stored as opaque binaries).

    python benchmarks/bad_images.py OUT_DIR    # writes every case to OUT_DIR, to look at or upload by hand

`make_cases(folder)` returns {name: path}. Each case's expected outcome is in EXPECTED:
"ok" (a sensible prediction) or the start of the error message.
"""

from __future__ import annotations

import argparse
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# What preprocessing must answer for each case: "ok", or a phrase of the error message.
EXPECTED = {
    "zero_bytes.png": "not an image",
    "random_bytes.jpg": "not an image",
    "text_file.png": "not an image",
    "truncated.jpg": "truncated or corrupt",
    "truncated.png": "truncated or corrupt",
    "one_pixel.png": "needs at least",
    "strip_100x1.png": "needs at least",
    "all_white.png": "blank",
    "all_black.png": "blank",
    "gray16.png": "ok",
    "cmyk.jpg": "ok",
    "palette_transparent.png": "ok",
    "rgba_transparent_background.png": "ok",
    "animated.gif": "ok",
    "exif_rotated.jpg": "ok",
    "bomb_30000x30000.png": "megapixels",
}


def garment(size: int = 200) -> np.ndarray:
    """A dark T-shirt-like silhouette on white (uint8, size x size): body plus two sleeves."""
    canvas = np.full((size, size), 255, dtype=np.uint8)
    s = size // 10
    canvas[2 * s : 9 * s, 3 * s : 7 * s] = 40  # body
    canvas[2 * s : 4 * s, 1 * s : 9 * s] = 40  # sleeves
    return canvas


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG of width x height black pixels: under 1 MB on disk, ~900 MB once decoded."""
    row = b"\x00" + bytes(width)  # filter byte + one gray byte per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def make_cases(folder: Path) -> dict[str, Path]:
    """Write every case into `folder` and return {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    shirt = Image.fromarray(garment(), mode="L")
    rng = np.random.default_rng(0)

    rgba = Image.new("RGBA", shirt.size, (0, 0, 0, 0))  # fully transparent background
    rgba.putalpha(Image.fromarray(np.where(garment() < 128, 255, 0).astype(np.uint8)))
    palette = shirt.convert("P")
    white_index = palette.getpixel((0, 0))
    frames = [shirt, shirt.rotate(90)]
    exif = Image.Exif()
    exif[274] = 6  # stored turned 90 degrees: viewers (and we) must rotate it back
    full_jpeg = _encode(shirt.convert("RGB"), "JPEG", quality=90)
    full_png = _encode(shirt, "PNG")

    payloads = {
        "zero_bytes.png": b"",
        "random_bytes.jpg": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "text_file.png": b"This is a text file with a .png name, not an image.\n" * 20,
        "truncated.jpg": full_jpeg[: len(full_jpeg) // 2],
        "truncated.png": full_png[: len(full_png) // 2],
        "one_pixel.png": _encode(Image.new("L", (1, 1), 128), "PNG"),
        "strip_100x1.png": _encode(Image.new("L", (100, 1), 128), "PNG"),
        "all_white.png": _encode(Image.new("L", (64, 64), 255), "PNG"),
        "all_black.png": _encode(Image.new("L", (64, 64), 0), "PNG"),
        "gray16.png": _encode(Image.fromarray(garment().astype(np.uint16) * 257), "PNG"),
        "cmyk.jpg": _encode(shirt.convert("RGB").convert("CMYK"), "JPEG", quality=90),
        "palette_transparent.png": _encode(palette, "PNG", transparency=white_index),
        "rgba_transparent_background.png": _encode(rgba, "PNG"),
        "animated.gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "exif_rotated.jpg": _encode(shirt.rotate(90, expand=True).convert("RGB"), "JPEG", quality=90, exif=exif),
        "bomb_30000x30000.png": bomb_png(),
    }
    assert payloads.keys() == EXPECTED.keys()
    paths = {}
    for name, data in payloads.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bad_images.py", description="Write the broken image files."
    )
    parser.add_argument("folder", nargs="?", default="bad-images", help="where to write them (default: bad-images)")
    for name, path in make_cases(Path(parser.parse_args().folder)).items():
        print(f"{path}  ({path.stat().st_size:,} bytes): expect {EXPECTED[name]}")
