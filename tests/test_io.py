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
