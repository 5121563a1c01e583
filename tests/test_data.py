"""Finding, verifying and loading Fashion-MNIST."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from model.classes import CLASS_NAMES
from model.training import data as data_module
from model.training.data import SHA256, DataError, load_fashion_mnist
from tests.conftest import idx_bytes


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load_as_uint8_tensors_with_their_labels(make_idx_dir, compress):
    folder, checksums, arrays = make_idx_dir(compress=compress)

    data = load_fashion_mnist(folder, checksums=checksums)

    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (12, 28, 28)
    assert data.test_images.shape == (6, 28, 28)
    assert data.train_labels.dtype == torch.int64
    assert np.array_equal(data.train_images.numpy(), arrays["train-images-idx3-ubyte"])
    assert data.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.source == folder
    assert data.sha256 == checksums


def test_a_file_with_the_wrong_checksum_is_refused_by_name(make_idx_dir):
    folder, _, _ = make_idx_dir()

    # These are not the real Fashion-MNIST bytes, so the recorded SHA-256 must reject them.
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has the wrong content"):
        load_fashion_mnist(folder)


def test_a_truncated_gzip_file_is_reported_with_its_name(make_idx_dir):
    folder, checksums, _ = make_idx_dir()
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz cannot be read.*apt-get install"):
        load_fashion_mnist(folder, checksums=checksums)


def test_a_truncated_plain_file_is_reported_even_without_checksums(make_idx_dir):
    folder, _, _ = make_idx_dir(compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])

    with pytest.raises(DataError, match=r"train-images-idx3-ubyte is not a valid IDX file"):
        load_fashion_mnist(folder, checksums=None)


def test_a_missing_file_says_how_to_get_the_dataset(make_idx_dir):
    folder, checksums, _ = make_idx_dir()
    (folder / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\(\.gz\) not found.*--data-dir"):
        load_fashion_mnist(folder, checksums=checksums)


def test_an_explicit_folder_that_does_not_exist_is_an_error_not_a_download(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_the_environment_variable_is_used_when_no_folder_is_given(make_idx_dir, monkeypatch):
    folder, checksums, _ = make_idx_dir()
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))

    assert load_fashion_mnist(checksums=checksums).source == folder


def test_labels_beyond_the_ten_classes_are_refused(make_idx_dir):
    folder, checksums, _ = make_idx_dir(compress=False)
    raw = idx_bytes(np.full(6, 12, dtype=np.uint8))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(raw)
    checksums["t10k-labels-idx1-ubyte"] = hashlib.sha256(raw).hexdigest()

    with pytest.raises(DataError, match="beyond the 10 classes"):
        load_fashion_mnist(folder, checksums=checksums)


def test_the_real_dataset_has_the_published_counts_and_checksums(fashion_mnist):
    assert fashion_mnist.train_images.shape == (60_000, 28, 28)
    assert fashion_mnist.test_images.shape == (10_000, 28, 28)
    assert fashion_mnist.train_images.dtype == torch.uint8
    assert torch.bincount(fashion_mnist.train_labels).tolist() == [6000] * 10
    assert torch.bincount(fashion_mnist.test_labels).tolist() == [1000] * 10
    assert fashion_mnist.sha256 == SHA256
    assert fashion_mnist.class_names == CLASS_NAMES


def test_the_exploration_step_prints_source_counts_and_pixel_statistics(fashion_mnist, capsys):
    assert data_module.main([]) == 0
    out = capsys.readouterr().out

    assert str(fashion_mnist.source) in out
    assert "train: 60000 images of shape (28, 28), dtype torch.uint8" in out
    assert "test: 10000 images" in out
    mean = (fashion_mnist.train_images.float() / 255).mean()
    assert f"pixel mean {mean:.4f}" in out
    assert "9 Ankle boot" in out


def test_the_exploration_step_exits_with_the_problem_on_bad_data(make_idx_dir, capsys):
    folder, _, _ = make_idx_dir()

    with pytest.raises(SystemExit) as exit_info:
        data_module.main(["--data-dir", str(folder)])

    assert exit_info.value.code == 1
    assert "wrong content" in capsys.readouterr().err
