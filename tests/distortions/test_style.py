"""Style filters: darktable's formulas on hand-computed Lab values, identity, monotonicity and
parity with the NumPy reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import psnr, to_arrays

from harness.distortions import apply, catalogue, get
from harness.distortions import style as S
from harness.distortions.colour import lab_to_srgb, srgb_to_lab

STYLE = [d.name for d in catalogue("pfister2021") if d.aspect == "style"]


def _pixels(*rgb) -> torch.Tensor:
    """A (1, 3, 1, N) image of the given sRGB colours."""
    return torch.tensor(rgb, dtype=torch.float64).T.reshape(1, 3, 1, len(rgb))


def _grey_lightness(v: float) -> float:
    lin = v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    return 116 * lin ** (1 / 3) - 16 if lin > 216 / 24389 else 24389 / 27 * lin


def test_lab_of_known_colours():
    lab = srgb_to_lab(_pixels((1, 1, 1), (0.5, 0.5, 0.5), (1, 0, 0), (0, 0, 1)))[0, :, 0].T
    f64 = torch.float64
    # White and grey are neutral up to the ICC matrix's row sums (0.96422, 1, 0.82521) against
    # darktable's D50 white (0.9642, 1, 0.8249): |a|, |b| < 0.03.
    torch.testing.assert_close(lab[0], torch.tensor([100.0, 0, 0], dtype=f64), atol=0.03, rtol=0)
    torch.testing.assert_close(lab[1], torch.tensor([53.389, 0, 0], dtype=f64), atol=0.03, rtol=0)
    # sRGB primaries in D50 Lab (ICC sRGB profile, Bradford): red (54.29, 80.81, 69.89),
    # blue (29.57, 68.30, -112.03).
    torch.testing.assert_close(
        lab[2], torch.tensor([54.29, 80.81, 69.89], dtype=f64), atol=0.05, rtol=0
    )
    torch.testing.assert_close(
        lab[3], torch.tensor([29.57, 68.30, -112.03], dtype=f64), atol=0.05, rtol=0
    )


def test_lab_round_trip():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(lab_to_srgb(srgb_to_lab(x)), x, atol=1e-9, rtol=0)


@pytest.mark.parametrize("contrast", [-0.6, 0.6])
def test_colisa_contrast_on_a_grey_pixel(contrast):
    v = 0.3
    light = _grey_lightness(v)
    c = contrast + 1
    if c <= 1:
        target = c * (light - 50) + 50
    else:
        k, x = 20 * (c - 1) ** 2, 2 * light / 100 - 1
        target = 50 * (1 + math.sqrt(1 + k) * x / math.sqrt(1 + k * x * x))
    out = S.colisa(_pixels((v, v, v)), [contrast], [0.0], [0.0])
    lab = srgb_to_lab(out)[0, :, 0, 0]
    assert lab[0].item() == pytest.approx(target, abs=1e-6)
    torch.testing.assert_close(
        lab[1:], srgb_to_lab(_pixels((v, v, v)))[0, 1:, 0, 0], atol=1e-6, rtol=0
    )


def test_colisa_brightness_and_saturation_by_hand():
    v = 0.6
    light = _grey_lightness(v)
    out = S.colisa(_pixels((v, v, v)), [0.0], [0.4], [0.0])  # b = 0.8, gamma = 1 / 1.8
    assert srgb_to_lab(out)[0, 0, 0, 0].item() == pytest.approx(
        100 * (light / 100) ** (1 / 1.8), abs=1e-6
    )
    out = S.colisa(_pixels((v, v, v)), [0.0], [-0.5], [0.0])  # b = -1, gamma = 2
    assert srgb_to_lab(out)[0, 0, 0, 0].item() == pytest.approx(100 * (light / 100) ** 2, abs=1e-6)
    colour = _pixels((0.6, 0.4, 0.3))
    before = srgb_to_lab(colour)[0, :, 0, 0]
    after = srgb_to_lab(S.colisa(colour, [0.0], [0.0], [-0.5]))[0, :, 0, 0]
    torch.testing.assert_close(
        after, before * torch.tensor([1.0, 0.5, 0.5], dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_vibrance_by_hand():
    colour = _pixels((0.7, 0.35, 0.25))
    lab = srgb_to_lab(colour)[0, :, 0, 0]
    w = math.hypot(lab[1].item(), lab[2].item()) / 256
    amount = 0.6
    expected = lab * torch.tensor(
        [1 - 0.25 * amount * w, 1 + amount * w, 1 + amount * w], dtype=torch.float64
    )
    got = srgb_to_lab(S.vibrance(colour, [60.0]))[0, :, 0, 0]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_exposure_and_white_balance_by_hand():
    x = _pixels((0.25, 0.5, 0.1), (0.6, 0.6, 0.6))
    out = S.exposure(x, [1.0])[0, :, 0].T
    torch.testing.assert_close(
        out, torch.tensor([[0.5, 1.0, 0.2], [1.0, 1.0, 1.0]], dtype=torch.float64)
    )
    out = S.white_balance(x, [0.5], [4.0])[0, :, 0].T
    torch.testing.assert_close(
        out, torch.tensor([[0.125, 0.5, 0.4], [0.3, 0.6, 1.0]], dtype=torch.float64)
    )


def test_iir_gaussian_matrix_is_the_recursive_filter():
    from harness.distortions.darktable_numpy import recursive_gaussian

    m = S.iir_gaussian_matrix(120, 10.0)
    np.testing.assert_allclose(m @ np.full(120, 3.0), 3.0, atol=1e-9)  # constants preserved
    signal = np.random.default_rng(0).random((120, 90))
    expected = recursive_gaussian(signal, 10.0)  # the loop version: columns, then rows
    got = m @ signal @ S.iir_gaussian_matrix(90, 10.0).T
    np.testing.assert_allclose(got, expected, atol=1e-9)
    impulse = m[:, 60]
    assert impulse.argmax() == 60 and np.allclose(impulse[50:60], impulse[70:60:-1], atol=1e-12)


def test_shadhi_on_a_flat_grey_image_by_hand():
    # On a flat image the blurred mask equals L, so one pixel can be computed from the formulas.
    v = 0.2
    light = _grey_lightness(v) / 100
    mask = 1 - light
    out = S.shadhi(torch.full((1, 3, 8, 8), v, dtype=torch.float64), [60.0], [0.0], radius=4.0)
    # highlights 0 -> no pass; shadows 60 -> amount 1.2, squared 1.44: chunks 1 and 0.44.
    weight = min(max(mask / 0.5 - 1.0, 0), 1)
    for chunk in (1.0, 0.44):
        lb = (mask - 0.5) * 1 * 1 + 0.5
        over = 1 - (1 - 2 * (light - 0.5)) * (1 - lb) if light > 0.5 else 2 * light * lb
        light = light * (1 - chunk * weight) + over * chunk * weight
    assert srgb_to_lab(out)[0, 0, 4, 4].item() == pytest.approx(100 * light, abs=1e-6)


@pytest.mark.parametrize("name", STYLE)
def test_level_zero_is_exactly_the_identity(photo_batch, name):
    assert torch.equal(apply(photo_batch, name, 0), photo_batch)
    mixed = apply(photo_batch, name, [0, get(name).levels[0], 0, get(name).levels[-1]])
    assert torch.equal(mixed[0], photo_batch[0]) and torch.equal(mixed[2], photo_batch[2])


def _luminance(x):
    return (0.2126 * x[:, 0] + 0.7152 * x[:, 1] + 0.0722 * x[:, 2]).mean().item()


def _chroma(x):
    lab = srgb_to_lab(x.double())
    return torch.sqrt(lab[:, 1] ** 2 + lab[:, 2] ** 2).mean().item()


@pytest.mark.parametrize(
    "name, measure",
    [
        ("exposure", _luminance),
        ("brightness", _luminance),
        ("saturation", _chroma),
        ("vibrance", _chroma),
        ("shadows", _luminance),
        ("temperature", lambda x: (x[:, 0].mean() / x[:, 2].mean()).item()),
        ("tint", lambda x: (x[:, 1].mean() / (x[:, 0].mean() + x[:, 2].mean())).item()),
        ("contrast", lambda x: srgb_to_lab(x.double())[:, 0].std().item()),
    ],
)
def test_effect_is_monotonic_in_the_level(photo_batch, name, measure):
    levels = get(name).allowed_levels
    if name in ("vibrance", "shadows"):
        # Pfister's quirk: the reference (level 0, unedited) is not the module's zero (vibrance 25,
        # shadows +50 with highlights -50), so the effect is monotonic over the edits only.
        levels = get(name).levels
    values = [measure(apply(photo_batch[:2], name, k)) for k in levels]
    assert all(a < b for a, b in itertools.pairwise(values)), values


def test_saturation_minus_5_removes_the_colour(photo_batch):
    assert _chroma(apply(photo_batch, "saturation", -5)) < 0.05
    assert _chroma(photo_batch) > 5


def test_vibrance_quirk_level_minus_2_is_the_identity(photo_batch):
    # Pfister's range puts vibrance 0 (the module doing nothing) at the strongest negative level.
    torch.testing.assert_close(apply(photo_batch, "vibrance", -2), photo_batch, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", STYLE)
def test_fast_matches_the_numpy_reference(photo_batch, name):
    x = photo_batch[:1].double()
    for level in (get(name).levels[0], get(name).levels[-1]):
        fast = to_arrays(apply(x, name, level))[0]
        ref = to_arrays(apply(x, name, level, backend="reference"))[0]
        assert psnr(fast, ref) >= 50.0
