"""RotNet (Gidaris, Singh & Komodakis, ICLR 2018): predict which of four rotations was applied."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness import hookimpl
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput


class RotNetSettings(PretextSettings):
    """Defaults: the authors' ImageNet configuration (``config/ImageNet_RotNet_AlexNet.py``):
    SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 192, lr 0.01 divided by 10 after
    epochs 15, 30 and 45, 50 epochs."""

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(192, ge=1)
    lr: float = Field(0.01, gt=0)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: list[int] = [15, 30, 45]
    gamma: float = 0.1


def rotate_all(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image, as in §2.4 of the paper ("we found it beneficial to feed
    all four rotated copies of an image simultaneously in the same mini-batch").

    Args:
        images: (B, 3, S, S) square images.
    Returns:
        (4B, 3, S, S) rotated images, grouped by rotation, and (4B,) labels y in {0, 1, 2, 3}
        for rotations of y * 90 degrees counter-clockwise.
    """
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])  # (4B, 3, S, S)
    labels = torch.arange(4, device=images.device).repeat_interleave(len(images))  # (4B,)
    return rotated, labels


def rotnet_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (1)-(2): the mean over images and rotations of -log F^y(g(X | y)), i.e. 4-way
    cross-entropy averaged over the 4B rotated copies."""
    return F.cross_entropy(logits, labels)


class RotNet(PretextTask):
    """Implements the rotation-prediction objective of [Gidaris et al. 2018], Eq. (1)-(2), with a
    linear 4-way classifier on the backbone's pooled features."""

    def __init__(self, backbone, settings: RotNetSettings) -> None:
        super().__init__(backbone, settings)
        self.classifier = nn.Linear(backbone.num_features, 4)

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        rotated, labels = rotate_all(images_of(batch))
        logits = self.classifier(self.backbone(rotated))  # (4B, 4)
        loss = rotnet_loss(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        return StepOutput(loss, {"acc": acc}, n=len(labels))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        optimizer = torch.optim.SGD(self.parameters(), lr=s.lr, momentum=s.momentum,
                                    weight_decay=s.weight_decay, nesterov=True)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, s.milestones, s.gamma)
        return Optimization(optimizer, scheduler)

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {"rotation_accuracy": val_logs["acc"], "loss": val_logs["loss"]}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="rotnet", summary="Predict the rotation (0/90/180/270) of every image, 4-way CE",
        references=("Gidaris, Singh & Komodakis, Unsupervised Representation Learning by "
                    "Predicting Image Rotations, ICLR 2018, Eq. 1-2",),
        version="1", defaults=RotNetSettings, factory=RotNet,
        profiles={"quick": {"epochs": 4, "batch_size": 32, "image_size": 64, "lr": 0.05,
                            "milestones": [3], "max_images": 480}})]
