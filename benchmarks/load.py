"""Drive the running app with concurrent gradio_client clients, good and bad images mixed.

    python benchmarks/load.py [--clients 16] [--requests 25] [--repeats 1] [--url URL]

Without --url it starts `app.py` on a free loopback port and stops it afterwards. Every
client sends --requests predictions, one in four a broken file from benchmarks/bad_images.py.
It reports failed good requests, bad requests that were not refused, median and 99th
percentile latency, throughput, and the server's memory after warm-up and after the load.
With --repeats N the same load runs N times against the same server, and the timings are given as
the median of the runs with their range (the machines are shared and noisy). Traffic goes to
127.0.0.1 only, and the run is bounded by repeats x clients x requests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from app_server import ROOT, start_app, stop  # beside this script, shared with the tests
from bad_images import EXPECTED, make_cases
from gradio_client import Client, handle_file

GOOD = sorted((ROOT / "examples").glob("*"))
BAD = [name for name, outcome in EXPECTED.items() if outcome != "ok" and name != "bomb_30000x30000.png"]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def run(url: str, clients: int, requests: int, bad_files: dict[str, Path], pid: int | None) -> dict:
    """Warm up, then run the load; return the figures."""
    warm = Client(url, verbose=False)
    for path in GOOD:
        warm.predict(handle_file(path), api_name="/predict")
    memory_warm = rss_mib(pid) if pid else None

    latencies: list[float] = []
    failures: list[str] = []
    not_refused: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = Client(url, verbose=False)
        for i in range(requests):
            bad = i % 4 == 3
            path = bad_files[BAD[(index + i) % len(BAD)]] if bad else GOOD[(index + i) % len(GOOD)]
            started = time.perf_counter()
            try:
                client.predict(handle_file(path), api_name="/predict")
                outcome = "not refused" if bad else "ok"
            except Exception as err:  # gradio_client raises AppError for our gr.Error
                outcome = "refused" if bad else f"failed: {type(err).__name__}: {err}"
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if outcome.startswith("failed"):
                    failures.append(f"{path.name}: {outcome}")
                elif outcome == "not refused":
                    not_refused.append(path.name)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    time.sleep(1)  # let the server finish its bookkeeping before reading its memory

    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed_good_requests": failures,
        "bad_requests_not_refused": not_refused,
        "median_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "requests_per_second": len(latencies) / wall,
        "memory_after_warmup_mib": memory_warm,
        "memory_after_load_mib": rss_mib(pid) if pid else None,
    }


def over_runs(runs: list[dict], key: str, spec: str) -> str:
    """`key` over the runs: the median, with the range when there are several."""
    values = [run_figures[key] for run_figures in runs]
    median = format(statistics.median(values), spec)
    return median if len(values) == 1 else f"{median} ({format(min(values), spec)}-{format(max(values), spec)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--requests", type=int, default=25, help="requests per client (default: 25)")
    parser.add_argument("--url", help="a running app on this machine (default: start app.py on a free port)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the whole load (default: 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (of the last run)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")

    proc, url = (None, args.url) if args.url else start_app()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [
                run(url, args.clients, args.requests, make_cases(Path(tmp)), proc.pid if proc else None)
                for _ in range(args.repeats)
            ]
        figures = runs[-1] | {
            "failed_good_requests": [r for run_figures in runs for r in run_figures["failed_good_requests"]],
            "bad_requests_not_refused": [r for run_figures in runs for r in run_figures["bad_requests_not_refused"]],
        }
        figures["server_still_running"] = proc.poll() is None if proc else None
    finally:
        if proc:
            stop(proc)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['requests']} requests from {figures['clients']} clients, 1 in 4 a broken file")
        print(f"failed good requests:       {len(figures['failed_good_requests'])}")
        print(f"bad requests not refused:   {len(figures['bad_requests_not_refused'])}")
        print(f"runs:                       {len(runs)} (timings: median of the runs, and their range)")
        print(f"latency median:             {over_runs(runs, 'median_ms', '.0f')} ms")
        print(f"latency p99:                {over_runs(runs, 'p99_ms', '.0f')} ms")
        print(f"throughput:                 {over_runs(runs, 'requests_per_second', '.1f')} requests/s")
        if figures["memory_after_warmup_mib"]:
            print(
                f"server memory:              {figures['memory_after_warmup_mib']:.0f} MiB after warm-up, "
                f"{figures['memory_after_load_mib']:.0f} MiB after the load"
            )
            print(f"server still running:       {figures['server_still_running']}")
    return 1 if figures["failed_good_requests"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
