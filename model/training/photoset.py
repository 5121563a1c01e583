"""A labelled folder of real photos (one folder per label, labels.json): read for calibration and benchmarks.

`labels.json` maps each label to the Fashion-MNIST classes that count as right (a pair of shoes
is right as Sneaker, Sandal or Ankle boot) and names the labels with no such class (hat, skirt),
which are only described. ../shared/real-photos and ../shared/real-photos-large are laid out so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True)
class PhotoSet:
    """The photos of a labelled folder and what counts as right for each label."""

    folder: Path
    right: dict[str, list[str]]  # label -> the Fashion-MNIST classes that count as right
    unmapped: list[str]  # labels with no Fashion-MNIST class
    photos: list[tuple[str, Path]]  # (label, path), by label, then file name


def read_photo_set(folder: str | Path) -> PhotoSet:
    """The labelled photos under `folder`.

    Raises:
        FileNotFoundError: `folder` has no labels.json.
    """
    folder = Path(folder)
    if not (folder / "labels.json").is_file():
        raise FileNotFoundError(
            f"{folder} has no labels.json: give a folder of labelled real photos, "
            "one folder per label (see ../shared/real-photos/README.md)"
        )
    spec = json.loads((folder / "labels.json").read_text())
    right, unmapped = spec["classes"], spec.get("not_fashion_mnist_classes", [])
    photos = [
        (label, path)
        for label in sorted([*right, *unmapped])
        if (folder / label).is_dir()
        for path in sorted((folder / label).iterdir())
        if path.suffix.lower() in PHOTO_SUFFIXES
    ]
    return PhotoSet(folder, right, unmapped, photos)
