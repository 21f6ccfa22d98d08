"""The task module of Pfister et al.'s pretext tasks [0]: a backbone, the heads of §3.3, the batch
of §4.3 (B base images with all their variants), the optimiser of §4.3. The plugins ``ranking``,
``ranking_cls`` and ``ranking_regr`` subclass :class:`PfisterTask` and name their losses.

[0] Pfister, Kobs, Hotho. Self-Supervised Multi-Task Pretraining Improves Image Aesthetic
    Assessment. CVPR Workshops (NTIRE) 2021.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator
from torch import nn

from harness.distortions import VariantBatch
from harness.errors import UsageError
from harness.pretext import PretextSettings, PretextTask
from harness.pretext_pfister import (
    ASPECTS,
    MARGIN,
    TEMPERATURE,
    classification_loss,
    classification_targets,
    distortion_table,
    loss_balance,
    make_variants,
    ranking_loss,
    ranking_pairs,
    regression_items,
    regression_loss,
)
from harness.training import Optimization, StepContext
from harness.types import StepOutput

#: Base images wider (or taller) than this are centre-cropped to it before the variants are made.
MAX_ASPECT = 3.0


class PfisterSettings(PretextSettings):
    """Defaults: §4.3 ("we train the model for 20 epochs and then select the epoch with the lowest
    validation loss ... an initial learning rate of 1e-4 ... RMSProp with decay and momentum set
    to 0.9, weight decay regularization of 4e-5, and an exponential learning rate decay of 0.98
    per epoch. As batch size, we take eight images and all their distorted variants"; "m ... 0.2";
    §3.4 "T = 50"; §4.1 "We resize and pad all images to 224x224 pixels").

    Attributes:
        batch_size: base images per batch; each brings all the variants of its distortions.
        margin: m of Eq. 1. temperature: T of Eq. 4-5.
        rms_decay, momentum, weight_decay, lr_decay: the optimiser and its per-epoch decay.
        dropout: before each new output layer (the authors' code, as MobileNetV2's classifier).
        composition_references: rank (and regress to 0) crops against the centred crop and
            rotations against the 0° rotation, as the authors' code; False: against the original,
            as the text's ``I_0^(d) = I``.
        distortions_per_step: None uses all 21 distortions per batch (the paper); k draws k of
            them per batch (from the step's generator) and scales the loss sums by 21/k, so they
            estimate the full per-image sums. A budget knob for the ``quick`` profile.
        precise_bn: recompute BatchNorm statistics from this many training batches before each
            validation (Wu & Johnson 2021; not in the paper, 0 = off). The ``quick`` profile
            uses 4: after its 24 steps per epoch the running averages lag the weights, and
            MobileNetV2's evaluation-mode features came out 2-3x those of training mode
            (validation loss exp(L/T) = inf). At the paper's 12,500 steps per epoch the lag
            is negligible.
    """

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(8, ge=1)
    image_size: int = Field(224, ge=16)
    lr: float = Field(1e-4, gt=0)
    margin: float = Field(MARGIN, ge=0)
    temperature: float = Field(TEMPERATURE, gt=0)
    rms_decay: float = Field(0.9, gt=0, lt=1)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(4e-5, ge=0)
    lr_decay: float = Field(0.98, gt=0, le=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    composition_references: bool = True
    distortions_per_step: int | None = Field(None, ge=1, le=21)
    precise_bn: int = Field(0, ge=0)

    @field_validator("image_size")
    @classmethod
    def _multiple_of_four(cls, value: int) -> int:
        if value % 4:
            raise ValueError("must be a multiple of 4 (the 1.5x canvas of the crops needs whole, "
                             "even margins), e.g. 64 or 224")
        return value


def base_transform(size: int) -> Callable[[Image.Image], tuple[torch.Tensor, torch.Tensor]]:
    """Per-image work in the loader: Pfister's canvas ``C`` (short side 1.5 ``size``) as uint8.

    The long side is rounded to a multiple of 6 px, so the frame ``O`` (short side ``size``) and
    ``C`` have even margins and every crop window lies inside ``C``; images beyond
    :data:`MAX_ASPECT` are centre-cropped to it. Sizes differ, so each image is padded into a
    fixed square and returned with its true size: ``((3, P, P) uint8, (2,) [h, w])``.
    """
    short = 3 * size // 2
    pad = 6 * int(np.ceil(short * MAX_ASPECT / 6))

    def transform(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        w, h = image.size
        if max(w, h) > MAX_ASPECT * min(w, h):
            keep = int(MAX_ASPECT * min(w, h))
            box = ((w - keep) // 2, 0, (w - keep) // 2 + keep, h) if w > h else (
                0, (h - keep) // 2, w, (h - keep) // 2 + keep)
            image, (w, h) = image.crop(box), ((keep, h) if w > h else (w, keep))
        long = max(short, 6 * round(short * max(w, h) / min(w, h) / 6))
        width, height = (long, short) if w >= h else (short, long)
        pixels = np.zeros((pad, pad, 3), dtype=np.uint8)
        pixels[:height, :width] = np.asarray(
            image.resize((width, height), Image.BILINEAR, reducing_gap=3.0))
        return torch.from_numpy(pixels).permute(2, 0, 1), torch.tensor([height, width])

    return transform


class PfisterTask(PretextTask):
    """Implements §3.3-3.4 of [0]: a sigmoid score per image ranked by Eq. (1), plus optionally
    three per-aspect softmax heads (Eq. 2) or |D_all| = 21 regression outputs (Eq. 3), combined
    by Eq. (4)/(5): ``h(L_rank) + h(L_other)``, h(L) = exp(L/T). Losses are summed over the
    pairs / images of each base image (Eq. 1: "for one image") and averaged over base images.

    Subclasses set :attr:`other`: None, ``"class"`` or ``"regr"``.
    """

    other: ClassVar[str | None] = None

    def __init__(self, backbone, settings: PfisterSettings) -> None:
        super().__init__(backbone, settings)
        table, width = distortion_table(), backbone.num_features
        self.score = self._layer(width, 1)
        if self.other == "class":
            self.classify = nn.ModuleList(self._layer(width, n) for n in table.sizes)
        if self.other == "regr":
            self.regress = self._layer(width, len(table.names))

    def _layer(self, width: int, outputs: int) -> nn.Sequential:
        """Dropout and a zero-initialised linear layer: every score starts at 0.5 and every
        intensity at 0 ("undistorted"). The authors' code uses Xavier init; with h(L) = exp(L/T)
        a random initial offset of the 21 outputs inflates L_regr and its weight at once."""
        linear = nn.Linear(width, outputs)
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(nn.Dropout(self.settings.dropout), linear)

    def sample_transform(self):
        return base_transform(self.settings.image_size)

    # -- the batch -----------------------------------------------------------------------------
    def variants(self, batch, generator: torch.Generator | None) -> tuple[VariantBatch, float]:
        """The variants of a loader batch and the factor that scales its sums to all 21."""
        pixels, sizes = batch["image"]
        bases = [pixels[b, :, :h, :w].float() / 255.0 for b, (h, w) in enumerate(sizes.tolist())]
        k, total = self.settings.distortions_per_step, len(distortion_table().names)
        chosen = None
        if k is not None and k < total:
            device = generator.device if generator is not None else "cpu"
            chosen = torch.randperm(total, generator=generator, device=device)[:k].tolist()
        out = make_variants(bases, self.settings.image_size, generator, chosen,
                            self.settings.composition_references)
        return out, total / (len(chosen) if chosen else total)

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        vb, scale = self.variants(batch, ctx.generator)
        features = self.backbone(vb.images).float()  # (N, C)
        with torch.autocast(features.device.type, enabled=False):  # sums of ~500 terms: float32
            return self._losses(vb, features, scale)

    def _losses(self, vb: VariantBatch, features: torch.Tensor, scale: float) -> StepOutput:
        n_bases = int(vb.base.max()) + 1
        scores = torch.sigmoid(self.score(features)).squeeze(1)  # (N,)
        better, worse = ranking_pairs(vb.base, vb.distortion, vb.level, vb.reference)
        rank = ranking_loss(scores, better, worse, self.settings.margin) * scale / n_bases
        logs = {"rank_loss": rank.detach(), **_pair_accuracy(scores, better, worse, vb)}
        loss = rank
        if self.other == "class":
            aspect, target = classification_targets(vb.distortion)
            logits = [head(features) for head in self.classify]  # 3 x (N, |D_a|)
            other = classification_loss(logits, aspect, target) * scale / n_bases
            logs.update(class_loss=other.detach(), **_class_accuracy(logits, aspect, target))
        elif self.other == "regr":
            outputs = self.regress(features)  # (N, 21)
            rows, columns, targets = regression_items(vb)
            other = regression_loss(outputs, rows, columns, targets) * scale / n_bases
            error = (outputs[rows, columns] - targets).abs().detach()  # (K,)
            logs.update(regr_loss=other.detach(), regr_mae=error.mean())
        if self.other is not None:
            t = self.settings.temperature
            loss = loss_balance(rank, t) + loss_balance(other, t)
        return StepOutput(loss, logs, n=len(vb))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.RMSprop(self.parameters(), lr=s.lr, alpha=s.rms_decay,
                                        momentum=s.momentum, weight_decay=s.weight_decay)
        return Optimization(optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, s.lr_decay))

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        """Pair-ordering accuracy (overall and per aspect), per-aspect classification accuracy
        (Appendix D of [0]) and regression MAE where the task has them, with the losses."""
        names = {"pair_acc": "pair_accuracy", "regr_mae": "regression_mae"}
        out = {}
        for key, value in val_logs.items():
            for short, long in names.items():
                key = key.replace(short, long)
            out[key.replace("class_acc", "class_accuracy")] = value
        return out

    # -- analysis ------------------------------------------------------------------------------
    @torch.no_grad()
    def distortion_intensities(self, images: torch.Tensor) -> torch.Tensor:
        """The regression outputs ``f_regr`` (Eq. 3) of letterboxed images: (N, 3, S, S) -> (N, 21)."""
        if self.other != "regr":
            raise UsageError("this pretext has no regression outputs; the cross-distortion "
                             "analysis needs a ranking_regr run")
        return self.regress(self.backbone(images).float())


def _pair_accuracy(scores, better, worse, vb: VariantBatch) -> dict[str, torch.Tensor]:
    """Fraction of pairs ordered correctly (strictly), overall and per aspect of the edit."""
    right = (scores[better] > scores[worse]).float().detach()  # (P,)
    aspect = distortion_table().aspect.to(vb.distortion.device)[vb.distortion[worse]]  # (P,)
    logs = {"pair_acc": right.mean()}
    for a, name in enumerate(ASPECTS):
        if bool((aspect == a).any()):
            logs[f"pair_acc_{name}"] = right[aspect == a].mean()
    return logs


def _class_accuracy(logits, aspect, target) -> dict[str, torch.Tensor]:
    """Per-aspect accuracy of Eq. 2's heads (the paper's Appendix D)."""
    logs = {}
    for a, (name, head) in enumerate(zip(ASPECTS, logits)):
        rows = aspect == a
        if bool(rows.any()):
            logs[f"class_acc_{name}"] = (head[rows].argmax(1) == target[rows]).float().mean().detach()
    return logs
