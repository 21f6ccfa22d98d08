"""VGG16 backbone (torchvision), the encoder of the auto-encoder/SAF paper."""

from __future__ import annotations

from torch import nn
from torchvision.models import vgg16, vgg16_bn

from harness import hookimpl
from harness.backbones import Backbone, BackboneSettings, cut
from harness.types import BackboneSpec


class VGG16Settings(BackboneSettings):
    """Attributes:
        batch_norm: use torchvision's ``vgg16_bn`` (weights files must then be ``vgg16_bn``'s).
    """

    batch_norm: bool = False


def build(settings: VGG16Settings) -> Backbone:
    """Five stages conv1..conv5 (64, 128, 256, 512, 512 channels), each ending in its max-pool."""
    model = (vgg16_bn if settings.batch_norm else vgg16)(weights=None)
    blocks, current = [], []
    for layer in model.features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            blocks.append((f"conv{len(blocks) + 1}", nn.Sequential(*current)))
            current = []
    # torchvision keys are features.<i>.*; wrapping keeps the modules, so loading happens first.
    return cut("vgg16", model, blocks, settings)


@hookimpl
def harness_backbones():
    return [BackboneSpec(
        name="vgg16", summary="VGG16 (torchvision), conv1..conv5 stages, optional BatchNorm",
        references=("Simonyan & Zisserman, Very Deep Convolutional Networks, ICLR 2015",),
        version="1", defaults=VGG16Settings, factory=build)]
