"""A four-block CNN for tests, smoke checks (``harness plugins check``) and CPU experiments."""

from __future__ import annotations

from torch import nn

from harness import hookimpl
from harness.backbones import Backbone, BackboneSettings, cut
from harness.types import BackboneSpec


class TinySettings(BackboneSettings):
    """Attributes:
        width: channels of the first block; each following block doubles them.
    """

    width: int = 16


def build(settings: TinySettings) -> Backbone:
    """conv3x3(stride 2)-BN-ReLU blocks: width, 2w, 4w, 8w channels at /2, /4, /8, /16."""
    blocks, c_in = [], 3
    for i in range(4):
        c_out = settings.width * 2 ** i
        blocks.append((f"block{i + 1}", nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True))))
        c_in = c_out
    container = nn.Sequential(*(m for _, m in blocks))
    return cut("tiny", container, [(n, container[i]) for i, (n, _) in enumerate(blocks)], settings,
               ignore_prefixes=())


@hookimpl
def harness_backbones():
    return [BackboneSpec(name="tiny", summary="4-block CNN (16-128 channels) for tests and smoke checks",
                         references=(), version="1", defaults=TinySettings, factory=build)]
