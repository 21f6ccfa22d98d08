"""ResNet-18 and ResNet-50 backbones (torchvision)."""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18, resnet50

from harness import hookimpl
from harness.backbones import Backbone, BackboneSettings, cut
from harness.types import BackboneSpec


def _build(arch: str, constructor, settings: BackboneSettings) -> Backbone:
    m = constructor(weights=None)
    blocks = [("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)), ("layer1", m.layer1),
              ("layer2", m.layer2), ("layer3", m.layer3), ("layer4", m.layer4)]
    return cut(arch, m, blocks, settings)


def build_resnet18(settings: BackboneSettings) -> Backbone:
    return _build("resnet18", resnet18, settings)


def build_resnet50(settings: BackboneSettings) -> Backbone:
    return _build("resnet50", resnet50, settings)


REFERENCE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"


@hookimpl
def harness_backbones():
    return [
        BackboneSpec(name="resnet18", summary="ResNet-18 (torchvision), stem + 4 stages, 512-d",
                     references=(REFERENCE,), version="1", defaults=BackboneSettings,
                     factory=build_resnet18),
        BackboneSpec(name="resnet50", summary="ResNet-50 (torchvision), stem + 4 stages, 2048-d",
                     references=(REFERENCE,), version="1", defaults=BackboneSettings,
                     factory=build_resnet50),
    ]
