"""Pillow-equivalent resampling: coefficients, letterbox geometry, the 10° rectangle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from harness.distortions.resample import (
    box_pixelate,
    letterbox,
    pil_weights,
    rotated_rect_with_max_area,
    short_side_size,
)


@pytest.mark.parametrize(
    "kind, size", [("box", (37, 29)), ("bilinear", (37, 29)), ("bilinear", (120, 150))]
)
def test_weights_reproduce_pillow(kind, size):
    x = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    ref = np.asarray(
        Image.fromarray(x).resize(size, Image.BOX if kind == "box" else Image.BILINEAR)
    )
    w, h = size
    out = pil_weights(60, h, kind) @ x.transpose(2, 0, 1).astype(float) @ pil_weights(80, w, kind).T
    assert (
        np.abs(out.transpose(1, 2, 0) - ref).max() <= 1.0 + 1e-9
    )  # Pillow rounds to 8 bits per pass


def test_box_upscale_picks_one_pixel():
    w = pil_weights(5, 12, "box")
    assert set(np.unique(w)) == {0.0, 1.0} and (w.sum(1) == 1).all()


def test_box_pixelate_on_a_ramp():
    x = torch.arange(10.0).view(1, 1, 1, 10)
    out = box_pixelate(x, 0.5)[0, 0, 0]  # 10 -> 5 (pairs averaged) -> 10
    torch.testing.assert_close(
        out, torch.tensor([0.5, 0.5, 2.5, 2.5, 4.5, 4.5, 6.5, 6.5, 8.5, 8.5])
    )


@pytest.mark.parametrize("shape", [(37, 50), (64, 48), (45, 45), (224, 224)])
@pytest.mark.parametrize("factor", [0.6, 0.5, 0.3, 0.25])
@pytest.mark.parametrize("fallback", [False, True])
def test_box_pixelate_is_pillows_box_down_and_up(shape, factor, fallback, monkeypatch):
    # Independent value: Pillow's BOX coefficients as dense matrices, down then up (the up
    # matrix picks one pixel). Covers avg_pool (even cells) and matrix (uneven) downscales, and
    # with ``fallback`` the index-select upscale used where nearest-exact would differ.
    from harness.distortions import resample

    if fallback:
        monkeypatch.setattr(resample, "_nearest_exact_matches", lambda *args: False)
    h, w = shape
    small_h, small_w = int(h * factor), int(w * factor)
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows = pil_weights(small_h, h, "box") @ pil_weights(h, small_h, "box")
    cols = pil_weights(small_w, w, "box") @ pil_weights(w, small_w, "box")
    expected = torch.from_numpy(rows) @ x @ torch.from_numpy(cols).T
    torch.testing.assert_close(box_pixelate(x, factor), expected, atol=1e-12, rtol=0)


def test_torchvision_resize_sizes():
    assert short_side_size(400, 600, 224) == (224, 336)
    assert short_side_size(600, 401, 224) == (335, 224)  # int(224 * 600 / 401) = 335


def test_letterbox_geometry():
    x = torch.ones(1, 3, 50, 100)
    out = letterbox(x, 64)[0, 0]
    assert out.shape == (64, 64)
    rows = out.mean(1)
    assert rows[:14].max() < 0.05 and rows[18:46].min() > 0.95 and rows[50:].max() < 0.05


def test_rotated_rectangle():
    w, h = rotated_rect_with_max_area(504, 336, 10.0)
    # the rectangle's corners lie inside the rotated 504 x 336 rectangle
    a = math.radians(10)
    for sx, sy in ((1, 1), (1, -1)):
        x, y = sx * w / 2, sy * h / 2
        u, v = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
        assert abs(u) <= 252 + 1e-6 and abs(v) <= 168 + 1e-6
    assert w * h > 0.6 * 504 * 336
    assert rotated_rect_with_max_area(100, 100, 0.0) == pytest.approx((100, 100))
