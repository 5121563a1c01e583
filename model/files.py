"""Atomic file writes: write under a temporary name, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The temporary name keeps the suffix, so writers that pick a format from it
    (matplotlib, safetensors) behave as they would on the real name. On error the
    temporary file is removed and any previous `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete what a killed run left half-written here: our temporary files and scratch folders."""
    removed = []
    for path in Path(folder).glob(".*"):
        if path.is_file() and ".tmp" in path.name:
            path.unlink()
        elif path.is_dir() and path.name.startswith(".artifacts-"):
            shutil.rmtree(path)
        else:
            continue
        removed.append(path)
    return removed
