"""Atomic writes and the early check of the output folder."""

from __future__ import annotations

import os

import pytest

from model.files import atomic_path, write_json
from model.training.run_folder import check_writable


def test_a_failed_write_leaves_the_previous_file_untouched(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.9})

    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"accura')  # half a file, then a crash
            raise RuntimeError("crash mid-write")

    assert target.read_text() == '{\n  "accuracy": 0.9\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_the_temporary_name_keeps_the_suffix_and_the_result_gets_normal_permissions(tmp_path):
    with atomic_path(tmp_path / "figure.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")

    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "figure.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_output_folder_below_a_file_is_reported_as_unwritable(tmp_path):
    (tmp_path / "file").write_text("x")

    with pytest.raises(OSError, match="cannot write to the output folder"):
        check_writable(tmp_path / "file" / "out")
