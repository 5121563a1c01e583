"""Shared fixtures: hand-made IDX files, the real Fashion-MNIST dataset and the local Hub server."""

from __future__ import annotations

import os
import tempfile

from benchmarks.app_server import free_port, start_app, stop  # stdlib only, so it may come before the settings below

# huggingface_hub reads its environment once, when first imported, so the local test Hub is
# configured here, before any test module imports it. Subprocesses inherit the same settings.
HUB_PORT = free_port()
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
    os.environ.pop(_name, None)
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_HOME=tempfile.mkdtemp(prefix="tinyvgg-test-hf-home-"),
    HF_HUB_DISABLE_XET="1",  # plain preupload + commit, which the test server speaks
    HF_HUB_DISABLE_TELEMETRY="1",
    GRADIO_ANALYTICS_ENABLED="False",  # the app under test must not call home
)

import gzip  # noqa: E402
import hashlib  # noqa: E402
import struct  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from model.training.data import SHA256, DataError, FashionMNIST, load_fashion_mnist  # noqa: E402
from tests.hub_server import HubServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What every trained folder holds (train.py writes them all; the checkpoint is not an artifact).
ARTIFACTS = {
    "model.safetensors",
    "config.json",
    "README.md",
    "metrics.json",
    "confusion_matrix.png",
    "loss_curves.png",
    "training_args.json",
}


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


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory, fashion_mnist) -> Path:
    """A real run folder, read only: the notebook's network trained for one epoch on 1,000 images."""
    import train

    out = tmp_path_factory.mktemp("notebook-run")
    args = ["--preset", "notebook", "--epochs", "1", "--limit-train", "1000", "--limit-test", "300", "--no-progress"]
    assert train.main([*args, "--output-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def _hub_session() -> Iterator[HubServer]:
    with HubServer(port=HUB_PORT) as server:
        yield server


@pytest.fixture
def hub_server(_hub_session: HubServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The local Hub, emptied for this test; no token in the environment unless the test sets HF_TOKEN."""
    _hub_session.reset()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield _hub_session


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright, as the browser tests use it."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    from benchmarks.static_page import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`python app.py` with the shipped model, on a free loopback port; its URL."""
    proc, url = start_app()
    yield url
    stop(proc)
    assert proc.returncode in (0, -15), "the app must still be running when the tests end"


# Fixtures that train a model or start a server (a subprocess or a thread): a test that uses one
# is slow by the marker's own definition in pyproject.toml, and must say so.
SLOW_FIXTURES = {
    "_hub_session",  # the local Hub server, behind hub_server
    "server",  # the app in a subprocess
    "trained",  # tests/test_card.py: a training run
    "trained_once",  # tests/test_hub.py: the same
    "short_run_and_log",  # tests/test_train.py: the same
    "uninterrupted",  # tests/test_train.py: a training subprocess
    "single",  # tests/test_distributed.py: the same
    "distributed",  # tests/test_distributed.py: torchrun
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} (uses {', '.join(sorted(SLOW_FIXTURES & set(item.fixturenames)))})"
        for item in items
        if SLOW_FIXTURES & set(item.fixturenames) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError("mark these tests @pytest.mark.slow:\n  " + "\n  ".join(unmarked))


def missing_under_ci(why: str) -> None:
    """Fail under CI (`.ci/run` sets CI=true), else skip, saying what is missing and how to get it."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def require_chromium() -> None:
    """Fail (under CI) or skip, saying why, where Debian's chromium is not installed."""
    from benchmarks.static_page import CHROMIUM

    if not os.path.exists(CHROMIUM):
        missing_under_ci(f"{CHROMIUM} is missing: install Debian's chromium package (make test does, as root)")
