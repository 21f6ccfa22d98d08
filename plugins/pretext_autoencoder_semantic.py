"""Auto-encoder pretext of the semantic-aesthetic fusing paper: reconstruct unlabeled images.

[1] The auto-encoder / semantic-aesthetic fusing (SAF) paper, "Our Proposal: Auto-Encoder
    Module" (its text in ../shared/papers/autoencoder_semantic_aesthetic_fusing.txt lost the
    formulas; every open choice is a setting, documented in docs/saf.md).

The paper trains the auto-encoder jointly with the aesthetic losses; here its reconstruction
term is also a pretext of its own, so the ``saf_spp`` head can continue from it (it loads this
task's ``bottleneck`` and ``decoder`` from the checkpoint) and other heads can start from its
encoder.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from harness import hookimpl
from harness.aspect import ShortEdgeCanvas, split_alpha
from harness.decoders import ChannelFit, ChannelFitMode, MirroredDecoder, bottleneck_channels
from harness.losses import masked_reconstruction
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput


class AutoencoderSemanticSettings(PretextSettings):
    """Defaults: [1] "Implementation Details" ("The original image from data set is resized to
    256 on the short edge ... the aspect ratio of the original image during this process is not
    changed ... random horizontal flip is used for data augmentation"; "The Stochastic Gradient
    Descent (SGD) optimizer with momentum is used ... momentum is set to 0.9"). The learning rate,
    the epochs and the reconstruction loss are lost from the text: our choices (docs/saf.md).

    Attributes:
        image_size: the short edge after resizing (256 in [1]); the image is padded onto a square
            canvas of ``image_size * max_aspect`` (rounded up to a multiple of 32), never cropped
            or warped.
        max_aspect: the most elongated aspect ratio kept at full short edge; wider images are
            scaled to fit the canvas.
        groups: M; the bottleneck's channels are a multiple of it (the score bins of the head
            that continues this task: 10 for AVA).
        bottleneck_channels: c; None: the backbone's channels rounded down to a multiple of M.
        channel_fit: backbone channels -> c when they differ: ``conv`` (1x1 conv + BN + ReLU) or
            ``drop`` (keep the first c).
        reconstruction: ``mse`` or ``l1`` over the image's pixels (padding excluded).
        momentum, weight_decay: SGD's.
    """

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    image_size: int = Field(256, ge=16)
    max_aspect: float = Field(2.0, ge=1.0)
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    groups: int = Field(10, ge=1)
    bottleneck_channels: int | None = Field(None, ge=1)
    channel_fit: ChannelFitMode = "conv"
    reconstruction: Literal["mse", "l1"] = "mse"


def psnr(mse: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: ``10 log10(1 / mse)``, (B,) -> (B,)."""
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


class AutoencoderSemantic(PretextTask):
    """Implements the auto-encoder module of [1]: encoder = the backbone up to its last block,
    a channel fit to c = M * P bottleneck maps F, a :class:`MirroredDecoder` of upsampling + conv +
    BN blocks, and a reconstruction loss between the image and its reconstruction over the image's
    own pixels (the padding of the aspect-preserving canvas is excluded)."""

    def __init__(self, backbone, settings: AutoencoderSemanticSettings) -> None:
        super().__init__(backbone, settings)
        c = bottleneck_channels(backbone.num_features, settings.groups,
                                settings.bottleneck_channels, settings.channel_fit,
                                "pretext.bottleneck_channels")
        self.bottleneck = ChannelFit(backbone.num_features, c, settings.channel_fit)
        self.decoder = MirroredDecoder(backbone.feature_info, c)

    def sample_transform(self):
        """Short edge to ``image_size``, random horizontal flip, padded canvas with alpha."""
        return ShortEdgeCanvas(self.settings.image_size, self.settings.max_aspect, flip=True)

    def reconstruct(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H, W) reconstruction through the bottleneck F."""
        features = self.backbone.forward_features(rgb, [-1])[0]  # (B, C0, h, w)
        return self.decoder(self.bottleneck(features), rgb.shape[-2:])

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        rgb, alpha = split_alpha(images_of(batch))
        recon = self.reconstruct(rgb).float()
        errors = masked_reconstruction(recon, rgb.float(), alpha.float(),
                                       self.settings.reconstruction)  # (B,)
        loss = errors.mean()
        mse = masked_reconstruction(recon.detach(), rgb.float(), alpha.float(), "mse")  # (B,)
        return StepOutput(loss, {"rec": loss.detach(), "psnr": psnr(mse).mean()}, n=len(rgb))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.SGD(self.parameters(), lr=s.lr, momentum=s.momentum,
                                    weight_decay=s.weight_decay)
        return Optimization(optimizer)

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {"reconstruction_loss": val_logs["rec"], "psnr_db": val_logs["psnr"],
                "loss": val_logs["loss"]}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="autoencoder_semantic",
        summary="Auto-encoder (backbone + mirrored upsampling/conv/BN decoder), masked "
                "reconstruction on aspect-preserving canvases",
        references=("Auto-encoder semantic-aesthetic fusing paper "
                    "(shared/papers/autoencoder_semantic_aesthetic_fusing.txt), Auto-Encoder "
                    "Module, Fig. 3-5",),
        version="1", defaults=AutoencoderSemanticSettings, factory=AutoencoderSemantic,
        profiles={"quick": {"epochs": 3, "batch_size": 32, "image_size": 64, "max_aspect": 1.5,
                            "lr": 0.05, "max_images": 480}})]
