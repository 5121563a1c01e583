"""train.py under torchrun: two CPU processes (gloo) on a small subset of the real dataset."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from model import artifacts
from tests.conftest import ROOT

SUBSET = ["--hidden-units", "8,8", "--limit-train", "6000", "--val-size", "500", "--limit-test", "1000"]
RUN = [*SUBSET, "--epochs", "3", "--no-progress", "--seed", "3"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "train.py"]


def launch(command: list[str], output_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*command, *RUN, "--output-dir", str(output_dir), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out, err


@pytest.fixture(scope="module")
def single(tmp_path_factory, fashion_mnist) -> Path:
    out = tmp_path_factory.mktemp("single")
    finish(launch([sys.executable, "train.py"], out))
    return out


@pytest.fixture(scope="module")
def distributed(tmp_path_factory, fashion_mnist) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("distributed")
    stdout, _ = finish(launch(TORCHRUN, out))
    return out, stdout


@pytest.mark.slow
def test_two_processes_write_one_set_of_the_same_artifacts(single, distributed):
    folder, stdout = distributed

    assert {p.name for p in folder.iterdir()} == {p.name for p in single.iterdir()}
    assert stdout.count("artifacts in") == 1, "only rank 0 reports and writes"
    assert stdout.count("epoch 1/3") == 1


@pytest.mark.slow
def test_two_processes_reach_the_accuracy_of_one(single, distributed):
    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((distributed[0] / "metrics.json").read_text())

    assert len(two["history"]) == 3
    # Two processes see other batches (and batch norm statistics over half of each), so the runs
    # differ; both must learn far beyond chance (10%), and about as well.
    assert one["test_accuracy"] > 0.5 and two["test_accuracy"] > 0.5
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.06
    # The reduced last-epoch evaluation is the same number rank 0 measures on the whole test set.
    assert two["history"][-1]["test_accuracy"] == pytest.approx(two["test_accuracy"])
    assert two["data"]["test_images"] == 1000 and "x 2 processes" in two["environment"]["device"]
    assert two["command"].startswith("torchrun --nproc-per-node=2 train.py")


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_and_completes(tmp_path, fashion_mnist):
    proc = launch(TORCHRUN, tmp_path)
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert (tmp_path / artifacts.CHECKPOINT).exists()
    assert not (tmp_path / "metrics.json").exists()
    saved = (tmp_path / artifacts.CHECKPOINT).read_bytes()

    # One process would draw other batches than the two that started the run: refused, checkpoint kept.
    alone = launch([sys.executable, "train.py"], tmp_path, "--resume")
    _, err = alone.communicate(timeout=300)
    assert alone.returncode != 0
    assert "written by 2 processes, and this run has 1 process" in err
    assert (tmp_path / artifacts.CHECKPOINT).read_bytes() == saved

    stdout, _ = finish(launch(TORCHRUN, tmp_path, "--resume"))

    assert "resuming from" in stdout
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


@pytest.mark.slow
def test_a_global_batch_that_does_not_split_evenly_is_refused(tmp_path, fashion_mnist):
    result = subprocess.run(
        [*TORCHRUN, *SUBSET, "--epochs", "1", "--batch-size", "127", "--output-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode != 0
    assert "must divide evenly over 2 processes" in result.stdout + result.stderr


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_a_worker_that_dies_takes_the_run_down_instead_of_hanging(tmp_path, fashion_mnist):
    # A seeded moment in epoch 2, after the first checkpoint; the worker is frozen, the run checked to be
    # still training, and only then killed, so the kill cannot race the end of the run.
    fraction = random.Random(14).random()
    proc = launch(TORCHRUN, tmp_path)
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            epoch_seconds = float(re.search(r"\| ([\d.]+)s\b", line)[1])
            break
    checkpoint = tmp_path / artifacts.CHECKPOINT
    while not checkpoint.exists():
        assert proc.poll() is None, "the run ended before writing its first checkpoint"
        time.sleep(0.01)
    time.sleep(fraction * epoch_seconds)
    workers = children(proc.pid)
    assert len(workers) == 2
    os.kill(max(workers), signal.SIGSTOP)
    assert proc.poll() is None and torch.load(checkpoint, weights_only=True)["progress"]["epoch_state"]["epoch"] <= 3
    os.kill(max(workers), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # the timeout is the test's guard against a hang

    assert proc.returncode != 0
    assert "FAILED" in err or "ChildFailedError" in err
