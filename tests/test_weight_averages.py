"""benchmarks/weight_averages.py: one run gives the averages, each what train.py --ema-decay would save."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from safetensors.torch import load_file

import train
from benchmarks import weight_averages
from model.loading import load_folder
from model.metrics import read_metrics
from model.training.engine import evaluate
from tests.test_train import SMALL

FLAGS = [*SMALL, "--epochs", "2", "--no-progress", "--seed", "3"]


@pytest.mark.slow
def test_one_run_writes_each_average_as_a_calibrated_measured_model(tmp_path, fashion_mnist):
    with contextlib.redirect_stdout(io.StringIO()):
        status = weight_averages.main([str(tmp_path / "run"), "--decays", "0.9", "--last-epochs", "1", "--", *FLAGS])
        assert status == 0
        assert train.main([*FLAGS, "--ema-decay", "0.9", "--output-dir", str(tmp_path / "alone")]) == 0

    raw = load_file(tmp_path / "run" / "model.safetensors")
    alone = load_file(tmp_path / "alone" / "model.safetensors")
    ema = load_file(tmp_path / "run-ema0.9" / "model.safetensors")
    last = load_file(tmp_path / "run-last1" / "model.safetensors")
    assert ema.keys() == alone.keys()
    assert all(torch.equal(ema[name], alone[name]) for name in alone), "the average train.py --ema-decay saves"
    for average in (ema, last):
        assert not torch.equal(average["classifier.1.weight"], raw["classifier.1.weight"])
        assert not torch.equal(average["conv_block_1.1.running_var"], raw["conv_block_1.1.running_var"])

    # Calibrated again for its own weights: as train.py calibrates the same weights.
    assert load_folder(tmp_path / "run-ema0.9").temperature == load_folder(tmp_path / "alone").temperature
    assert load_folder(tmp_path / "run-ema0.9").temperature != load_folder(tmp_path / "run").temperature
    test = fashion_mnist.test_images[:500], fashion_mnist.test_labels[:500]  # SMALL's --limit-test
    for name in ("run-ema0.9", "run-last1"):
        metrics = read_metrics(tmp_path / name)
        assert metrics["test_accuracy"] == evaluate(load_folder(tmp_path / name), *test).accuracy
        assert metrics["command"].startswith("python benchmarks/weight_averages.py")


def test_averages_beyond_the_run_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        weight_averages.main([str(tmp_path / "run"), "--last-epochs", "4", "--", "--epochs", "3"])
    assert "last epochs in 1..3" in capsys.readouterr().err
