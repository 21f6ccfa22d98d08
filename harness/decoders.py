"""The auto-encoder's parts around a backbone: fitting the bottleneck's channels to a multiple of
the score bins, and a decoder of upsampling + conv + BatchNorm blocks mirroring the backbone.

[1] The auto-encoder / semantic-aesthetic fusing paper (docs/saf.md), Fig. 4-5: the encoder's
    features F (c channels, split into M groups of P = c / M maps) are decoded by "upsampling +
    conv + BN" blocks back to the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from harness.backbones import FeatureInfo
from harness.errors import ConfigError

ChannelFitMode = Literal["conv", "drop"]


def bottleneck_channels(backbone_channels: int, groups: int, requested: int | None,
                        fit: ChannelFitMode = "conv", where: str = "bottleneck_channels") -> int:
    """c, the channels of the bottleneck F: ``requested``, or by default the backbone's channels
    rounded down to a multiple of ``groups`` (VGG16 512 -> 510, ResNet-50 2048 -> 2040,
    MobileNetV2 1280 -> 1280, tiny 128 -> 120). A one-line ConfigError naming ``where`` when
    ``requested`` is not a positive multiple of ``groups`` or ``drop`` would need more channels
    than the backbone has."""
    c = requested if requested is not None else (backbone_channels // groups) * groups
    if c <= 0 or c % groups:
        raise ConfigError(f"{where}={c} must be a positive multiple of the {groups} score-bin "
                          f"groups (the backbone has {backbone_channels} channels)")
    if fit == "drop" and c > backbone_channels:
        raise ConfigError(f"{where}={c}: channel_fit=drop can only keep up to the backbone's "
                          f"{backbone_channels} channels; use channel_fit=conv")
    return c


class ChannelFit(nn.Module):
    """Backbone channels -> c. Identity when they are equal; otherwise ``conv``: a learned 1x1
    conv + BatchNorm + ReLU, or ``drop``: keep the first c channels (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, mode: ChannelFitMode = "conv") -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.mode = in_channels, out_channels, mode
        if in_channels == out_channels or mode == "drop":
            self.layers = nn.Identity()
        elif mode == "conv":
            self.layers = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        else:
            raise ConfigError(f"channel_fit must be 'conv' or 'drop', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "drop":
            x = x[:, :self.out_channels]  # (B, c, h, w)
        return self.layers(x)


def _block(c_in: int, c_out: int, factor: int) -> nn.Sequential:
    """Upsample by ``factor`` + 3x3 conv + BN + ReLU; where the stride stays (``factor == 1``),
    a 1x1 conv + BN + ReLU, mirroring a channel-mixing block such as MobileNetV2's last 1x1 conv
    (a 3x3 conv there, 1280 -> 320, would cost more than the rest of the decoder)."""
    if factor > 1:
        layers: list[nn.Module] = [nn.Upsample(scale_factor=factor, mode="nearest"),
                                   nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    else:
        layers = [nn.Conv2d(c_in, c_out, 1, bias=False)]
    layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class MirroredDecoder(nn.Module):
    """Decoder of [1]: one "upsampling + conv + BN" block per backbone block, in reverse.

    The block mirroring backbone block ``i`` upsamples (nearest) by ``r_i / r_{i-1}`` (r_{-1} = 1)
    with a 3x3 conv, or is a 1x1 conv where the block keeps the stride, and maps to the channels
    of block ``i - 1``
    (block 0's own channels for the last one); a final 3x3 conv to RGB with a sigmoid (inputs are
    in [0, 1]). Output is resized to the input size where the strides do not tile it exactly.

    Args:
        feature_info: the backbone's blocks.
        in_channels: c, the channels of the bottleneck F.
    """

    def __init__(self, feature_info: Sequence[FeatureInfo], in_channels: int) -> None:
        super().__init__()
        blocks, c_in = [], in_channels
        for i in reversed(range(len(feature_info))):
            previous = feature_info[i - 1] if i > 0 else None
            c_out = previous.channels if previous else feature_info[0].channels
            factor = max(1, feature_info[i].reduction // (previous.reduction if previous else 1))
            blocks.append(_block(c_in, c_out, factor))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = nn.Conv2d(c_in, 3, 3, padding=1)

    def forward(self, z: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """(B, c, h, w) bottleneck -> (B, 3, H, W) reconstruction in [0, 1], ``size = (H, W)``."""
        x = self.to_rgb(self.blocks(z))  # (B, 3, ~H, ~W)
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)
