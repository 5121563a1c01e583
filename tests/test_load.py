"""The load script at a reduced size: concurrent clients, good and bad images, no failure, no leak."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_concurrent_clients_mixing_good_and_bad_images_get_every_good_answer():
    result = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--clients", "4", "--requests", "12", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    figures = json.loads(result.stdout[result.stdout.index("{") :])

    assert figures["requests"] == 48
    assert figures["failed_good_requests"] == []
    assert figures["bad_requests_not_refused"] == []
    assert figures["server_still_running"] is True
    assert figures["memory_after_load_mib"] <= 1.10 * figures["memory_after_warmup_mib"]
    assert result.returncode == 0, result.stderr[-2000:]
