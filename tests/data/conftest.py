"""Generated real-layout datasets, written once per test session (small images, 40 each)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from harness.synthetic.layouts import write_layout

N = 40


@pytest.fixture(scope="session")
def _layout_cache(tmp_path_factory):
    cache: dict[tuple[str, bool], Path] = {}

    def make(fmt: str, quirks: bool) -> Path:
        if (fmt, quirks) not in cache:
            out = tmp_path_factory.mktemp(f"{fmt}_{'quirks' if quirks else 'clean'}")
            write_layout(fmt, out, n_images=N, seed=0, min_side=32, max_side=48, quirks=quirks)
            cache[fmt, quirks] = out
        return cache[fmt, quirks]

    return make


@pytest.fixture
def layout(_layout_cache, tmp_path):
    """``layout(fmt, quirks=True)``: a private copy of a generated dataset root (tests may
    edit it)."""

    def copy(fmt: str, quirks: bool = True) -> Path:
        target = Path(tempfile.mkdtemp(prefix=f"{fmt}_{quirks}_", dir=tmp_path)) / "root"
        shutil.copytree(_layout_cache(fmt, quirks), target)
        return target

    return copy


@pytest.fixture
def load(registry):
    """``load(name, **settings)``: the dataset plugin's Dataset for purpose ``labelled``."""

    def run(name: str, purpose: str = "labelled", **settings):
        spec = registry.get("dataset", name)
        return spec.factory(spec.settings(**settings), purpose)

    return run
