"""Atomic writes leave either the old file or the new one, never half of one; JSON is strict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.io import atomic_write, write_json


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"srcc": 0.5})

    def crash(handle):
        handle.write('{"srcc": 0.')
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"srcc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_non_finite_numbers_become_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"plcc": float("nan"), "x": np.float32("inf"), "n": np.int64(3), "ok": 1.5})
    out = json.loads(path.read_text())
    assert out == {"plcc": None, "x": None, "n": 3, "ok": 1.5}


def test_written_files_get_the_usual_permissions(tmp_path):
    """Like open(): 0666 minus the umask, not mkstemp's owner-only 0600."""
    import os

    from harness import io

    path = write_json(tmp_path / "a.json", {"x": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~io._UMASK == 0o666 & ~_umask(os)


def _umask(os) -> int:
    current = os.umask(0)
    os.umask(current)
    return current
