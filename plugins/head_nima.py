"""NIMA (Talebi & Milanfar, TIP 2018) with the fine-tuning protocol of Pfister et al. 2021, §4.5."""

from __future__ import annotations

import torch
from PIL import Image
from pydantic import Field
from torch import nn

from harness import hookimpl
from harness.data.images import to_tensor
from harness.head import Head, HeadSettings
from harness.losses import emd_loss
from harness.training import Optimization, StepContext
from harness.types import HeadSpec, Prediction, StepOutput


class NimaSettings(HeadSettings):
    """Defaults: Pfister et al. 2021, §4.5 ("We train using the Adam optimizer with separate
    learning rates for the pretrained layers (1e-4) and for the new fully connected layer (1e-3)
    and a weight decay regularization of 4e-5 ... halves the learning rate if the loss does not
    significantly improve for five consecutive epochs ... we keep the weights of all layers but
    the very last frozen until the validation loss plateaus for the first time ... early stopping
    ... once the validation loss does no longer improve for ten consecutive epochs"), and
    Talebi & Milanfar 2018, §III ("dropout rate 0.75"; images rescaled to 256x256, a random
    224x224 crop, horizontal flips).

    Attributes:
        resize: side of the square the image is rescaled to before cropping ``image_size``.
        unfreeze_patience: epochs without significant improvement that make the first plateau,
            which ends the frozen phase. §4.5 defines a plateau in the sentence before ("does not
            significantly improve for five consecutive epochs"), so 5; the authors' code unlocks
            when its frozen-phase ReduceLROnPlateau (patience 10) first fires.
        lr_patience, lr_factor: ReduceLROnPlateau on the validation loss. Its count restarts
            when the backbone is unfrozen (the code builds a fresh optimiser and scheduler then),
            so the new phase is not halved on the frozen phase's plateau.
        min_delta: the absolute decrease of the validation loss that counts as "significant",
            the same in the plateau test, the LR schedule and early stopping (Keras' 1e-4).
        freeze_until_plateau: False trains all layers from the first epoch.
        freeze_batchnorm: also keep the backbone's BatchNorm statistics fixed while frozen
            (TF2-Keras semantics). Default False, as the authors' code: only the weights are
            frozen (``requires_grad``), BatchNorm keeps normalising with batch statistics and
            tracking the labelled data's running statistics.
    """

    epochs: int = Field(200, ge=1)
    batch_size: int = Field(64, ge=1)
    image_size: int = Field(224, ge=16)
    resize: int = Field(256, ge=16)
    dropout: float = Field(0.75, ge=0, lt=1)
    lr_backbone: float = Field(1e-4, gt=0)
    lr_head: float = Field(1e-3, gt=0)
    weight_decay: float = 4e-5
    freeze_until_plateau: bool = True
    freeze_batchnorm: bool = False
    unfreeze_patience: int = Field(5, ge=1)
    lr_patience: int = Field(5, ge=1)
    lr_factor: float = Field(0.5, gt=0, lt=1)
    patience: int | None = Field(10, ge=1)
    min_delta: float = Field(1e-4, ge=0)


class Nima(Head):
    """Implements NIMA [Talebi & Milanfar 2018]: dropout, a linear layer to the M score bins,
    softmax; EMD loss with r = 2 per image, averaged over the batch (Eq. 1); predicted mean
    ``sum_i b_i p_i``."""

    requires = frozenset({"distribution"})

    def __init__(self, backbone, settings: NimaSettings, labels) -> None:
        super().__init__(backbone, settings, labels)
        self.register_buffer("bins", torch.tensor(labels.bins, dtype=torch.float32))
        self.classifier = nn.Sequential(nn.Dropout(settings.dropout),
                                        nn.Linear(backbone.num_features, labels.n_bins))
        self.frozen = settings.freeze_until_plateau
        self._best = float("inf")
        self._bad = 0
        self._set_frozen(self.frozen)

    # -- the frozen phase --------------------------------------------------------------------
    def _set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        for p in self.backbone.parameters():
            p.requires_grad_(not frozen)
        if frozen and self.settings.freeze_batchnorm:
            self.backbone.eval()

    def train(self, mode: bool = True) -> Nima:
        super().train(mode)
        if self.frozen and self.settings.freeze_batchnorm:
            self.backbone.eval()
        return self

    def on_epoch_end(self, epoch: int, val_loss: float, optimization: Optimization) -> bool:
        """End the frozen phase at the first plateau of the validation loss; the LR schedule's
        plateau count starts afresh with the unfrozen network."""
        if val_loss < self._best - self.settings.min_delta:
            self._best, self._bad = val_loss, 0
        else:
            self._bad += 1
        if self.frozen and self._bad >= self.settings.unfreeze_patience:
            self._set_frozen(False)
            self.train(self.training)
            self._bad = 0
            scheduler = optimization.scheduler
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.num_bad_epochs = 0
        return False

    def resume_state(self) -> dict:
        return {"frozen": self.frozen, "best": self._best, "bad": self._bad}

    def load_resume_state(self, state: dict, optimization: Optimization) -> None:
        self._best, self._bad = state["best"], state["bad"]
        self._set_frozen(state["frozen"])

    # -- data --------------------------------------------------------------------------------
    def sample_transform(self, train: bool):
        """Rescale to ``resize`` x ``resize``; random crop + flip when training, centre crop else."""
        s = self.settings
        size, resize = s.image_size, max(s.resize, s.image_size)

        def transform(image: Image.Image) -> torch.Tensor:
            image = image.resize((resize, resize), Image.BILINEAR)
            if train:
                x, y = torch.randint(0, resize - size + 1, (2,)).tolist()
                image = image.crop((x, y, x + size, y + size))
                if torch.rand(()) < 0.5:
                    image = image.transpose(Image.FLIP_LEFT_RIGHT)
            else:
                offset = (resize - size) // 2
                image = image.crop((offset, offset, offset + size, offset + size))
            return to_tensor(image)

        return transform

    # -- steps -------------------------------------------------------------------------------
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self.backbone(images)  # (B, C)
        return self.classifier(features)  # (B, M)

    def training_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        probs = torch.softmax(self.logits(batch["image"]).float(), dim=1)  # (B, M)
        loss = emd_loss(batch["dist"], probs).mean()
        return StepOutput(loss, {"emd": loss.detach()}, n=len(probs))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        probs = torch.softmax(self.logits(images).float(), dim=1)
        return Prediction(mean=probs @ self.bins, dist=probs)

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.Adam(
            [{"params": self.backbone.parameters(), "lr": s.lr_backbone},
             {"params": self.classifier.parameters(), "lr": s.lr_head}],
            weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=s.lr_factor, patience=s.lr_patience,
            threshold=s.min_delta, threshold_mode="abs")
        return Optimization(optimizer, scheduler, interval="epoch", monitor=True)


@hookimpl
def harness_heads():
    return [HeadSpec(
        name="nima", summary="NIMA: 10-bin softmax + EMD loss, Pfister et al.'s fine-tuning schedule",
        references=("Talebi & Milanfar, NIMA: Neural Image Assessment, TIP 2018, Eq. 1",
                    "Pfister et al., Self-Supervised Multi-Task Pretraining Improves Image "
                    "Aesthetic Assessment, CVPRW 2021, §4.5"),
        version="2", defaults=NimaSettings, factory=Nima,
        profiles={"quick": {"epochs": 8, "batch_size": 32, "image_size": 64, "resize": 72,
                            "unfreeze_patience": 1, "lr_patience": 2, "patience": 4,
                            "lr_backbone": 5e-4, "lr_head": 3e-3}})]
