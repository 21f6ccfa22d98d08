"""Masked spatial pyramid pooling and group average pooling (harness.spp) against torch's adaptive
pooling on the unpadded region, and hand-computed values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.spp import (
    feature_extent,
    group_average_pool,
    masked_adaptive_pool,
    spatial_pyramid_pool,
)

REFERENCE = {"max": F.adaptive_max_pool2d, "avg": F.adaptive_avg_pool2d}


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("hw", [(4, 4), (5, 7), (8, 13), (16, 9)])
def test_unpadded_maps_give_torch_adaptive_pooling_and_21_bins_per_channel(mode, hw):
    features = torch.randn(2, 6, *hw, generator=torch.Generator().manual_seed(0))
    full = torch.tensor([list(hw)] * 2)
    out = spatial_pyramid_pool(features, full, (1, 2, 4), mode)
    assert out.shape == (2, 6, 21)
    expected = torch.cat([REFERENCE[mode](features, n).flatten(2) for n in (1, 2, 4)], dim=2)
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_padding_is_ignored_each_image_pools_its_own_region(mode):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(3, 4, 8, 10, generator=generator)
    extent = torch.tensor([[8, 10], [5, 7], [2, 3]])  # the last is smaller than 4 x 4
    out = spatial_pyramid_pool(features, extent, (1, 2, 4), mode)
    for b, (rows, cols) in enumerate(extent.tolist()):
        crop = features[b:b + 1, :, :rows, :cols]
        expected = torch.cat([REFERENCE[mode](crop, n).flatten(2) for n in (1, 2, 4)], dim=2)
        assert torch.allclose(out[b:b + 1], expected, atol=1e-6)
    # whatever lies in the padding changes nothing and receives no gradient
    noisy = features.clone()
    noisy[1, :, 5:, :] = 100.0
    noisy[1, :, :, 7:] = 100.0
    noisy.requires_grad_(True)
    again = spatial_pyramid_pool(noisy, extent, (1, 2, 4), mode)
    assert torch.allclose(again, out, atol=1e-6)
    again.sum().backward()
    assert noisy.grad[1, :, 5:, :].abs().sum() == 0 and noisy.grad[1, :, :, 7:].abs().sum() == 0


def test_max_bins_by_hand():
    features = torch.arange(12.0).reshape(1, 1, 3, 4)  # rows 0..3 / 4..7 / 8..11
    # 2 x 2 bins over 3 rows x 4 cols: rows [0, 2) and [1, 3), cols [0, 2) and [2, 4)
    out = masked_adaptive_pool(features, torch.tensor([[3, 4]]), 2, "max")
    assert out.flatten().tolist() == [5.0, 7.0, 9.0, 11.0]
    # only the top-left 2 x 3 valid: rows {0}, {1}; cols [0, 2), [1, 3)
    out = masked_adaptive_pool(features, torch.tensor([[2, 3]]), 2, "max")
    assert out.flatten().tolist() == [1.0, 2.0, 5.0, 6.0]
    with pytest.raises(ValueError, match="max"):
        masked_adaptive_pool(features, torch.tensor([[3, 4]]), 2, "median")


def test_feature_extent_rounds_half_cells_and_keeps_at_least_one():
    pixels = torch.tensor([[64, 96], [128, 100], [80, 1], [0, 128]])
    extent = feature_extent(pixels, (128, 128), (4, 4))
    # 64/32 = 2, 96/32 = 3 ; 4, 3.125 -> 3 ; 2.5 -> 3 (half counts), 1/32 -> at least 1 ; 0 -> 1
    assert extent.tolist() == [[2, 3], [4, 3], [3, 1], [1, 4]]


def test_group_average_pool_by_hand_over_the_valid_region():
    features = torch.zeros(1, 4, 2, 2)
    features[0, 0] = torch.tensor([[1.0, 3.0], [50.0, 50.0]])  # bottom row is padding
    features[0, 1] = torch.tensor([[3.0, 5.0], [50.0, 50.0]])
    features[0, 2] = 2.0
    features[0, 3] = torch.tensor([[4.0, 0.0], [50.0, 50.0]])
    out = group_average_pool(features, torch.tensor([[1, 2]]), groups=2)
    # group 0: channel means 2 and 4 -> 3 ; group 1: 2 and 2 -> 2
    assert out.tolist() == [[3.0, 2.0]]
    with pytest.raises(ValueError, match="groups"):
        group_average_pool(features, torch.tensor([[1, 2]]), groups=3)
