"""Per-block linear probes on a frozen backbone (Zhang et al. 2016/2017's protocol, as used by
Sheng et al. 2020, Table 2): one linear classifier per block, a small learning-rate grid, all
trained at once from one frozen forward pass per batch."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import Field, model_validator
from torch import nn

from harness import distributed, hookimpl
from harness.data.images import resize_short, to_tensor
from harness.errors import UsageError
from harness.head import Head, HeadSettings
from harness.probes import TARGET_DIM, block_geometry, pooled_features
from harness.training import Optimization, StepContext
from harness.types import HeadSpec, Prediction, StepOutput


class LinearProbeSettings(HeadSettings):
    """Defaults: Sheng et al. 2020, §Implementation details: "The following adaptation stage
    shares the same settings except that the learning-rate starts from 0.01" (SGD, Nesterov
    momentum 0.9, weight decay 5e-4, batch 64, lr x 0.2 every 10 epochs, shorter edge 256, random
    227 x 227 crops); §Training Pipeline: "we freeze each model learned in the pre-training and
    leverage similar linear classifiers to evaluate visual features from each convolutional
    layer for the task of binary aesthetic classification".

    Attributes:
        lrs: the learning-rate grid, trained side by side (0.01 is the paper's).
        task: ``classification`` (binary label, 2-way softmax; the paper) or ``regression`` (the
            mean score scaled to [0, 1] by the dataset's scale, squared error; SRCC/PLCC).
        target_dim: about how many features each block's probe sees (Zhang et al.'s ~9,000).
        pool: ``avg`` or ``max`` adaptive pooling to each block's grid.
        feature_norm: a BatchNorm without affine parameters on the pooled features (the probes of
            Gidaris et al.'s public code); it is part of the probe, not of the backbone.
        blocks: the blocks to probe (None: every block of ``feature_info``).
        select_by: choose each probe's epoch and each block's learning rate (and the best block)
            on the validation ``acc`` or ``loss`` (CE / squared error), the other breaking ties;
            ``auto``: accuracy for classification (the paper's metric), loss for regression.
        epochs: the paper gives no number; 30 covers three learning-rate steps (our choice).
    """

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    image_size: int = Field(227, ge=16)
    resize: int = Field(256, ge=16)
    lrs: list[float] = [0.1, 0.01, 0.001]
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = Field(10, ge=1)
    lr_gamma: float = Field(0.2, gt=0)
    task: Literal["classification", "regression"] = "classification"
    target_dim: int = Field(TARGET_DIM, ge=1)
    pool: Literal["avg", "max"] = "avg"
    feature_norm: bool = True
    blocks: list[str] | None = None
    select_by: Literal["auto", "acc", "loss"] = "auto"

    @model_validator(mode="after")
    def _valid(self):
        if not self.lrs or min(self.lrs) <= 0:
            raise ValueError("lrs must be a non-empty list of positive learning rates")
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size "
                             f"({self.image_size})")
        return self


class LinearProbe(Head):
    """Implements the linear evaluation of [Zhang et al. 2016, 2017; Sheng et al. 2020 §Training
    Pipeline]: the backbone frozen (weights and BatchNorm statistics, eval mode throughout),
    each block's map pooled to ~``target_dim`` features (:mod:`harness.probes`), one linear layer
    per (block, learning rate). Each probe keeps its best validation epoch; each block keeps its
    best learning rate; the best block (on validation) gives ``predictions.csv`` and every block
    gives its own test metrics (``Prediction.blocks`` -> ``metrics.json["blocks"]``)."""

    def __init__(self, backbone, settings: LinearProbeSettings, labels) -> None:
        super().__init__(backbone, settings, labels)
        need = "binary" if settings.task == "classification" else "score"
        if need not in labels.kinds:
            raise UsageError(f"head 'linear_probe' with task={settings.task!r} needs {need} "
                             f"labels; this dataset has {sorted(labels.kinds)} (set "
                             f"head.task={'regression' if need == 'binary' else 'classification'})")
        for p in backbone.parameters():
            p.requires_grad_(False)
        backbone.eval()
        self.geometry = block_geometry(backbone, settings.image_size, settings.blocks,
                                       settings.target_dim)
        outputs = 2 if settings.task == "classification" else 1
        self.norms = nn.ModuleList([nn.BatchNorm1d(g.dim, affine=False) if settings.feature_norm
                                    else nn.Identity() for g in self.geometry])
        self.probes = nn.ModuleList([nn.ModuleList([nn.Linear(g.dim, outputs)
                                                    for _ in settings.lrs])
                                     for g in self.geometry])
        self.register_buffer("chosen", torch.zeros(len(self.geometry), dtype=torch.long))
        self.register_buffer("best_block", torch.zeros((), dtype=torch.long))
        shape = (len(self.geometry), len(settings.lrs))
        self._val = torch.zeros(*shape, 3, dtype=torch.float64)  # loss sum, correct, count
        self._best: dict[tuple[int, int], dict] = {}

    @classmethod
    def accepts(cls, labels) -> str | None:
        return None if labels.kinds & {"binary", "score"} else "needs binary or score labels"

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        self.backbone.eval()  # frozen means frozen: BatchNorm statistics too
        return self

    # -- data ----------------------------------------------------------------------------------
    def sample_transform(self, train: bool):
        """Shorter edge to ``resize``; a random ``image_size`` crop when training, the centre
        crop otherwise (no flips: the paper lists none)."""
        s = self.settings

        def transform(image: Image.Image) -> torch.Tensor:
            image = resize_short(image, s.resize)
            w, h = image.size
            if train:
                x, y = int(torch.randint(0, w - s.image_size + 1, ())), int(
                    torch.randint(0, h - s.image_size + 1, ()))
            else:
                x, y = (w - s.image_size) // 2, (h - s.image_size) // 2
            return to_tensor(image.crop((x, y, x + s.image_size, y + s.image_size)))

        return transform

    # -- probes --------------------------------------------------------------------------------
    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """One frozen forward pass: every probed block's pooled features, (B, D_i) each."""
        with torch.no_grad():
            maps = self.backbone.forward_features(images, [g.index for g in self.geometry])
            return pooled_features(maps, self.geometry, self.settings.pool)

    def outputs(self, images: torch.Tensor) -> list[list[torch.Tensor]]:
        """Every probe's output: ``[block][lr]`` -> (B, 2) logits or (B,) scaled scores."""
        out = []
        for norm, probes, f in zip(self.norms, self.probes, self.features(images)):
            z = norm(f.float())  # (B, D)
            out.append([p(z).squeeze(1) if self.settings.task == "regression" else p(z)
                        for p in probes])
        return out

    def _target(self, batch: dict) -> torch.Tensor:
        if self.settings.task == "classification":
            return batch["binary"].long()
        low, high = self.labels.scale
        return (batch["score"].float() - low) / (high - low)  # (B,) in [0, 1]

    def _loss_and_correct(self, out: torch.Tensor, target: torch.Tensor, batch: dict):
        if self.settings.task == "classification":
            return (F.cross_entropy(out.float(), target, reduction="none"),
                    (out.argmax(1) == target).float())
        loss = (out.float() - target).pow(2)  # (B,)
        correct = ((self._scale(out) > self.labels.threshold).long() == batch["binary"]).float() \
            if "binary" in batch else torch.zeros_like(loss)
        return loss, correct

    def _scale(self, out: torch.Tensor) -> torch.Tensor:
        low, high = self.labels.scale
        return out.float() * (high - low) + low

    def _step(self, batch: dict, accumulate: bool) -> StepOutput:
        """Every probe's loss on one batch; their sum is the loss (the probes share no
        parameter, so each is trained by its own term at its own learning rate)."""
        target = self._target(batch)
        total, logs = 0.0, {}
        for i, (g, outs) in enumerate(zip(self.geometry, self.outputs(batch["image"]))):
            for j, (lr, out) in enumerate(zip(self.settings.lrs, outs)):
                loss, correct = self._loss_and_correct(out, target, batch)
                total = total + loss.mean()
                logs[f"{g.name}@{lr:g}_loss"] = loss.mean().detach()
                logs[f"{g.name}@{lr:g}_acc"] = correct.mean()
                if accumulate:
                    self._val[i, j] += torch.tensor(
                        [float(loss.sum()), float(correct.sum()), len(target)], dtype=torch.float64)
        return StepOutput(total, logs, n=len(target))

    def training_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        return self._step(batch, accumulate=False)

    def validation_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        return self._step(batch, accumulate=True)

    # -- selection -----------------------------------------------------------------------------
    def _score(self, record: dict) -> tuple[float, float]:
        """Lower is better: (minus the accuracy, the loss), or (the loss, minus the accuracy)."""
        by = self.settings.select_by
        if by == "auto":
            by = "acc" if self.settings.task == "classification" else "loss"
        return (-record["acc"], record["loss"]) if by == "acc" else (record["loss"], -record["acc"])

    def on_epoch_end(self, epoch: int, val_loss: float, optimization: Optimization) -> bool:
        """Snapshot every probe (and its block's feature statistics) at its best validation
        epoch so far (validation sums are added over ranks in a distributed run)."""
        if distributed.active():
            keys = [f"{i},{j},{c}" for i in range(self._val.shape[0])
                    for j in range(self._val.shape[1]) for c in range(3)]
            summed = distributed.sum_across(dict(zip(keys, self._val.flatten().tolist())),
                                            self.chosen.device)
            self._val = torch.tensor([summed[k] for k in keys],
                                     dtype=torch.float64).view_as(self._val)
        for i, j in ((i, j) for i in range(self._val.shape[0]) for j in range(self._val.shape[1])):
            loss_sum, correct, count = self._val[i, j].tolist()
            if not count:
                continue
            record = {"epoch": epoch + 1, "loss": loss_sum / count, "acc": correct / count}
            best = self._best.get((i, j))
            if math.isfinite(record["loss"]) and (best is None
                                                  or self._score(record) < self._score(best)):
                state = {f"probe.{k}": v.detach().clone()
                         for k, v in self.probes[i][j].state_dict().items()}
                state.update({f"norm.{k}": v.detach().clone()
                              for k, v in self.norms[i].state_dict().items()})
                self._best[(i, j)] = {**record, "state": state}
        self._val.zero_()
        return False

    def resume_state(self) -> dict:
        return {"best": {f"{i},{j}": v for (i, j), v in self._best.items()}}

    def load_resume_state(self, state: dict, optimization: Optimization) -> None:
        self._best = {tuple(int(x) for x in key.split(",")): value
                      for key, value in state["best"].items()}

    def finalize(self, val_logs: dict[str, float]) -> dict:
        """Load each block's best (learning rate, epoch) probe; pick the best block; return the
        ``blocks`` section (the selection; the runner adds each block's test metrics)."""
        blocks, scores = {}, []
        for i, g in enumerate(self.geometry):
            candidates = [(j, self._best[(i, j)]) for j in range(len(self.settings.lrs))
                          if (i, j) in self._best]
            if not candidates:
                raise UsageError(f"head 'linear_probe': block {g.name!r} has no finite "
                                 f"validation loss at any learning rate; lower head.lrs")
            j, best = min(candidates, key=lambda c: self._score(c[1]))
            self.probes[i][j].load_state_dict({k[6:]: v for k, v in best["state"].items()
                                               if k.startswith("probe.")})
            self.norms[i].load_state_dict({k[5:]: v for k, v in best["state"].items()
                                           if k.startswith("norm.")})
            self.chosen[i] = j
            scores.append(self._score(best))
            blocks[g.name] = {"lr": self.settings.lrs[j], "best_epoch": best["epoch"],
                              "val_loss": best["loss"], "val_acc": best["acc"], "dim": g.dim}
        self.best_block.fill_(min(range(len(scores)), key=scores.__getitem__))
        return {"blocks": blocks, "best_block": self.geometry[int(self.best_block)].name}

    # -- prediction ----------------------------------------------------------------------------
    def _prediction(self, out: torch.Tensor) -> Prediction:
        if self.settings.task == "classification":
            # No score: the classifier predicts the binary label only (metrics: acc).
            return Prediction(mean=torch.full((len(out),), math.nan, device=out.device),
                              binary=out.argmax(1))
        return Prediction(mean=self._scale(out))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """The best block's prediction, with every block's (its chosen learning rate) in
        ``blocks``."""
        outs = self.outputs(images)
        blocks = {g.name: self._prediction(outs[i][int(self.chosen[i])])
                  for i, g in enumerate(self.geometry)}
        best = blocks[self.geometry[int(self.best_block)].name]
        return Prediction(mean=best.mean, dist=None, binary=best.binary, blocks=blocks)

    def configure_optimizers(self) -> Optimization:
        """SGD with Nesterov momentum, one parameter group per learning rate of the grid."""
        s = self.settings
        groups = [{"params": [p for probes in self.probes for p in probes[j].parameters()],
                   "lr": lr} for j, lr in enumerate(s.lrs)]
        optimizer = torch.optim.SGD(groups, lr=s.lrs[0], momentum=s.momentum,
                                    weight_decay=s.weight_decay, nesterov=True)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, s.lr_step, s.lr_gamma)
        return Optimization(optimizer, scheduler)


@hookimpl
def harness_heads():
    return [HeadSpec(
        name="linear_probe",
        summary="Frozen backbone, one linear classifier (or regressor) per block on ~9000 pooled "
                "features, lr grid",
        references=("Zhang, Isola & Efros, Colorful Image Colorization, ECCV 2016, §3.1",
                    "Zhang, Isola & Efros, Split-Brain Autoencoders, CVPR 2017, §4.1",
                    "Sheng et al., Revisiting Image Aesthetic Assessment via Self-Supervised "
                    "Feature Learning, AAAI 2020, §Training Pipeline and Table 2"),
        version="1", defaults=LinearProbeSettings, factory=LinearProbe,
        profiles={"quick": {"epochs": 6, "batch_size": 32, "image_size": 96, "resize": 108,
                            "lr_step": 4}})]
