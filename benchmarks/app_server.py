"""Start app.py (or a Space bundle's copy of it) on a free loopback port and stop it; used by benchmarks and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 90, python: str = sys.executable
) -> tuple[subprocess.Popen, str]:
    """Run `app.py` in `cwd` with `python` on a free port; return the process and its URL once it answers.

    Its output goes to a temporary file rather than a pipe nobody reads (a full pipe would
    block the server under load); the file is shown if the app exits before answering.
    """
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [python, "app.py", "--port", str(port), *args],
        cwd=cwd,
        env=env if env is not None else os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"app.py exited with {proc.returncode}: {log.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"app.py did not answer on {url} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
