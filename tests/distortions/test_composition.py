"""Composition: window offsets, rotation angles and stretch factors measured on synthetic images,
and parity with Pfister's Pillow pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import psnr, to_arrays

from harness.distortions import apply, get
from harness.distortions import composition as C


def _coordinates(h: int, w: int) -> torch.Tensor:
    """An image whose red channel is the column and green the row (exact in float64)."""
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return torch.stack((cols / 1000, rows / 1000, torch.zeros_like(rows)))[None]


def _checkerboard(h: int, w: int, period: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((rows // period + cols // period) % 2).double()
    return board.expand(3, h, w)[None].clone()


@pytest.mark.parametrize("name", list(C.CROPS))
@pytest.mark.parametrize("level", [-5, -2, 1, 3, 5])
def test_crop_window_offsets_follow_the_table(name, level):
    frame, canvas = (224, 336), (336, 504)
    out = C.crop(_coordinates(*canvas), frame, name, [level])[0]
    top, left = round(out[1, 0, 0].item() * 1000), round(out[0, 0, 0].item() * 1000)
    centre_top, centre_left = (336 - 224) // 2, (504 - 336) // 2
    h_move, v_move = {
        "hcrop": (level, 0),
        "vcrop": (0, level),
        "leftcornerscrop": (-abs(level), level),
        "rightcornerscrop": (abs(level), level),
    }[name]
    # level k moves the window 0.2 k of the way to the border; + is right / up.
    assert left == centre_left + round(0.2 * h_move * centre_left)
    assert top == centre_top - round(0.2 * v_move * centre_top)
    if abs(level) == 5 and v_move:
        assert top in (0, 336 - 224)  # touches the border
    assert torch.equal(out[:, 5, 7], _coordinates(*canvas)[0, :, top + 5, left + 7])


def _line_angle(image: torch.Tensor) -> float:
    """Angle (degrees, counter-clockwise) of the bright line through a grey image."""
    grey = image[0].mean(0).numpy()
    ys, xs = np.nonzero(grey > 0.5)
    slope = np.polyfit(xs, ys, 1)[0]
    return -math.degrees(math.atan(slope))  # image rows grow downwards


@pytest.mark.parametrize("level", [-5, -3, -1, 2, 4, 5])
def test_rotation_angle_is_two_degrees_per_level(level):
    canvas = torch.zeros(1, 3, 300, 450, dtype=torch.float64)
    canvas[..., 148:152, :] = 1.0  # a horizontal bar through the centre
    out = C.rotate(canvas, (200, 300), [get("rotate").params[level]])
    assert _line_angle(out) == pytest.approx(2.0 * level, abs=0.15)
    assert out.shape[-2:] == (200, 300)


def _checkerboard_angle(image: torch.Tensor) -> float:
    """Rotation (degrees, counter-clockwise) of a checkerboard: the mean of 4 x the Sobel gradient
    angle of the smoothed image, weighted by the squared gradient (edges sit at 0° and 90°).
    Sobel's anisotropy biases it by ~2 % of the angle; the bar test above is the precise one."""
    from scipy import ndimage

    grey = ndimage.gaussian_filter(image[0].mean(0).double().numpy(), 3.0)
    gx, gy = ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=0)
    z = ((gx**2 + gy**2) * np.exp(4j * np.arctan2(-gy, gx))).sum()  # rows grow downwards
    return math.degrees(np.angle(z) / 4)


@pytest.mark.parametrize("level", [-5, -2, 1, 3, 5])
def test_rotation_angle_measured_on_a_checkerboard(level):
    out = C.rotate(_checkerboard(300, 450, 32), (200, 300), [get("rotate").params[level]])
    assert _checkerboard_angle(out) == pytest.approx(2.0 * level, abs=0.4)


def _period(profile: np.ndarray) -> float:
    """Mean distance between transitions of a 0/1 profile."""
    edges = np.nonzero(np.abs(np.diff(profile > 0.5)))[0]
    return float(np.mean(np.diff(edges)))


@pytest.mark.parametrize("level", [-5, -2, 1, 4])
def test_ratio_stretch_factor_on_a_checkerboard(level):
    board = _checkerboard(160, 240, 10)
    out = C.ratio(board, [level])[0].mean(0).numpy()
    factor = 1 + abs(level) / 5
    if level > 0:
        assert _period(out[:, 120]) == pytest.approx(10 * factor, rel=0.03)
        assert _period(out[80, :]) == pytest.approx(10, rel=0.03)
    else:
        assert _period(out[80, :]) == pytest.approx(10 * factor, rel=0.03)
        assert _period(out[:, 120]) == pytest.approx(10, rel=0.03)


@pytest.mark.parametrize(
    "name, levels, floor",
    [
        ("hcrop", [-5, -1, 2, 5], 40.0),
        ("leftcornerscrop", [-3, 1, 4, 5], 40.0),
        ("rotate", [-5, -2, 1, 5], 40.0),
        ("ratio", [-5, -1, 3, 5], 40.0),
    ],
)
def test_fast_matches_pfisters_pillow_pipeline(photo_batch, name, levels, floor):
    fast = to_arrays(apply(photo_batch, name, levels))
    ref = to_arrays(apply(photo_batch, name, levels, backend="reference"))
    for a, b in zip(fast, ref):
        assert psnr(a, b) >= floor


def test_crops_are_pixel_exact_given_the_same_canvas():
    canvas = torch.rand(2, 3, 336, 336, dtype=torch.float64)
    out = C.crop(canvas, (224, 224), "vcrop", [5, -5])
    assert torch.equal(out[0], canvas[0, :, :224, 56:280])
    assert torch.equal(out[1], canvas[1, :, 112:, 56:280])


def test_composition_level_zero_is_the_identity(photo_batch):
    for name in ("rotate", "hcrop", "ratio"):
        assert torch.equal(apply(photo_batch, name, 0), photo_batch)
