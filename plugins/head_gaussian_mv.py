"""Zeng et al. 2020's unified probabilistic head: Gaussian-MV targets with a softmax CE loss.

[0] H. Zeng, Z. Cao, L. Zhang, A. C. Bovik, "A Unified Probabilistic Formulation of Image
    Aesthetic Assessment", IEEE TIP 29, 2020 (§III, §IV-B). Code: github.com/HuiZeng/Unified_IAA.

The label transforms live in :mod:`harness.labels`, the losses in :mod:`harness.losses`; this
module wires them into a head. See docs/labels.md, "The gaussian_mv head".
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from harness import hookimpl, labels
from harness.errors import DataError, UsageError
from harness.head import Head, HeadSettings
from harness.losses import emd_loss, half_squared_error, huber_loss, soft_cross_entropy
from harness.training import Optimization, StepContext
from harness.types import HeadSpec, Prediction, StepOutput

#: Targets with a two-set partition [low, high] (Eq. 4, 5): one output, P(high) = σ(z).
TWO_CLASS = ("binary", "score")
#: Losses on linear outputs (Eq. 7–9: "usually used in conjunction with linear activation").
LINEAR_LOSSES = ("mse", "huber")

#: Start of the exponentially decaying learning rate per (target, loss): the authors' tuned
#: ResNet-50 values (model_intialization.m, ``logspace(a, a - 1, epochs)``: one decade). The code
#: has binary labels only with the logistic loss (= ce); binary with mse/huber uses the score
#: entries, and emd on two-class targets (not in the code) the distribution targets' emd value.
_SCORE = {"ce": 1e-2, "mse": 10 ** -2.5, "huber": 10 ** -1.5, "emd": 1e-3}
_DIST = {"ce": 1e-3, "mse": 10 ** -2.5, "huber": 10 ** -1.5, "emd": 1e-3}
LR_START = {"binary": {**_SCORE, "ce": 1e-3}, "score": _SCORE, "rsd": _DIST,
            "gaussian_nv": _DIST, "gaussian_mv": _DIST}


class GaussianMVSettings(HeadSettings):
    """Defaults: [0] §IV-B ("The input images were resized to a fixed resolution of 384 × 384,
    and only random horizontal flip was used for data augmentation ... stochastic gradient decent
    with momentum ... the batch size and momentum were fixed at 32 and 0.9 ... The weight decay
    was fixed at 1e−4 ... for ResNet50 ... The only parameter that was tuned for each method was
    the learning rate") and §IV-C ("Each loss function was fine-tuned over 10 epochs using an
    exponentially decreasing learning rate"); §III-D for λ and the cap.

    Attributes:
        target: label type of Table II: binary, score, rsd, gaussian_nv, gaussian_mv.
        loss: loss of Table I: ce (Eq. 10/11), emd (NIMA Eq. 1), mse (Eq. 7/8), huber (Eq. 9).
        lr: initial learning rate; None takes the authors' tuned value for (target, loss)
            from :data:`LR_START`.
        lr_decay: final / initial learning rate over ``epochs`` (the code's one decade, 0.1),
            decayed by the same factor every epoch.
        lam, cap: λ (Eq. 15–16) and the variance cap (Eq. 17) of Gaussian-MV.
        form: "paper" samples exp(−(b−μ)²/(2σ_z²)); "code" the authors' exp(−(b−μ)²/σ_z²).
        score_bins: M for datasets with scores but no vote histograms (AADB): the bins span the
            score scale evenly; 9 is the authors' AADB grid of ratings 1, 1.5, ..., 5.
        score_var: σ_z² in squared bin units for those datasets; None: labels.SCORE_ONLY_VAR
            scaled to M (see labels.gaussian_mv_from_score).
        huber_delta: ε of Eq. 9 ("Following [36], we fixed ε = 1/9").
        dropout: before the last layer; the paper names none (the authors' code uses 0.5 on
            AADB only).
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    image_size: int = Field(384, ge=16)
    target: Literal["binary", "score", "rsd", "gaussian_nv", "gaussian_mv"] = "gaussian_mv"
    loss: Literal["ce", "emd", "mse", "huber"] = "ce"
    lr: float | None = Field(None, gt=0)
    lr_decay: float = Field(0.1, gt=0, le=1)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    lam: float = Field(labels.LAMBDA, ge=0, le=1)
    cap: float = Field(labels.CAP, gt=0)
    form: Literal["paper", "code"] = "paper"
    score_bins: int = Field(9, ge=2)
    score_var: float | None = Field(None, ge=0)
    huber_delta: float = Field(1 / 9, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)


class GaussianMV(Head):
    """Implements [0] §III: a linear layer on the pooled features to M bins, softmax, trained
    with the soft-label CE of Eq. (10) on the Gaussian-MV targets of Eq. (12)–(17); predicted
    mean Σ_m b_m·p_m (§III-C), binary label mean > the dataset's threshold (AVA: 5, Eq. 2).

    ``target`` swaps the label type (Table II), ``loss`` the loss (Table I). Two-class targets
    use one output z: CE is Eq. (11) on σ(z), the same as a 2-way softmax over [0, z] against
    labels.make_target's [1 − p, p]; mse/huber are Eq. (8) on z itself. Scores on the dataset's
    scale: two-class, mean = top·P(high) (Eq. 5 inverted); M bins, mean = Σ b_m·p_m with b_m the
    dataset's bins, or for score-only datasets M values evenly spanning its scale.
    """

    def __init__(self, backbone, settings: GaussianMVSettings, labels_spec) -> None:
        super().__init__(backbone, settings, labels_spec)
        s, kinds = settings, labels_spec.kinds
        self.kind, self.two_class = s.target, s.target in TWO_CLASS
        self.from_votes = "distribution" in kinds and bool(labels_spec.bins)
        lo, hi = labels_spec.scale
        possible = supported_targets(labels_spec)
        if s.target not in possible:
            raise UsageError(f"head 'gaussian_mv': head.target={s.target} needs "
                             f"{NEEDS[s.target]}, and this dataset has "
                             f"{', '.join(sorted(kinds)) or 'no'} labels; choose head.target="
                             f"{' or '.join(possible)}")
        if s.target == "score" and not (lo >= 0 and hi > 0):
            raise UsageError(f"head 'gaussian_mv': head.target=score divides scores by the top "
                             f"of the scale (Eq. 5), which needs a scale within [0, hi]; this "
                             f"dataset's is {labels_spec.scale}")
        if self.two_class:
            n_out, bins = 1, []
        elif self.from_votes:
            n_out, bins = labels_spec.n_bins, list(labels_spec.bins)
        else:  # gaussian_mv from scores: M bins evenly spanning the scale
            n_out = s.score_bins
            bins = [lo + (hi - lo) * m / (n_out - 1) for m in range(n_out)]
        self.register_buffer("bins", torch.tensor(bins, dtype=torch.float32))  # (M,) outputs
        vote_bins = list(labels_spec.bins) if self.from_votes else []
        self.register_buffer("vote_bins", torch.tensor(vote_bins, dtype=torch.float64))  # (M,)
        self.classifier = nn.Sequential(nn.Dropout(s.dropout),
                                        nn.Linear(backbone.num_features, n_out))
        self.lr = s.lr if s.lr is not None else LR_START[s.target][s.loss]

    @classmethod
    def accepts(cls, labels_spec) -> str | None:
        return None if supported_targets(labels_spec) else "needs scores, binary labels or votes"

    # -- targets -----------------------------------------------------------------------------
    def _mean(self, batch: dict) -> torch.Tensor:
        """(B,) mean score on the dataset's scale: from the votes (Eq. 1) where there are any."""
        if self.from_votes and "dist" in batch:
            return batch["dist"].double() @ self.vote_bins  # (B,)
        return batch["score"].double()

    def target(self, batch: dict) -> torch.Tensor:
        """The CE target of ``self.kind`` for a batch: (B, 2) [low, high] or (B, M)."""
        s, spec = self.settings, self.labels
        try:
            if self.kind == "binary":
                c = (batch["binary"].double() if "binary" in batch
                     else labels.binary_label(self._mean(batch), threshold=spec.threshold))
                out = torch.stack([1 - c, c], dim=1)  # (B, 2)
            elif self.kind == "score":
                p = labels.soft_binary(self._mean(batch), top=spec.scale[1])  # (B,)
                out = torch.stack([1 - p, p], dim=1)  # (B, 2)
            elif self.from_votes:
                out = labels.make_target(batch["dist"], self.kind, lam=s.lam, cap=s.cap,
                                         form=s.form)  # (B, M)
            else:
                out = labels.gaussian_mv_from_score(batch["score"], m=s.score_bins,
                                                    var=s.score_var, lo=spec.scale[0],
                                                    hi=spec.scale[1], form=s.form)  # (B, M)
        except ValueError as error:
            rows = batch["index"].tolist() if "index" in batch else "?"
            raise DataError(f"head 'gaussian_mv': cannot build the {self.kind} target of "
                            f"records {rows}: {error}") from None
        return out.float()

    # -- loss and outputs --------------------------------------------------------------------
    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        """Raw outputs z of the last layer: (B, 1) for two-class targets, else (B, M)."""
        return self.classifier(self.backbone(images)).float()

    def loss(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (B,) of raw outputs z against a target (B, 2) or (B, M)."""
        name = self.settings.loss
        if name in LINEAR_LOSSES:
            t = target[:, 1:] if self.two_class else target  # Eq. 8: the single output P(high)
            if name == "mse":
                return half_squared_error(z, t)
            return huber_loss(z, t, self.settings.huber_delta)
        logits = self.logits(z)  # (B, 2) or (B, M)
        if name == "ce":
            return soft_cross_entropy(logits, target)
        return emd_loss(target, torch.softmax(logits, dim=1))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Softmax logits: [0, z] for one output (softmax = [1 − σ(z), σ(z)]), else z."""
        return torch.cat([torch.zeros_like(z), z], dim=1) if self.two_class else z  # (B, 2)

    def training_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        loss = self.loss(self.outputs(batch["image"]), self.target(batch)).mean()
        return StepOutput(loss, {self.settings.loss: loss.detach()}, n=len(batch["image"]))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        z = self.outputs(images)
        linear = self.settings.loss in LINEAR_LOSSES
        if self.two_class:
            p_high = z[:, 0].clamp(0, 1) if linear else torch.sigmoid(z[:, 0])  # (B,)
            binary = (p_high > 0.5).long() if self.kind == "binary" else None
            return Prediction(mean=self.labels.scale[1] * p_high, binary=binary)
        if linear:  # linear outputs: clip negatives and renormalise to a distribution
            z = z.clamp(min=0) + 1e-12
            probs = z / z.sum(dim=1, keepdim=True)  # (B, M)
        else:
            probs = torch.softmax(z, dim=1)  # (B, M)
        return Prediction(mean=probs @ self.bins, dist=probs if self.from_votes else None)

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=self.lr,
                                    momentum=s.momentum, weight_decay=s.weight_decay)
        gamma = s.lr_decay ** (1.0 / (s.epochs - 1)) if s.epochs > 1 else 1.0
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        return Optimization(optimizer, scheduler, interval="epoch")

    def finalize(self, val_logs: dict[str, float]) -> dict:
        s = self.settings
        final = self.lr * (s.lr_decay if s.epochs > 1 else 1.0)
        return {"head_setup": {"target": self.kind, "loss": s.loss, "lr": [self.lr, final],
                               "outputs": self.classifier[-1].out_features,
                               "bins": None if self.two_class else self.bins.tolist()}}


#: What each target needs from a dataset (for the error message).
NEEDS = {"binary": "binary labels, scores or vote histograms", "score": "scores or vote histograms",
         "rsd": "vote histograms", "gaussian_nv": "vote histograms",
         "gaussian_mv": "vote histograms or scores"}


def supported_targets(labels_spec) -> list[str]:
    """The targets a dataset with these labels can train, in Table II's order."""
    votes = "distribution" in labels_spec.kinds and bool(labels_spec.bins)
    score = votes or "score" in labels_spec.kinds
    ok = {"binary": score or "binary" in labels_spec.kinds, "score": score, "rsd": votes,
          "gaussian_nv": votes, "gaussian_mv": score}
    return [kind for kind in labels.KINDS if ok[kind]]


@hookimpl
def harness_heads():
    return [HeadSpec(
        name="gaussian_mv",
        summary="Zeng et al. 2020: Gaussian-MV label distribution + softmax CE (Table I/II options)",
        references=("Zeng, Cao, Zhang & Bovik, A Unified Probabilistic Formulation of Image "
                    "Aesthetic Assessment, IEEE TIP 29, 2020, §III Eq. 7-17, §IV-B",),
        version="1", defaults=GaussianMVSettings, factory=GaussianMV,
        profiles={"quick": {"epochs": 4, "image_size": 64, "lr": 0.01}})]
