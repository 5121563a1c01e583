"""The README's and docs' commands that write files leave `git status` as it was: outputs go to ignored folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, missing_under_ci

REAL_PHOTOS = ROOT.parent / "shared" / "real-photos"
# Each documented command in its short form, with the folder it writes into by default.
COMMANDS = {
    "space": (["-m", "model.publishing.space", "build", "space/"], "space"),
    "static-space": (["-m", "model.publishing.space", "build", "--static", "static-space/"], "static-space"),
    "bad-images": (["benchmarks/bad_images.py"], "bad-images"),
    "real-photos": (["benchmarks/real_photos.py"], None),
    "export": (["-m", "model.publishing.export", "model/pretrained"], None),
    "results": (["-m", "model.publishing.results"], None),
}


def git_status() -> str:
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        missing_under_ci(f"{ROOT} is not a git checkout: {result.stderr.strip()}")
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMANDS)
def test_a_documented_command_leaves_git_status_as_it_was(name):
    argv, output = COMMANDS[name]
    if name == "real-photos" and not REAL_PHOTOS.is_dir():
        missing_under_ci(f"{REAL_PHOTOS} is not beside this checkout")
    written = ROOT / output if output else None
    if written is not None and written.exists():
        pytest.skip(f"{written} is already there (yours): the command refuses a folder that is not empty")
    before = git_status()
    try:
        result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        if written is not None:
            assert written.is_dir() and any(written.iterdir()), f"{name} wrote nothing into {written}"
        assert git_status() == before
    finally:
        if written is not None:
            shutil.rmtree(written, ignore_errors=True)


def test_every_folder_the_docs_write_into_is_ignored_by_git():
    # A file inside each: a pattern such as `space/` matches a folder only once it exists.
    # runs/: train.py's default output; feedback/: `python app.py --feedback`'s (people's photos: never committed).
    others = ["runs/default/a-file", "feedback/2026-12/a-file"]
    files = [f"{output}/a-file" for _, output in COMMANDS.values() if output] + others
    result = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)

    assert sorted(Path(line).as_posix() for line in result.stdout.split()) == sorted(files)
