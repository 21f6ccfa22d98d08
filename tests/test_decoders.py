"""Bottleneck channel fitting and the mirrored decoder (harness.decoders)."""

from __future__ import annotations

import pytest
import torch

from harness.backbones import FeatureInfo
from harness.decoders import ChannelFit, MirroredDecoder, bottleneck_channels
from harness.errors import ConfigError

VGG16 = [FeatureInfo(f"conv{i + 1}", c, 2 ** (i + 1)) for i, c in enumerate([64, 128, 256, 512, 512])]
MOBILENET = [FeatureInfo(n, c, r) for n, c, r in [("stage1", 16, 2), ("stage2", 24, 4),
                                                   ("stage3", 32, 8), ("stage4", 96, 16),
                                                   ("stage5", 320, 32), ("head", 1280, 32)]]


def test_bottleneck_channels_round_down_to_a_multiple_of_the_groups():
    assert bottleneck_channels(512, 10, None) == 510
    assert bottleneck_channels(1280, 10, None) == 1280
    assert bottleneck_channels(2048, 10, None) == 2040
    assert bottleneck_channels(512, 10, 600) == 600  # conv can widen (the paper's study of c)
    with pytest.raises(ConfigError, match="multiple of the 10"):
        bottleneck_channels(512, 10, 505, where="head.bottleneck_channels")
    with pytest.raises(ConfigError, match="drop"):
        bottleneck_channels(512, 10, 600, "drop")


def test_channel_fit_modes():
    x = torch.randn(2, 128, 3, 5)
    assert isinstance(ChannelFit(128, 128).layers, torch.nn.Identity)
    conv = ChannelFit(128, 120, "conv")
    assert conv(x).shape == (2, 120, 3, 5) and sum(p.numel() for p in conv.parameters()) > 0
    drop = ChannelFit(128, 120, "drop")
    assert torch.equal(drop(x), x[:, :120]) and not list(drop.parameters())


@pytest.mark.parametrize("info, c", [(VGG16, 510), (MOBILENET, 1280)])
def test_decoder_mirrors_the_strides_back_to_the_input_size(info, c):
    decoder = MirroredDecoder(info, c)
    upsamplings = [m.scale_factor for m in decoder.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(upsamplings) == 5 and all(f == 2 for f in upsamplings)
    convs = [m for m in decoder.blocks.modules() if isinstance(m, torch.nn.Conv2d)]
    # channels walk back through the backbone's blocks: c -> block n-2 -> ... -> block 0
    assert convs[0].in_channels == c and convs[0].out_channels == info[-2].channels
    assert convs[-1].out_channels == info[0].channels
    # 3x3 convs after each upsampling; a 1x1 conv mirrors a block that keeps the stride
    # (MobileNetV2's last 1x1 conv, 1280 -> 320)
    kernels = [m.kernel_size for m in convs]
    assert kernels == [(3, 3)] * 5 if info is VGG16 else kernels == [(1, 1)] + [(3, 3)] * 5
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in decoder.modules()) == len(info)
    out = decoder(torch.randn(2, c, 2, 3), (64, 96))
    assert out.shape == (2, 3, 64, 96) and out.min() >= 0 and out.max() <= 1
    # a size the strides do not tile is met by a final resize
    assert decoder(torch.randn(1, c, 2, 3), (60, 90)).shape == (1, 3, 60, 90)
