"""Sheng et al.'s 22 classes: the label mapping and each operation against a hand-made value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import psnr, to_arrays

from harness.distortions import (
    SHENG_CLASSES,
    DistortionError,
    apply,
    apply_sheng,
    catalogue,
    mixup_partners,
    sheng_class_to_op,
    sheng_op_to_class,
)
from harness.distortions import sheng as S


def test_22_classes_in_table_order():
    assert len(SHENG_CLASSES) == 22
    assert SHENG_CLASSES[0] == ("none", None)
    assert SHENG_CLASSES[1:5] == (
        ("sheng_jpeg", 60),
        ("sheng_jpeg", 10),
        ("sheng_gaussian_noise", 0.2),
        ("sheng_gaussian_noise", 0.8),
    )
    assert SHENG_CLASSES[5:8] == tuple(("sheng_rotation", d) for d in (90, 180, 270))
    assert SHENG_CLASSES[-1] == ("sheng_mixup", 0.4)


@pytest.mark.parametrize("index", range(22))
def test_class_index_round_trips(index):
    assert sheng_op_to_class(*sheng_class_to_op(index)) == index


def test_bad_classes_are_refused():
    with pytest.raises(DistortionError, match="out of range"):
        sheng_class_to_op(22)
    with pytest.raises(DistortionError, match="not one of"):
        sheng_op_to_class("sheng_jpeg", 50)


def test_apply_sheng_per_sample_equals_apply(photo_batch, generator):
    x = photo_batch[:, :, :64, :64].contiguous()
    out = apply_sheng(x, [0, 2, 9, 13])  # none, jpeg 10, downsampling 6, pixelation 8
    assert torch.equal(out[0], x[0])
    torch.testing.assert_close(out[1:2], apply(x[1:2], "sheng_jpeg", 2))
    torch.testing.assert_close(out[2:3], apply(x[2:3], "sheng_downsampling", 2))
    torch.testing.assert_close(out[3:4], apply(x[3:4], "sheng_pixelation", 2))


def test_mixup_blends_with_another_sample(photo_batch):
    g = torch.Generator().manual_seed(3)
    partners = mixup_partners(4, torch.Generator().manual_seed(3))
    assert all(int(p) != i for i, p in enumerate(partners))
    out = apply(photo_batch, "sheng_mixup", [2, 2, 1, 0], g)
    torch.testing.assert_close(out[0], 0.6 * photo_batch[0] + 0.4 * photo_batch[int(partners[0])])
    torch.testing.assert_close(out[2], 0.9 * photo_batch[2] + 0.1 * photo_batch[int(partners[2])])
    assert torch.equal(out[3], photo_batch[3])
    with pytest.raises(DistortionError, match="at least 2"):
        apply(photo_batch[:1], "sheng_mixup", 1)


def test_rotation_is_counter_clockwise_and_needs_square_images():
    x = torch.zeros(1, 3, 8, 8)
    x[..., 0, 7] = 1.0  # top-right corner
    assert apply(x, "sheng_rotation", 1)[0, 0, 0, 0] == 1.0  # -> top-left after 90° ccw
    assert apply(x, "sheng_rotation", 2)[0, 0, 7, 0] == 1.0  # -> bottom-left after 180°
    assert apply(torch.rand(1, 3, 8, 6), "sheng_rotation", 2).shape == (1, 3, 8, 6)
    with pytest.raises(DistortionError, match="square"):
        apply(torch.rand(1, 3, 8, 6), "sheng_rotation", 1)


def test_quantization_levels():
    x = torch.linspace(0, 1, 1000).view(1, 1, 1, 1000).expand(1, 3, 1, 1000).contiguous()
    assert apply(x, "sheng_quantization", 2).unique().numel() == 8
    assert apply(x, "sheng_quantization", 1).unique().numel() == 64
    assert apply(x, "sheng_quantization", 2)[0, 0, 0, 600].item() == pytest.approx(4 / 7)


def test_pixelation_blocks_and_border():
    x = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 3, 4, 10).contiguous() / 10
    out = apply(x, "sheng_pixelation", 1)[0, 0, 0]  # 4-px blocks: 0-3, 4-7, 8-9
    torch.testing.assert_close(out, torch.tensor([1.5] * 4 + [5.5] * 4 + [8.5] * 2) / 10)


def test_noise_variance_and_exposure(generator):
    grey = torch.full((2, 3, 128, 128), 0.5)
    residual = apply(grey, "sheng_gaussian_noise", 1, generator) - grey
    # variance 0.2 on [0, 1] -> sigma 0.447, clipped at +-0.5: compare with a clipped normal
    clipped = np.clip(np.random.default_rng(0).normal(0, np.sqrt(0.2), 10**6), -0.5, 0.5)
    assert residual.std().item() == pytest.approx(clipped.std(), rel=0.03)
    assert apply(grey, "sheng_exposure", 1).unique().item() == pytest.approx(0.25)
    assert apply(grey, "sheng_exposure", 2).unique().item() == 1.0


def test_blur_sigma_is_percent_of_the_short_side(photo_batch):
    x = photo_batch[:1]
    sigma = S.blur_sigma_px(0.8, 224, 224)
    assert sigma == pytest.approx(1.792)
    from scipy.ndimage import gaussian_filter

    ref = gaussian_filter(to_arrays(x)[0], sigma=(sigma, sigma, 0), mode="mirror", truncate=4.0)
    assert psnr(to_arrays(apply(x, "sheng_gaussian_blur", 2))[0], ref) >= 50
    assert psnr(to_arrays(apply(x, "sheng_gaussian_blur", 1)), to_arrays(x)) < 45  # visible


def test_patch_shuffle_fraction_of_patches(generator):
    x = torch.rand(2, 3, 64, 64)
    for level, p in ((1, 0.1), (2, 0.5)):
        out = apply(x, "sheng_patch_shuffle", level, generator)
        tiles_in = x.unfold(2, 2, 2).unfold(3, 2, 2)  # (B, 3, 32, 32, 2, 2)
        tiles_out = out.unfold(2, 2, 2).unfold(3, 2, 2)
        changed = (tiles_in != tiles_out).flatten(-2).any(-1).any(1).float().mean().item()
        # a chosen tile keeps its pixels with probability 1/24 (identity permutation)
        assert changed == pytest.approx(p * 23 / 24, abs=0.03)
        # pixels move only within their tile, and together across channels
        torch.testing.assert_close(
            tiles_out.flatten(-2).sort(-1).values, tiles_in.flatten(-2).sort(-1).values
        )


@pytest.mark.parametrize("name", [d.name for d in catalogue("sheng2020")])
def test_fast_and_reference_agree(photo_batch, name):
    x = photo_batch[:, :, :96, :96].contiguous()
    levels = [1, 2, 1, 2]
    fast = to_arrays(apply(x, name, levels, torch.Generator().manual_seed(5)))
    ref = to_arrays(apply(x, name, levels, torch.Generator().manual_seed(5), "reference"))
    if name in ("sheng_gaussian_noise", "sheng_patch_shuffle"):  # random: compare statistics
        assert np.std(fast - to_arrays(x)) == pytest.approx(np.std(ref - to_arrays(x)), rel=0.1)
    else:
        for a, b in zip(fast, ref):
            assert psnr(a, b) >= (30.0 if name == "sheng_jpeg" else 40.0)
