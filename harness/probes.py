"""Per-block linear probes on frozen features: how each block's feature map is resized to about
9,000 dimensions before its linear classifier (Zhang, Isola & Efros's protocol, used by Sheng et
al. 2020 for their Table 2). See docs/linear-probe.md.

Zhang et al. resize every convolutional block's output spatially so that each linear classifier
sees roughly 9,000 features; Sheng et al. report the resulting classifier sizes as 9600 x 2,
9216 x 2, 9600 x 2, 9600 x 2 and 9216 x 2 for their five AlexNet blocks (96, 256, 384, 384 and
256 channels: 10x10, 6x6, 5x5, 5x5 and 6x6 cells). One rule reproduces all five numbers, and
Gidaris et al.'s public pool sizes for torchvision's AlexNet channels (12, 7, 5, 6, 6):

    side = round(sqrt(target_dim / channels))        (target_dim = 9000)

A map smaller than ``side`` is pooled to its own size instead (adaptive pooling never enlarges),
so small inputs give fewer dimensions; the actual number is reported per block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.backbones import Backbone

TARGET_DIM = 9000


def pool_side(channels: int, target_dim: int = TARGET_DIM) -> int:
    """The side ``s`` of the ``s x s`` grid that brings ``channels * s * s`` closest to about
    ``target_dim``: ``round(sqrt(target_dim / channels))``, at least 1."""
    return max(1, round(math.sqrt(target_dim / channels)))


@dataclass(frozen=True)
class BlockGeometry:
    """One probed block: its name and index, channels, output map size, pooled side, dimension."""

    name: str
    index: int
    channels: int
    map_size: tuple[int, int]
    side: tuple[int, int]

    @property
    def dim(self) -> int:
        return self.channels * self.side[0] * self.side[1]


def block_geometry(backbone: Backbone, image_size: int, names: Sequence[str] | None = None,
                   target_dim: int = TARGET_DIM) -> list[BlockGeometry]:
    """Measure each block's output at ``image_size`` (one dummy forward pass, eval mode) and
    choose its pooled grid: ``pool_side`` clipped to the map's own size."""
    indices = (list(range(len(backbone.feature_info))) if names is None
               else [backbone.block_index(n) for n in names])
    device = next(backbone.parameters()).device
    training = backbone.training
    backbone.eval()
    with torch.no_grad():
        maps = backbone.forward_features(torch.zeros(1, 3, image_size, image_size, device=device),
                                         indices)
    backbone.train(training)
    out = []
    for i, fmap in zip(indices, maps):
        info = backbone.feature_info[i]
        side = pool_side(info.channels, target_dim)
        h, w = fmap.shape[-2:]
        out.append(BlockGeometry(info.name, i, info.channels, (h, w), (min(side, h), min(side, w))))
    return out


def pooled_features(maps: Sequence[torch.Tensor], geometry: Sequence[BlockGeometry],
                    mode: str = "avg") -> list[torch.Tensor]:
    """Adaptive average (or max) pooling of each block's map to its grid, flattened:
    (B, C_i, H_i, W_i) -> (B, C_i * s_i * s_i)."""
    pool = F.adaptive_avg_pool2d if mode == "avg" else F.adaptive_max_pool2d
    return [pool(fmap, g.side).flatten(1) for fmap, g in zip(maps, geometry)]  # (B, D_i)
