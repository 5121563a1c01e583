"""Find, verify and load Fashion-MNIST as in-memory uint8 tensors; `python -m model.training.data` explores it."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from model.classes import CLASS_NAMES

# SHA-256 of the *decompressed* IDX files. Debian recompressed the .gz files, so
# their MD5 differs from torchvision's list while the content is the original one.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
HOW_TO_FIX = (
    "Install the dataset with `sudo apt-get install dataset-fashion-mnist`, "
    f"or point --data-dir (or ${ENV_VAR}) at a folder holding the four original IDX files"
)


class DataError(RuntimeError):
    """The dataset is missing, corrupt or not what we expect; the message says how to fix it."""


@dataclass(frozen=True)
class FashionMNIST:
    """The whole dataset in memory: images (N, 28, 28) uint8, labels (N,) int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path
    sha256: dict[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] = CLASS_NAMES


def default_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tinyvgg-fashion-mnist"


def find_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The folder to read from: `data_dir`, else $FASHION_MNIST_DIR, else Debian's copy.

    Returns None when none of them is given or present, meaning "download it".
    An explicitly given folder is returned even if it is empty, so that the
    caller gets a clear error about it instead of a silent download.
    """
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    # A partial Debian copy is reported as such rather than silently replaced by a download.
    if any(_locate(DEBIAN_DIR, name) for name in SHA256):
        return DEBIAN_DIR
    return None


def load_fashion_mnist(
    data_dir: str | Path | None = None,
    *,
    checksums: dict[str, str] | None = SHA256,
    download_dir: str | Path | None = None,
) -> FashionMNIST:
    """Load the four IDX files (`.gz` or not), verify them and return tensors.

    Args:
        data_dir: Folder with the IDX files; see `find_data_dir` for the fallbacks.
        checksums: Expected SHA-256 of each decompressed file; None skips the
            check (only for hand-made test files).
        download_dir: Where torchvision downloads the dataset when no local copy exists.

    Raises:
        DataError: A file is missing, unreadable, truncated or has the wrong checksum.
    """
    folder = find_data_dir(data_dir)
    if folder is None:
        folder = _download(Path(download_dir) if download_dir else default_cache_dir())
    if not folder.is_dir():
        raise DataError(f"Fashion-MNIST folder {folder} does not exist. {HOW_TO_FIX}.")

    tensors: dict[str, torch.Tensor] = {}
    digests: dict[str, str] = {}
    for name in SHA256:
        path = _locate(folder, name)
        if path is None:
            raise DataError(f"{folder / name}(.gz) not found. {HOW_TO_FIX}.")
        raw = _read_bytes(path)
        digests[name] = hashlib.sha256(raw).hexdigest()
        if checksums is not None and digests[name] != checksums[name]:
            raise DataError(
                f"{path} has the wrong content (SHA-256 {digests[name][:12]}..., expected "
                f"{checksums[name][:12]}...): the file is corrupt or not Fashion-MNIST. {HOW_TO_FIX}."
            )
        tensors[name] = _parse_idx(path, raw, images=name.endswith("images-idx3-ubyte"))

    data = FashionMNIST(
        train_images=tensors["train-images-idx3-ubyte"],
        train_labels=tensors["train-labels-idx1-ubyte"],
        test_images=tensors["t10k-images-idx3-ubyte"],
        test_labels=tensors["t10k-labels-idx1-ubyte"],
        source=folder,
        sha256=digests,
    )
    for split, images, labels in (
        ("train", data.train_images, data.train_labels),
        ("test", data.test_images, data.test_labels),
    ):
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: the {split} split has {len(images)} images but {len(labels)} labels. {HOW_TO_FIX}."
            )
        if len(labels) and int(labels.max()) >= len(CLASS_NAMES):
            raise DataError(f"{folder}: the {split} labels go up to {int(labels.max())}, beyond the 10 classes.")
    return data


Split = tuple[torch.Tensor, torch.Tensor]


class Splits(NamedTuple):
    """(images, labels) to train on, to validate on (None: none held out) and to test on."""

    train: Split
    val: Split | None
    test: Split


def split(data: FashionMNIST, limit_train: int | None, limit_test: int | None, val_size: int, seed: int) -> Splits:
    """(train, val, test): the first `limit_*` images, and `val_size` training images held out at random.

    The held-out images depend only on `seed`, so later steps (calibration) find the same ones.
    """
    for name, limit, available in (
        ("--limit-train", limit_train, len(data.train_images)),
        ("--limit-test", limit_test, len(data.test_images)),
    ):
        if limit is not None and not 1 <= limit <= available:
            raise ValueError(f"{name} {limit} is not between 1 and the {available:,} images there are")
    images, labels = data.train_images[:limit_train], data.train_labels[:limit_train]
    test = (data.test_images[:limit_test], data.test_labels[:limit_test])
    if not val_size:
        return Splits((images, labels), None, test)
    if val_size >= len(images):
        raise ValueError(f"--val-size {val_size} leaves no training images out of {len(images)}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:val_size], order[val_size:].sort().values
    return Splits((images[train_index], labels[train_index]), (images[val_index], labels[val_index]), test)


def _locate(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises EOFError on a truncated file and BadGzipFile (an OSError) on garbage.
        raise DataError(f"{path} cannot be read ({err}); it is probably truncated or corrupt. {HOW_TO_FIX}.") from err


def _parse_idx(path: Path, raw: bytes, *, images: bool) -> torch.Tensor:
    """The tensor in an IDX file of unsigned bytes: a 4-byte magic number, big-endian sizes, the data."""
    ndim = 3 if images else 1
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, 0x08, ndim]):
        raise DataError(
            f"{path} is not a valid IDX file (it should start with 00 00 08 {ndim:02x}: unsigned bytes in "
            f"{ndim} dimension{'s' * (ndim > 1)}). {HOW_TO_FIX}."
        )
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) - header != math.prod(shape):
        raise DataError(
            f"{path} is not a valid IDX file: its header announces {'x'.join(map(str, shape))} bytes of data "
            f"but it holds {len(raw) - header}; it is probably truncated. {HOW_TO_FIX}."
        )
    if images and shape[1:] != [28, 28]:
        raise DataError(f"{path} holds images of shape {tuple(shape[1:])}, expected 28x28. {HOW_TO_FIX}.")
    if not math.prod(shape):
        tensor = torch.empty(shape, dtype=torch.uint8)  # frombuffer refuses an empty buffer
    else:
        # bytearray: frombuffer shares the memory, and a tensor must not alias immutable bytes.
        tensor = torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(shape)
    return tensor if images else tensor.long()


def _download(cache: Path) -> Path:
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    try:
        TorchvisionFashionMNIST(root=str(cache), train=True, download=True)
        TorchvisionFashionMNIST(root=str(cache), train=False, download=True)
    except Exception as err:  # network errors come in many types
        raise DataError(
            f"No local copy of Fashion-MNIST and the download into {cache} failed ({err}). {HOW_TO_FIX}."
        ) from err
    return cache / "FashionMNIST" / "raw"


def describe(data: FashionMNIST) -> str:
    """The notebook's exploration step as text: source, counts, shape, dtype, pixel statistics."""
    lines = [f"Fashion-MNIST from {data.source}"]
    for name, digest in data.sha256.items():
        lines.append(f"  {name}  sha256 {digest}")
    for split, images, labels in (
        ("train", data.train_images, data.train_labels),
        ("test", data.test_images, data.test_labels),
    ):
        pixels = images.float() / 255
        lines.append(
            f"{split}: {len(images)} images of shape {tuple(images.shape[1:])}, dtype {images.dtype}; "
            f"pixel mean {pixels.mean():.4f}, std {pixels.std():.4f} (scaled to [0, 1])"
        )
        counts = torch.bincount(labels, minlength=len(data.class_names))
        for index, (class_name, count) in enumerate(zip(data.class_names, counts.tolist())):
            lines.append(f"  {index} {class_name:<12} {count:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.training.data", description=__doc__)
    parser.add_argument(
        "--data-dir",
        help=f"folder with the four IDX files (default: ${ENV_VAR}, else {DEBIAN_DIR}, else download)",
    )
    args = parser.parse_args(argv)
    try:
        data = load_fashion_mnist(args.data_dir)
    except DataError as err:
        parser.exit(1, f"error: {err}\n")
    print(describe(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
