"""MobileNetV2 backbone (torchvision), the default: Pfister et al. 2021 and NIMA use it."""

from __future__ import annotations

from torch import nn
from torchvision.models import mobilenet_v2

from harness import hookimpl
from harness.backbones import Backbone, BackboneSettings, cut
from harness.types import BackboneSpec


def build(settings: BackboneSettings) -> Backbone:
    """Blocks at each stride (16, 24, 32, 96, 320 channels at /2../32) and the final 1x1 conv (1280)."""
    model = mobilenet_v2(weights=None)
    f = model.features
    blocks = [("stage1", f[0:2]), ("stage2", f[2:4]), ("stage3", f[4:7]), ("stage4", f[7:14]),
              ("stage5", f[14:18]), ("head", f[18])]
    return cut("mobilenet_v2", model, [(n, nn.Sequential(*m) if isinstance(m, nn.Sequential) else m)
                                       for n, m in blocks], settings)


@hookimpl
def harness_backbones():
    return [BackboneSpec(
        name="mobilenet_v2", summary="MobileNetV2 (torchvision), 6 blocks, 1280-d pooled features",
        references=("Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018",),
        version="1", defaults=BackboneSettings, factory=build)]
