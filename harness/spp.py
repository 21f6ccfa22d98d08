"""Masked spatial pyramid pooling and group average pooling over the valid region of a feature map.

[0] K. He, X. Zhang, S. Ren, J. Sun, "Spatial Pyramid Pooling in Deep Convolutional Networks
    for Visual Recognition", TPAMI 37(9), 2015, §2.3 (an n x n grid of bins per level, max
    pooling in each bin).
[1] The auto-encoder / semantic-aesthetic fusing paper (docs/saf.md): SPP with 1, 4 and 16 bins
    ("its output is always a vector of length 21") and group average pooling (GAP) of the M
    groups of the bottleneck.

Every image of a batch occupies the top-left ``extent = (rows, cols)`` cells of the map (the rest
is padding, see :mod:`harness.aspect`); pooling looks only inside it. Bin ``i`` of ``n`` over
``r`` valid rows spans ``[floor(i r / n), ceil((i + 1) r / n))``: PyTorch's adaptive pooling
rule (He et al.'s windows when n divides r), so an unpadded map gives exactly
``adaptive_{max,avg}_pool2d``, and every bin holds at least one cell whenever ``r >= 1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: Bins per side of the paper's three pyramid levels: 1 + 4 + 16 = 21 bins per channel.
SPP_LEVELS = (1, 2, 4)


def feature_extent(pixels: torch.Tensor, image_hw: Sequence[int], feature_hw: Sequence[int]
                   ) -> torch.Tensor:
    """Valid (rows, cols) of a feature map from the valid pixels of its input.

    A feature cell counts as valid when at least half of it covers image pixels:
    ``round(pixels * h / H)``, clamped to ``[1, h]``.

    Args:
        pixels: (B, 2) int64 valid pixel (rows, cols).
        image_hw: (H, W) of the input canvas.
        feature_hw: (h, w) of the feature map.
    Returns:
        (B, 2) int64.
    """
    size = torch.tensor(list(image_hw), device=pixels.device)  # (2,)
    cells = torch.tensor(list(feature_hw), device=pixels.device)  # (2,)
    rounded = torch.div(2 * pixels * cells + size, 2 * size, rounding_mode="floor")  # (B, 2)
    return torch.minimum(rounded.clamp_min(1), cells)


def bin_membership(extent: torch.Tensor, n: int, length: int) -> torch.Tensor:
    """(B,) valid lengths -> (B, n, length) bool: is cell ``y`` in bin ``i`` of image ``b``."""
    i = torch.arange(n, device=extent.device)
    start = torch.div(i * extent[:, None], n, rounding_mode="floor")  # (B, n)
    end = torch.div((i + 1) * extent[:, None] + n - 1, n, rounding_mode="floor")  # (B, n)
    y = torch.arange(length, device=extent.device)
    return (y >= start[..., None]) & (y < end[..., None])  # (B, n, length)


def masked_adaptive_pool(features: torch.Tensor, extent: torch.Tensor, n: int,
                         mode: str = "max") -> torch.Tensor:
    """Adaptive ``n x n`` pooling of each image's valid region: (B, C, h, w) -> (B, C, n, n).

    Args:
        features: (B, C, h, w).
        extent: (B, 2) valid (rows, cols), top-left.
        n: bins per side.
        mode: ``"max"`` ([0]) or ``"avg"``.
    """
    _, _, h, w = features.shape
    rows = bin_membership(extent[:, 0], n, h)  # (B, n, h)
    cols = bin_membership(extent[:, 1], n, w)  # (B, n, w)
    if mode == "avg":
        rows = rows.to(features.dtype)
        cols = cols.to(features.dtype)
        rows = rows / rows.sum(dim=2, keepdim=True)  # (B, n, h), each bin sums to 1
        cols = cols / cols.sum(dim=2, keepdim=True)  # (B, n, w)
        pooled = torch.einsum("bcyx,biy->bcix", features, rows)  # (B, C, n, w)
        return torch.einsum("bcix,bjx->bcij", pooled, cols)  # (B, C, n, n)
    if mode != "max":
        raise ValueError(f"SPP pooling must be 'max' or 'avg', got {mode!r}")
    low = torch.finfo(features.dtype).min
    # Separable max: first over the rows of each row bin, then over the columns of each column bin.
    by_rows = torch.stack([features.masked_fill(~rows[:, i, None, :, None], low).amax(dim=2)
                           for i in range(n)], dim=2)  # (B, C, n, w)
    return torch.stack([by_rows.masked_fill(~cols[:, j, None, None, :], low).amax(dim=3)
                        for j in range(n)], dim=3)  # (B, C, n, n)


def spatial_pyramid_pool(features: torch.Tensor, extent: torch.Tensor,
                         levels: Sequence[int] = SPP_LEVELS, mode: str = "max") -> torch.Tensor:
    """SPP ([0] §2.3) inside the valid region: (B, C, h, w) -> (B, C, K), K = sum(n^2) (21).

    Per channel, the bins of level 1, then level 2 (row-major), then level 4 (row-major).
    """
    b, c = features.shape[:2]
    parts = [masked_adaptive_pool(features, extent, n, mode).reshape(b, c, n * n)  # (B, C, n^2)
             for n in levels]
    return torch.cat(parts, dim=2)  # (B, C, K)


def valid_mask(extent: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, 2) extents -> (B, 1, h, w) float mask of the valid top-left region."""
    rows = torch.arange(h, device=extent.device) < extent[:, 0, None]  # (B, h)
    cols = torch.arange(w, device=extent.device) < extent[:, 1, None]  # (B, w)
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1).float()  # (B, 1, h, w)


def group_average_pool(features: torch.Tensor, extent: torch.Tensor, groups: int) -> torch.Tensor:
    """Group average pooling (GAP) of [1]: the mean of each of ``groups`` consecutive channel groups
    over its P = C / groups maps and the valid region: (B, C, h, w) -> (B, groups)."""
    b, c, h, w = features.shape
    if c % groups:
        raise ValueError(f"{c} channels do not split into {groups} equal groups")
    mask = valid_mask(extent, h, w).to(features.dtype)  # (B, 1, h, w)
    per_channel = (features * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3))  # (B, C)
    return per_channel.reshape(b, groups, c // groups).mean(dim=2)  # (B, M)
