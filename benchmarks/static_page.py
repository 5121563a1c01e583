"""Serve a static Space bundle on a free loopback port, drive its page in Chromium, compare it with Python.

Used by benchmarks/static_space.py and the tests:

    with StaticPage(bundle) as page:
        answer = page.answer(path)      # {"label", "warning", "way", "pixels", "ms"} or {"error"}
        page.requests                   # every URL the page asked for since the last page.reset_requests()
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from model import ImageError, TinyVGG, classify

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own calls home are refused on these machines; keep it quiet and offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# tinyvgg.js's answer(), for a file handed over as base64: what the page computes, or the error it shows.
ANSWER = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const a = await window.tinyvgg.answer(new Blob([bytes]));
    return {probabilities: a.probabilities, answer: a.answer, headline: a.headline, notes: a.notes, warning: a.warning,
            way: a.way, pixels: Array.from(a.pixels), ms: a.milliseconds};
  } catch (e) {
    return {error: e.message, kind: e.name};
  }
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the page's requests are recorded in the browser instead
        pass


class StaticPage:
    """A bundle served on 127.0.0.1 and its page open in headless Chromium, with the model loaded.

    `browser`: the Chromium of another open StaticPage to open this page in (Playwright's sync API runs
    once per thread); by default it launches its own.
    """

    def __init__(self, bundle: str | Path, timeout_ms: float = 120_000, browser=None) -> None:
        self.bundle = Path(bundle)
        self.timeout_ms = timeout_ms
        self.requests: list[str] = []
        self.browser = browser
        self._owns_browser = browser is None

    def __enter__(self) -> StaticPage:
        from playwright.sync_api import sync_playwright

        handler = functools.partial(_QuietHandler, directory=str(self.bundle))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/index.html"
        if self._owns_browser:
            self._playwright = sync_playwright().start()
            self.browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page()
        self.page.set_default_timeout(self.timeout_ms)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        started = time.perf_counter()
        self.page.goto(self.url)
        self.page.evaluate("window.tinyvgg.ready")
        self.load_seconds = time.perf_counter() - started
        # The page's own assets (the examples' thumbnails) may still be loading once the model is ready: wait
        # for them, so that `requests` counts only what classifying asks for.
        self.page.wait_for_load_state("networkidle")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owns_browser:
            self.browser.close()
            self._playwright.stop()
        else:
            self.page.close()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str | Path) -> dict:
        """tinyvgg.js's answer for the file at `path`, handed to the page in memory (no request)."""
        return self.page.evaluate(ANSWER, base64.b64encode(Path(path).read_bytes()).decode())

    def reset_requests(self) -> None:
        self.requests.clear()

    def network_requests(self) -> list[str]:
        """The requests since `reset_requests` that left the tab (blob: and data: URLs stay in memory)."""
        return [url for url in self.requests if not url.startswith(("blob:", "data:"))]


def python_answer(path: Path, model: TinyVGG) -> dict:
    """The Python app's answer, in the page's shape."""
    started = time.perf_counter()
    try:
        answer = classify(path, model)
    except ImageError as err:
        return {"error": str(err), "ms": 1000 * (time.perf_counter() - started)}
    return {
        "probabilities": answer.probabilities,
        "answer": answer.answer,
        "notes": answer.notes(),
        "warning": answer.warning,
        "way": answer.way,
        "pixels": answer.pixels.flatten().tolist(),
        "ms": 1000 * (time.perf_counter() - started),
    }


def compare(page: dict, python: dict) -> dict:
    """One photo's agreement: same top class and answer ("unsure" or a class), largest probability difference,
    mean gray-level difference, same notes and warning, same way."""
    if "error" in page or "error" in python:
        return {
            "both_refused": "error" in page and "error" in python,
            "same_error": page.get("error") == python.get("error"),
        }
    names = list(python["probabilities"])
    return {
        "same_top": max(names, key=python["probabilities"].get) == max(names, key=page["probabilities"].get),
        "same_answer": python["answer"] == page["answer"],
        "same_notes": python["notes"] == page["notes"],
        "max_probability_diff": max(abs(python["probabilities"][n] - page["probabilities"][n]) for n in names),
        "mean_gray_diff": float(np.mean(np.abs(np.array(python["pixels"], float) - np.array(page["pixels"], float)))),
        "same_warning": python["warning"] == page["warning"],
        "same_way": python["way"] == page["way"],
    }
