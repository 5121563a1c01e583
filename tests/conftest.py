"""Shared fixtures: hand-made IDX files and the real Fashion-MNIST dataset."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from model.data import SHA256, DataError, FashionMNIST, load_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x0000 08 ndim, big-endian sizes)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def make_idx_dir(tmp_path: Path):
    """Write four small IDX files (train 12 / test 6 images) and return (folder, checksums, arrays)."""

    def make(compress: bool = True, n_train: int = 12, n_test: int = 6) -> tuple[Path, dict[str, str], dict]:
        rng = np.random.default_rng(0)
        arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
        }
        folder = tmp_path / ("gz" if compress else "plain")
        folder.mkdir()
        checksums = {}
        for name, array in arrays.items():
            raw = idx_bytes(array)
            checksums[name] = hashlib.sha256(raw).hexdigest()
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        assert set(checksums) == set(SHA256)
        return folder, checksums, arrays

    return make


@pytest.fixture(scope="session")
def fashion_mnist() -> FashionMNIST:
    """The real dataset. `make test` installs it; in CI its absence is a failure, not a skip."""
    try:
        return load_fashion_mnist()
    except DataError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the real Fashion-MNIST is not available here: {err}")

