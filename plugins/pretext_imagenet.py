"""The ``imagenet`` baseline: supervised ImageNet weights from a local file the user names."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from harness import hookimpl
from harness.backbones import file_digest
from harness.pretext import Initialization
from harness.types import PretextSpec, Settings


class ImageNetSettings(Settings):
    weights: str = Field(description="a local ImageNet state-dict file for the backbone (e.g. "
                         "torchvision's mobilenet_v2-b0353104.pth); nothing is downloaded: "
                         "--set pretext.weights=PATH")


class ImageNetInit(Initialization):
    """Loads the file into the backbone (torchvision layout; the classifier is ignored)."""

    def initialize(self) -> dict:
        path = Path(self.settings.weights).expanduser()
        self.backbone.load_weights(path)
        return {"initialisation": "imagenet", "weights": str(path), "sha256": file_digest(path)}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="imagenet", summary="Supervised ImageNet weights from a local file (no download)",
        references=("Deng et al., ImageNet, CVPR 2009",
                    "the standard IAA initialisation, e.g. Talebi & Milanfar, NIMA, TIP 2018"),
        version="1", defaults=ImageNetSettings, factory=ImageNetInit)]
