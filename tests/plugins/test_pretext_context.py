"""Context prediction (Doersch et al. 2015): patch geometry and the label layout on a coordinate
image, the batched downsampling against per-patch interpolation, colour dropping, and a short
pretraining run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from harness_plugins.pretext_context import (
    NEIGHBOURS,
    PATCH_MEAN,
    PATCH_RMS,
    centre_pairs,
    downsample,
    prepare_patches,
)
from pydantic import ValidationError

from harness.crops import crop_patches
from tests.plugins.pretraining import short_pretraining

#: Doersch et al.'s label layout (train.py, pos2lbl) "1 2 3 / 4 . 5 / 6 7 8" as (dy, dx) of the
#: neighbour relative to the centre, written out by hand; our labels are theirs minus one.
DOERSCH_LAYOUT = {0: (-1, -1), 1: (-1, 0), 2: (-1, 1), 3: (0, -1), 4: (0, 1), 5: (1, -1),
                  6: (1, 0), 7: (1, 1)}


def build(registry, **overrides):
    backbone = registry.get("backbone", "tiny")
    spec = registry.get("pretext", "context")
    torch.manual_seed(0)
    return spec.factory(backbone.factory(backbone.settings()), spec.settings(**overrides))


def coordinate_images(b: int, size: int) -> torch.Tensor:
    """Channel 0 holds each pixel's row, channel 1 its column, channel 2 zeros: (b, 3, S, S)."""
    rows = torch.arange(size, dtype=torch.float64)[:, None].expand(size, size)
    image = torch.stack([rows, rows.T, torch.zeros(size, size, dtype=torch.float64)])
    return image.expand(b, 3, size, size).clone()


def test_paper_geometry_on_a_coordinate_image(registry):
    task = build(registry)  # the paper's settings: 96-pixel patches, gap 48, jitter 7, 448 images
    s = task.settings
    assert (s.patch_size, s.gap, s.jitter, s.image_size) == (96, 48, 7, 448)
    b = 128
    patches = task.patches(coordinate_images(b, s.image_size),
                           torch.Generator().manual_seed(3))  # (B, 9, 3, P, P)
    assert patches.shape == (b, 9, 3, 96, 96)
    top, left = patches[:, :, 0, 0, 0], patches[:, :, 1, 0, 0]  # (B, 9) upper-left corners
    # Every patch is an exact crop: pixel (y, x) of a patch is image pixel (top + y, left + x).
    offsets = torch.arange(96, dtype=torch.float64)
    rows = (top[:, :, None] + offsets)[:, :, :, None].expand(-1, -1, -1, 96)  # (B, 9, P, P)
    cols = (left[:, :, None] + offsets)[:, :, None, :].expand(-1, -1, 96, -1)  # (B, 9, P, P)
    assert torch.equal(patches[:, :, 0], rows) and torch.equal(patches[:, :, 1], cols)
    assert top.min() >= 0 and left.min() >= 0 and (top.max() + 96 <= 448) and left.max() + 96 <= 448
    cell_row = torch.arange(9) // 3
    cell_col = torch.arange(9) % 3
    # Jitter: each patch lies within +-7 pixels of its place on a rigid 144-pixel grid.
    shake_y = top - cell_row * 144
    shake_x = left - cell_col * 144
    spread_y = shake_y.amax(1) - shake_y.amin(1)
    spread_x = shake_x.amax(1) - shake_x.amin(1)
    assert spread_y.max() == 14 and spread_x.max() == 14  # the bounds are reached, never passed
    # Gaps between horizontally and vertically adjacent patches: 48 +- 14, never below 34.
    gaps_x = left[:, [1, 2, 4, 5, 7, 8]] - left[:, [0, 1, 3, 4, 6, 7]] - 96
    gaps_y = top[:, 3:] - top[:, :6] - 96
    for gaps in (gaps_x, gaps_y):
        assert gaps.min() >= 34 and gaps.max() <= 62
    # The grid's own position varies from image to image.
    assert len(torch.unique(shake_y.mean(1))) > 10


def test_label_layout_matches_doersch_on_the_grid(registry):
    task = build(registry, image_size=104, patch_size=24, gap=12, jitter=2, downsample_min=3)
    patches = task.patches(coordinate_images(4, 104), torch.Generator().manual_seed(0))
    features = patches[:, :, :2, 0, 0]  # (B, 9, 2): (top, left) of every cell as its "features"
    pairs, labels = centre_pairs(features)
    assert pairs.shape == (32, 4) and labels.tolist() == list(range(8)) * 4
    # The neighbour's offset from the centre in grid steps of patch + gap = 36 pixels (the
    # jitter of +-2 pixels per patch cannot move it by half a step).
    dy = torch.round((pairs[:, 2] - pairs[:, 0]) / 36)
    dx = torch.round((pairs[:, 3] - pairs[:, 1]) / 36)
    for k, label in enumerate(labels.tolist()):
        assert (int(dy[k]), int(dx[k])) == DOERSCH_LAYOUT[label]
    assert len(NEIGHBOURS) == 8 and 4 not in NEIGHBOURS  # the centre is never its own neighbour


def test_batched_downsampling_equals_per_patch_interpolation():
    patches = torch.rand(6, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    sides = torch.tensor([24, 3, 7, 12, 23, 1])
    out = downsample(patches, sides)
    for i, r in enumerate(sides.tolist()):
        small = F.interpolate(patches[i : i + 1], size=(r, r), mode="bilinear",
                              align_corners=False)
        expected = F.interpolate(small, size=(24, 24), mode="bilinear", align_corners=False)
        torch.testing.assert_close(out[i : i + 1], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[0], patches[0], atol=1e-5, rtol=0)  # full size: unchanged


def test_colour_dropping_keeps_one_channel_and_normalises_the_patch(registry):
    settings = build(registry, image_size=104, patch_size=24, gap=12, jitter=2,
                     downsample_min=3).settings
    patches = torch.rand(64, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    out = prepare_patches(patches, settings, torch.Generator().manual_seed(5))
    centred = out - PATCH_MEAN
    torch.testing.assert_close(centred.pow(2).mean(dim=(1, 2, 3)).sqrt(),
                               torch.full((64,), PATCH_RMS), atol=1e-5, rtol=1e-5)
    spread = centred.std(dim=(2, 3))  # (64, 3)
    signal = spread.max(dim=1).values
    assert (spread > signal[:, None] / 50).sum(1).eq(1).all()  # two channels are faint noise
    kept = spread.argmax(1)
    assert len(torch.unique(kept)) == 3  # each channel is kept for some patch
    off = settings.model_copy(update={"color_dropping": False, "downsample_prob": 0.0})
    plain = prepare_patches(patches, off, torch.Generator().manual_seed(5)) - PATCH_MEAN
    expected = patches - patches.mean(dim=(2, 3), keepdim=True)
    expected = expected / expected.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() * PATCH_RMS
    torch.testing.assert_close(plain, expected, atol=1e-5, rtol=1e-5)


def test_a_grid_that_does_not_fit_is_a_one_line_error(registry):
    spec = registry.get("pretext", "context")
    with pytest.raises(ValidationError, match="needs 3 \\* patch_size"):
        spec.settings(image_size=300)
    with pytest.raises(ValidationError, match="2 \\* jitter <= gap"):
        spec.settings(jitter=30)


def test_crop_patches_rejects_a_patch_outside_the_image():
    with pytest.raises(ValueError, match="outside"):
        crop_patches(torch.zeros(1, 3, 10, 10), torch.tensor([[5]]), torch.tensor([[0]]), 6)


@pytest.mark.slow
def test_short_pretraining_predicts_positions_better_than_chance(registry, tmp_path):
    _, info = short_pretraining(
        registry, tmp_path, {"name": "context", "epochs": 12, "max_images": 192,
                             "batch_size": 16, "image_size": 60, "patch_size": 16, "gap": 4,
                             "jitter": 1, "downsample_min": 2, "hidden": 64}, 56, 80)
    metrics = info["metrics"]
    assert metrics["chance"] == 1 / 8
    assert metrics["position_accuracy"] > 2 * metrics["chance"], metrics
