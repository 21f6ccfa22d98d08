"""AlexNet backbone (torchvision), the architecture of Sheng et al. 2020's linear probes."""

from __future__ import annotations

from torch import nn
from torchvision.models import alexnet

from harness import hookimpl
from harness.backbones import Backbone, BackboneSettings, cut
from harness.types import BackboneSpec


class AlexNetSettings(BackboneSettings):
    """Attributes:
        batch_norm: insert BatchNorm after every convolution, as the self-supervised AlexNets of
            Doersch 2015, Zhang 2016 and Gidaris 2018 do (torchvision's ImageNet weights then no
            longer fit).
    """

    batch_norm: bool = False


def build(settings: AlexNetSettings) -> Backbone:
    """Taps after each convolution's ReLU (conv1..conv5: 64, 192, 384, 256, 256 channels).

    Pooling sits at the start of the following block, so conv1 and conv2 are tapped before their
    max-pool, as in the per-layer linear probes of Zhang et al. 2016/2017.
    """
    model = alexnet(weights=None)
    f = model.features
    bn = settings.batch_norm

    def conv(i: int) -> list[nn.Module]:
        layer = f[i]
        return [layer, nn.BatchNorm2d(layer.out_channels), f[i + 1]] if bn else [layer, f[i + 1]]

    blocks = [("conv1", nn.Sequential(*conv(0))), ("conv2", nn.Sequential(f[2], *conv(3))),
              ("conv3", nn.Sequential(f[5], *conv(6))), ("conv4", nn.Sequential(*conv(8))),
              ("conv5", nn.Sequential(*conv(10)))]
    return cut("alexnet", model, blocks, settings)


@hookimpl
def harness_backbones():
    return [BackboneSpec(
        name="alexnet", summary="AlexNet (torchvision), conv1..conv5 taps, optional BatchNorm",
        references=("Krizhevsky et al., ImageNet Classification with Deep CNNs, NeurIPS 2012",),
        version="1", defaults=AlexNetSettings, factory=build)]
