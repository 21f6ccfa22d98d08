"""Colorization (Zhang, Isola & Efros, ECCV 2016): predict the distribution of each pixel's ab
colour from its lightness L, with a class-rebalanced multinomial cross-entropy."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from harness import hookimpl
from harness.ab_bins import gamut_bins, rebalance_weights, smoothed_prior, soft_encode
from harness.crops import random_crop_flip
from harness.data.images import centre_square
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput

#: Output stride of the predicted colour distributions ("conv8" predicts at 1/4 resolution; the
#: training net subsamples ab with stride 4, models/colorization_train_val_v2.prototxt).
OUTPUT_STRIDE = 4
#: An image whose subsampled ab never exceeds this is grey and gets no loss (NonGrayMaskLayer).
GRAY_THRESHOLD = 5.0


class ColorizationSettings(PretextSettings):
    """Defaults: Zhang et al. 2016 and their training files. Adam with β = (0.9, 0.99), weight
    decay 1e-3, lr 3e-5 lowered to ~1e-5 and ~3e-6 at 200k and 375k of 450k iterations (here a
    factor 1/√10 at epochs 7 and 13 of 15; 450k iterations of batch 40 are ~14 ImageNet epochs);
    batch 40 of 176-pixel crops (``crop_size: 176``, ``mirror: true``) of 256-pixel images.

    Attributes:
        resize: the short side is resized to this and the centre square kept (data-loader workers);
            the step then takes a random ``image_size`` crop and mirrors half of them.
        neighbours, sigma: soft-encoding (§2.1: "5-nearest neighbors ... σ = 5").
        rebalance: λ of Eq. 4 ("λ = 1/2 ... worked well"); prior_sigma: the prior's smoothing σ.
        prior_images: how many training images (in epoch 0's order) estimate the colour prior.
        skip_gray: grey images get no loss (the authors' ``NonGrayMaskLayer``).
        decoder_width: channels of the decoder's upsampling stages (conv8 has 256).
    """

    epochs: int = Field(15, ge=1)
    batch_size: int = Field(40, ge=1)
    image_size: int = Field(176, ge=16)
    resize: int = Field(256, ge=16, validate_default=True)
    lr: float = Field(3e-5, gt=0)
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = Field(1e-3, ge=0)
    milestones: list[int] = [7, 13]
    gamma: float = Field(1 / math.sqrt(10), gt=0, le=1)
    neighbours: int = Field(5, ge=1)
    sigma: float = Field(5.0, gt=0)
    rebalance: float = Field(0.5, gt=0, le=1)
    prior_sigma: float = Field(5.0, ge=0)
    prior_images: int = Field(10000, ge=1)
    skip_gray: bool = True
    decoder_width: int = Field(256, ge=1)

    @field_validator("resize")
    @classmethod
    def _crop_fits(cls, resize: int, info: ValidationInfo) -> int:
        size = info.data.get("image_size")
        if size is not None and size > resize:
            raise ValueError(f"resize {resize} is smaller than image_size {size}; the random "
                             f"crop must fit in the resized image")
        return resize


def make_decoder(channels: int, reduction: int, width: int, bins: int) -> nn.Sequential:
    """From the last block (stride ``reduction``) to per-pixel bin logits at stride 4: one
    (2x bilinear upsampling, 3x3 conv, BN, ReLU) stage per halving, then a 1x1 conv to the Q bins
    (in the role of Zhang et al.'s conv8: a stride-2 deconvolution, two 3x3 convs, conv8_313)."""
    layers: list[nn.Module] = []
    c = channels
    for _ in range(max(1, round(math.log2(max(reduction, 1) / OUTPUT_STRIDE)))):
        if reduction > OUTPUT_STRIDE:
            layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True)]
        c = width
    layers.append(nn.Conv2d(width, bins, 1))
    return nn.Sequential(*layers)


def colorization_loss(logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor,
                      v: torch.Tensor) -> torch.Tensor:
    """Eq. (2): ``-sum_{h,w} v(Z_{h,w}) sum_q Z_{h,w,q} log Ẑ_{h,w,q}``, averaged over the pixels
    (the paper sums over h, w; the mean only rescales the gradient).

    Args:
        logits: (N, Q) per-pixel logits (Ẑ = softmax).
        index, weight: (N, k) the sparse soft-encoded target Z (:func:`soft_encode`).
        v: (N,) per-pixel weights v(Z) = w_{q*} (Eq. 3), 0 for masked pixels.
    """
    log_probs = torch.log_softmax(logits.float(), dim=1)  # (N, Q)
    cross_entropy = -(weight * log_probs.gather(1, index)).sum(dim=1)  # (N,)
    return (v * cross_entropy).mean()


class Colorization(PretextTask):
    """Implements [Zhang et al. 2016]: the backbone sees L (L/100 replicated to three channels, a
    grey image on the [0, 1] scale of the other tasks), a decoder predicts Ẑ over the Q in-gamut ab
    bins at 1/4 resolution, trained with the class-rebalanced multinomial cross-entropy of Eq. 2-4
    on soft-encoded targets; the prior p̃ is estimated from the pretraining images in
    :meth:`prepare` (uniform, i.e. w = 1, until then)."""

    def __init__(self, backbone, settings: ColorizationSettings) -> None:
        super().__init__(backbone, settings)
        centres = gamut_bins()  # (Q, 2)
        q = len(centres)
        self.register_buffer("centres", centres, persistent=False)
        self.register_buffer("prior", torch.full((q,), 1.0 / q))
        self.register_buffer("weights", rebalance_weights(self.prior, settings.rebalance))
        # Chance: the distribution that ignores the image with the lowest Eq. 2 loss on the prior
        # images, ∝ sum over their pixels of v Z (uniform until prepare).
        self.register_buffer("constant", torch.full((q,), 1.0 / q))
        last = backbone.feature_info[-1]
        self.decoder = make_decoder(last.channels, last.reduction, settings.decoder_width, q)

    def sample_transform(self):
        return centre_square(self.settings.resize)

    def _lab(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input (B, 3, S, S) grey L, target ab (B*h*w, 2) at stride 4, non-grey mask (B,)."""
        with torch.autocast(images.device.type, enabled=False):
            lab = rgb_to_lab(images.float())  # (B, 3, S, S)
        grey = (lab[:, :1] / 100).expand(-1, 3, -1, -1)  # (B, 3, S, S)
        ab = lab[:, 1:, ::OUTPUT_STRIDE, ::OUTPUT_STRIDE]  # (B, 2, h, w)
        colourful = ab.abs().flatten(1).amax(dim=1) > GRAY_THRESHOLD  # (B,)
        return grey, ab, colourful

    @torch.no_grad()
    def prepare(self, batches: Iterable[Any]) -> None:
        """Estimate p̃ from the first ``prior_images`` training images (their ab at stride 4), set
        the rebalancing weights (Eq. 4) and the chance predictor :attr:`constant`."""
        s = self.settings
        q = len(self.centres)
        counts = torch.zeros(q, dtype=torch.float64, device=self.centres.device)
        encoded = torch.zeros(q, q, dtype=torch.float64, device=self.centres.device)
        seen = 0
        for batch in batches:
            images = images_of(batch)[: s.prior_images - seen]
            _, ab, colourful = self._lab(images)
            if s.skip_gray:
                ab = ab[colourful]
            pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)  # (n*h*w, 2)
            index, weight = soft_encode(pixels, self.centres, s.neighbours, s.sigma)  # (n', k)
            counts += torch.bincount(index[:, 0], minlength=q).double()
            # Row r: the summed soft-encodings of the pixels whose nearest bin is r.
            encoded.index_put_((index[:, :1].expand_as(index), index), weight.double(),
                               accumulate=True)
            seen += len(images)
            if seen >= s.prior_images:
                break
        if counts.sum() > 0:
            self.prior.copy_(smoothed_prior(counts, self.centres, s.prior_sigma))
            self.weights.copy_(rebalance_weights(self.prior, s.rebalance))
            constant = self.weights.double() @ encoded  # (Q,) sum over pixels of v Z
            self.constant.copy_(constant / constant.sum())

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        s = self.settings
        crops = random_crop_flip(images_of(batch), s.image_size, ctx.generator)  # (B, 3, S, S)
        grey, ab, colourful = self._lab(crops)
        logits = self.decoder(self.backbone.forward_features(grey, [-1])[0])  # (B, Q, h', w')
        if logits.shape[-2:] != ab.shape[-2:]:
            logits = F.interpolate(logits, size=ab.shape[-2:], mode="bilinear",
                                   align_corners=False)  # (B, Q, h, w)
        q = logits.shape[1]
        logits = logits.permute(0, 2, 3, 1).reshape(-1, q)  # (B*h*w, Q)
        pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)  # (B*h*w, 2)
        with torch.autocast(pixels.device.type, enabled=False):
            index, weight = soft_encode(pixels, self.centres, s.neighbours, s.sigma)  # (N, k)
        keep = colourful if s.skip_gray else torch.ones_like(colourful)
        keep = keep.repeat_interleave(len(pixels) // len(keep)).float()  # (N,)
        target = index[:, 0]  # q* = argmax_q Z_{h,w,q}: the nearest bin
        v = self.weights[target] * keep  # (N,), Eq. 3
        loss = colorization_loss(logits, index, weight, v)
        chance = self.constant, self.prior.argmax(), (self.prior * self.weights).argmax()
        return StepOutput(loss, pixel_logs(logits, index, weight, v, keep, *chance),
                          n=len(crops))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.Adam(self.parameters(), lr=s.lr, betas=s.betas,
                                     weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, s.milestones, s.gamma)
        return Optimization(optimizer, scheduler)

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {k: val_logs[k] for k in ("loss", "loss_constant", "acc", "acc_constant",
                                         "balanced_acc", "balanced_acc_constant")}


@torch.no_grad()
def pixel_logs(logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, v: torch.Tensor,
               keep: torch.Tensor, constant: torch.Tensor, mode: torch.Tensor,
               balanced_mode: torch.Tensor) -> dict[str, torch.Tensor]:
    """The task's own metrics, each beside the same metric of a prediction that ignores the image.

    ``loss`` (Eq. 2) beside ``loss_constant``, Eq. 2 for the distribution ``constant`` at every
    pixel; ``acc``, the top-1 accuracy of the predicted bin against q*, beside ``acc_constant``,
    always predicting bin ``mode`` (the prior's most frequent); ``balanced_acc``, the same with
    each pixel weighted by v = w_{q*}, beside always predicting ``balanced_mode`` (the bin of the
    largest p̃_q w_q, the best constant for it in expectation).

    Args:
        logits: (N, Q); index, weight: (N, k) the soft-encoded targets; v, keep: (N,) pixel weights
            and mask; constant: (Q,); mode, balanced_mode: bin indices.
    """
    target = index[:, 0]  # (N,) q*
    constant_ce = -(weight * constant[index].clamp_min(1e-12).log()).sum(dim=1)  # (N,)
    correct = (logits.argmax(dim=1) == target).float()  # (N,)
    n, total = keep.sum().clamp_min(1), v.sum().clamp_min(1e-12)
    return {"loss_constant": (v * constant_ce).mean(),
            "acc": (correct * keep).sum() / n,
            "acc_constant": ((target == mode).float() * keep).sum() / n,
            "balanced_acc": (correct * v).sum() / total,
            "balanced_acc_constant": ((target == balanced_mode).float() * v).sum() / total}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="colorization",
        summary="Predict each pixel's ab colour bin from L, class-rebalanced multinomial CE",
        references=("Zhang, Isola & Efros, Colorful Image Colorization, ECCV 2016, §2.1-2.2, "
                    "Eq. 2-4",),
        version="1", defaults=ColorizationSettings, factory=Colorization,
        profiles={"quick": {"epochs": 4, "batch_size": 32, "image_size": 64, "resize": 72,
                            "lr": 1e-3, "milestones": [3], "max_images": 480,
                            "prior_images": 480, "decoder_width": 64}})]
