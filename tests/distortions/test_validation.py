"""Bad input: one-line ValueError naming the distortion and the allowed levels."""

from __future__ import annotations

import pytest
import torch

from harness.distortions import apply


def _one_line(info, *needles):
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    "images, what",
    [
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "dtype torch.uint8"),
        (torch.zeros(2, 1, 8, 8), "shape (2, 1, 8, 8)"),
        (torch.zeros(3, 8, 8), "shape (3, 8, 8)"),
        (torch.full((1, 3, 8, 8), 1.5), "values in [1.5, 1.5]"),
        (torch.full((1, 3, 8, 8), -0.1), "values in"),
        (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
        ([[0.5]], "got list"),
    ],
)
def test_bad_images(images, what):
    with pytest.raises(ValueError) as info:
        apply(images, "defocus_blur", 1)
    _one_line(info, "defocus_blur", what, "allowed levels: 0 (identity), 1, 2, 3, 4, 5")


@pytest.mark.parametrize("levels", [6, -1, [1, 9], torch.tensor([0, 7]), 2.5, True])
def test_level_out_of_range(levels):
    with pytest.raises(ValueError) as info:
        apply(torch.rand(2, 3, 8, 8), "jpeg_compression", levels)
    _one_line(info, "jpeg_compression", "allowed levels: 0 (identity), 1, 2, 3, 4, 5")


def test_shadows_allows_minus_5_to_3():
    apply(torch.rand(1, 3, 8, 8), "shadows", -5)
    with pytest.raises(ValueError) as info:
        apply(torch.rand(1, 3, 8, 8), "shadows", 4)
    _one_line(info, "shadows", "level 4", "-5, -4, -3, -2, -1, 1, 2, 3")


def test_wrong_number_of_levels():
    with pytest.raises(ValueError) as info:
        apply(torch.rand(2, 3, 8, 8), "tint", [1, 2, 3])
    _one_line(info, "tint", "3 levels for 2 images")


def test_unknown_name_and_backend():
    with pytest.raises(ValueError) as info:
        apply(torch.rand(1, 3, 8, 8), "gausian_noise", 1)
    _one_line(info, "gausian_noise", "did you mean 'gaussian_noise'")
    with pytest.raises(ValueError) as info:
        apply(torch.rand(1, 3, 8, 8), "tint", 1, backend="darktable")
    _one_line(info, "tint", "backend")


def test_output_keeps_shape_device_and_dtype():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    for name in ("gaussian_noise", "contrast", "rotate", "sheng_patch_shuffle"):
        y = apply(x, name, 1, torch.Generator().manual_seed(0))
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        assert y.min() >= 0 and y.max() <= 1
    half = apply(x.half(), "contrast", 2)
    assert half.dtype == torch.float16


def test_levels_as_numpy_and_identity_on_a_single_image():
    import numpy as np

    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(apply(x, "tint", np.array([0, 2])), apply(x, "tint", [0, 2]))
    assert torch.equal(apply(x[:1], "sheng_mixup", 0), x[:1])  # no partner needed at level 0
