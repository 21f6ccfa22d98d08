"""Fixtures for the distortion tests: real photographs and a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import PHOTOS, load_photo, to_tensor


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Four real photographs at 224 x 224, uint8."""
    return [load_photo(n) for n in PHOTOS]


@pytest.fixture(scope="session")
def photo_batch(photos) -> torch.Tensor:
    """The same photographs as a float batch ``(4, 3, 224, 224)``."""
    return to_tensor(photos)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """These tests run many small ops: one intra-op thread avoids OpenMP barrier waits on a shared
    2-core machine (the previous setting is restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
