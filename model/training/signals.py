"""Ctrl-C and SIGTERM become a flag the training loop polls, so it can save its place and stop cleanly."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """Turn SIGINT and SIGTERM into a flag the loop polls between batches.

    Yields a function returning the signal number received, or None.
    """
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield lambda: received[0] if received else None
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
