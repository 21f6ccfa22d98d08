"""Shared fixtures: an isolated checkpoint cache per test, a fresh registry, the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's checkpoint cache."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def registry():
    """A fresh registry of the installed plugins (built-ins via their entry points)."""
    from harness.registry import build_registry

    return build_registry(strict=True)


@pytest.fixture
def shared() -> Path:
    """``../shared`` (research-only label files); skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the real label files are not distributed)")
    return SHARED
