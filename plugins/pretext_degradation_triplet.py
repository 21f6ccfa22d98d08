"""Sheng et al. 2020: identify which of 22 degradations edited a patch (Eq. 1), keep the milder
edit closer to the patch than the stronger one (Eq. 2), weight patches by prediction entropy."""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator
from torch import nn

from harness import hookimpl
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.sheng import (
    N_CLASSES,
    OPERATIONS,
    build_edits,
    degradation_loss,
    entropy_weight,
    feature_distance,
    random_patch,
    resolve_operations,
    triplet_loss,
)
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput


class DegradationTripletSettings(PretextSettings):
    """Defaults: Sheng et al. 2020, §Implementation details: "we first resize the shorter edge of
    each input image to 256. Then we randomly crop one patch of resolution 227 x 227 [...] we
    randomly choose three manipulation operations in Tab. 1 to edit each patch. We apply SGD
    optimization using a batch size of 64, with the Nesterov momentum of 0.9 and the weight decay
    of 5e-4. We begin with a learning rate of 0.1, dropped it by a factor of 0.2 after every 10
    epochs. To eschew training oscillating, we activate L_trp with λ of 0.02 after the first 30
    epochs"; §Entropy-based weighting: "we set it [α] as 5/3".

    Attributes:
        resize: the shorter edge before cropping (``image_size`` is the square crop).
        ops_per_patch: operations drawn per patch (every parameter of each is rendered).
        lambda_trp, margin: λ of Eq. (3) and the margin of Eq. (2).
        warmup_epochs: epochs of L_deg alone before L_trp is switched on.
        plateau_patience: also switch on earlier, once the validation objective has not
            improved by ``plateau_min_delta`` (relative) for this many epochs (None: only
            ``warmup_epochs``).
        entropy_alpha: α of the entropy weight.
        entropy_warmup_epochs: epochs before the entropy weight applies ("after warm up for
            several epochs"; None: together with L_trp).
        exclude_ops: operations or attributes left out (Table 4's ablation), e.g. ``["jpeg"]``.
        epochs: the paper gives no total; 50 leaves 20 epochs with L_trp (documented choice).
    """

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    image_size: int = Field(227, ge=16)
    resize: int = Field(256, ge=16)
    lr: float = Field(0.1, gt=0)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = Field(10, ge=1)
    lr_gamma: float = Field(0.2, gt=0)
    ops_per_patch: int = Field(3, ge=1)
    lambda_trp: float = Field(0.02, ge=0)
    margin: float = Field(1.0, ge=0)
    warmup_epochs: int = Field(30, ge=0)
    plateau_patience: int | None = Field(None, ge=1)
    plateau_min_delta: float = Field(1e-3, ge=0)
    entropy_alpha: float = Field(5 / 3, ge=0)
    entropy_warmup_epochs: int | None = Field(None, ge=0)
    exclude_ops: list[str] = []

    @model_validator(mode="after")
    def _crop_fits(self):
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size "
                             f"({self.image_size}): the patch is cropped from the resized image")
        return self


class DegradationTriplet(PretextTask):
    """Implements the pretext task of [Sheng et al. 2020]: Eq. (1) (22-way degradation
    identification, a linear classifier on the backbone's pooled features), Eq. (2) (triplet
    hinge on squared distances of L2-normalised pooled features, θ₁ the milder parameter, not
    for rotation or exposure), Eq. (3) (``L_deg + λ L_trp`` averaged over the batch's
    |B|·|T| patch-operation pairs, L_trp on after a warm-up) and the entropy weight ``w_p``.

    Validation always reports the unweighted full objective ``L_deg + λ L_trp`` so the kept epoch
    is chosen on one criterion across the warm-up and the triplet phase.
    """

    def __init__(self, backbone, settings: DegradationTripletSettings) -> None:
        super().__init__(backbone, settings)
        self.operations = resolve_operations(settings.exclude_ops)
        self.classifier = nn.Linear(backbone.num_features, N_CLASSES)
        self.triplet_on = settings.warmup_epochs == 0
        entropy_after = settings.entropy_warmup_epochs
        self.entropy_on = (entropy_after == 0 if entropy_after is not None
                           else self.triplet_on)
        self.triplet_epoch = 0 if self.triplet_on else None
        self._best_val, self._bad = math.inf, 0

    def sample_transform(self):
        s = self.settings
        return lambda image: random_patch(image, s.resize, s.image_size)

    # -- the losses ----------------------------------------------------------------------------
    def _objective(self, batch, ctx: StepContext, weighted: bool, with_triplet: bool):
        s = self.settings
        edits = build_edits(images_of(batch), self.operations, s.ops_per_patch, ctx.generator)
        features = self.backbone(edits.images)  # (N, C)
        logits = self.classifier(features)  # (N, 22)
        used = edits.deg_coef > 0
        ce = degradation_loss(logits, edits.classes)  # (N,)
        weights = (entropy_weight(torch.softmax(logits.float(), dim=1), s.entropy_alpha)
                   if weighted else torch.ones_like(ce))  # (N,)
        deg = (edits.deg_coef * weights * ce).sum()
        trp = triplet_loss(features[edits.anchor], features[edits.mild], features[edits.strong],
                           s.margin)  # (M,)
        pair_weight = (weights[edits.mild] + weights[edits.strong]) / 2  # (M,)
        trp_term = (pair_weight * trp).sum() / (edits.n_patches * edits.n_ops)
        loss = deg + s.lambda_trp * trp_term if with_triplet else deg
        with torch.no_grad():
            d_mild = feature_distance(features[edits.anchor], features[edits.mild])
            d_strong = feature_distance(features[edits.anchor], features[edits.strong])
            logs = {"deg": (edits.deg_coef * ce).sum(), "trp": trp.mean() if len(trp) else 0.0,
                    "acc": (logits.argmax(1) == edits.classes)[used].float().mean(),
                    "triplet_order": (d_mild < d_strong).float().mean() if len(trp) else 0.0,
                    "triplet_margin": (trp == 0).float().mean() if len(trp) else 0.0,
                    "weight": weights[used].mean()}
        return loss, logs, edits.n_patches

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        loss, logs, n = self._objective(batch, ctx, self.entropy_on, self.triplet_on)
        return StepOutput(loss, logs, n=n)

    def validation_step(self, batch, ctx: StepContext) -> StepOutput:
        loss, logs, n = self._objective(batch, ctx, weighted=False, with_triplet=True)
        return StepOutput(loss, logs, n=n)

    # -- the phases ----------------------------------------------------------------------------
    def on_epoch_end(self, epoch: int, val_loss: float, optimization: Optimization) -> bool:
        """Switch on L_trp (and the entropy weight) after ``warmup_epochs`` epochs, or at the
        first plateau of the validation objective when ``plateau_patience`` is set (before the
        switch that is ``L_deg + λ L_trp`` unweighted, where L_deg dominates: λ = 0.02)."""
        s = self.settings
        if val_loss < self._best_val * (1 - s.plateau_min_delta):
            self._best_val, self._bad = val_loss, 0
        else:
            self._bad += 1
        done = epoch + 1
        plateau = s.plateau_patience is not None and self._bad >= s.plateau_patience
        if not self.triplet_on and (done >= s.warmup_epochs or plateau):
            self.triplet_on = True
            self.triplet_epoch = done
        entropy_after = s.entropy_warmup_epochs
        self.entropy_on = (done >= entropy_after if entropy_after is not None
                           else self.triplet_on)
        return False

    def resume_state(self) -> dict:
        return {"triplet_on": self.triplet_on, "entropy_on": self.entropy_on,
                "triplet_epoch": self.triplet_epoch, "best_val": self._best_val, "bad": self._bad}

    def load_resume_state(self, state: dict, optimization: Optimization) -> None:
        self.triplet_on, self.entropy_on = state["triplet_on"], state["entropy_on"]
        self.triplet_epoch = state["triplet_epoch"]
        self._best_val, self._bad = state["best_val"], state["bad"]

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.SGD(self.parameters(), lr=s.lr, momentum=s.momentum,
                                    weight_decay=s.weight_decay, nesterov=True)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, s.lr_step, s.lr_gamma)
        return Optimization(optimizer, scheduler)

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        """Held-out degradation accuracy (vs. chance over the classes drawn), triplet
        satisfaction (``D(p, θ₁) < D(p, θ₂)``; and with the margin), the validation losses."""
        n_classes = sum(len(OPERATIONS[name]) for name in self.operations)
        return {"degradation_accuracy": val_logs["acc"], "chance": 1.0 / n_classes,
                "triplet_satisfaction": val_logs["triplet_order"],
                "triplet_margin_satisfaction": val_logs["triplet_margin"],
                "deg_loss": val_logs["deg"], "trp_loss": val_logs["trp"],
                "loss": val_logs["loss"], "triplet_from_epoch": self.triplet_epoch}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="degradation_triplet",
        summary="Sheng 2020: 22-way degradation identification + triplet on edit strength, "
                "entropy-weighted",
        references=("Sheng et al., Revisiting Image Aesthetic Assessment via Self-Supervised "
                    "Feature Learning, AAAI 2020, Eq. 1-3 and §Entropy-based weighting",),
        version="2", defaults=DegradationTripletSettings, factory=DegradationTriplet,
        profiles={"quick": {"epochs": 6, "batch_size": 32, "image_size": 64, "resize": 72,
                            "lr": 0.05, "lr_step": 4, "warmup_epochs": 3, "max_images": 480}})]
