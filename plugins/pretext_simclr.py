"""SimCLR (Chen, Kornblith, Norouzi & Hinton, ICML 2020) on lightly: two augmented views of every
image, a projection head, and the NT-Xent contrastive loss."""

from __future__ import annotations

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from pydantic import Field
from torch import nn

from harness import hookimpl
from harness.pretext import PretextSettings, PretextTask
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput

#: The image side Chen et al.'s blur σ range [0.1, 2.0] refers to (ImageNet crops of 224 pixels).
BLUR_REFERENCE_SIZE = 224


class SimCLRSettings(PretextSettings):
    """Defaults: the SimCLR baseline of Pfister et al. 2021, whose code builds on spijkervet/SimCLR
    (``config/config.yaml``: batch 128, 100 epochs, ``projection_dim: 64``, ``temperature: 0.5``;
    ``model.py``: Adam, lr 3e-4, no weight decay), with Chen et al.'s augmentations (Appendix A:
    random resized crop of scale [0.08, 1], horizontal flip, colour jitter of strength s = 1 applied
    with p = 0.8, grayscale with p = 0.2, Gaussian blur with p = 0.5 and σ in [0.1, 2.0]).
    Chen et al.'s own optimiser (LARS, batch 4096, lr 4.8) needs many accelerators.

    The colour augmentations are aesthetic distortions the network learns to ignore; the
    settings below switch each of them off (0) so the harness can measure that effect.

    Attributes:
        temperature: τ of NT-Xent.
        projection_dim: output size of the projection head g(·) (Chen et al.: 128).
        hidden_dim: hidden size of g(·); None means the backbone's feature size (Chen et al.).
        projection_batch_norm: batch norm in g(·) (Chen et al.'s code, lightly's default);
            spijkervet's head has none.
        min_scale: the smallest crop area of the random resized crop, as a fraction of the image.
        color_jitter: Chen et al.'s strength s (brightness, contrast, saturation 0.8 s; hue 0.2 s);
            0 switches colour jitter off.
        color_jitter_prob: probability of applying colour jitter to a view.
        grayscale: probability of converting a view to grey.
        blur: probability of blurring a view; σ in [0.1, 2.0] * image_size / 224 (spijkervet's
            transform, and so Pfister's baseline, has no blur: set 0 to reproduce it).
        weight_decay: Adam's L2 penalty.
    """

    epochs: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=2)
    image_size: int = Field(224, ge=16)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    temperature: float = Field(0.5, gt=0)
    projection_dim: int = Field(64, ge=1)
    hidden_dim: int | None = Field(None, ge=1)
    projection_batch_norm: bool = True
    min_scale: float = Field(0.08, gt=0, le=1)
    color_jitter: float = Field(1.0, ge=0)
    color_jitter_prob: float = Field(0.8, ge=0, le=1)
    grayscale: float = Field(0.2, ge=0, le=1)
    blur: float = Field(0.5, ge=0, le=1)


def contrastive_accuracy(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """How often each of the 2B views is most similar (cosine) to its positive among the 2B - 1
    other views, i.e. NT-Xent's softmax picks the right candidate; chance is 1 / (2B - 1).

    Args:
        z0, z1: (B, D) projections of the two views of the same B images.
    """
    z = nn.functional.normalize(torch.cat([z0, z1]).float(), dim=1)  # (2B, D)
    similarity = z @ z.T  # (2B, 2B)
    similarity.fill_diagonal_(float("-inf"))
    b = len(z0)
    positive = torch.arange(2 * b, device=z.device).roll(b)  # view i pairs with view i +- B
    return (similarity.argmax(dim=1) == positive).float().mean()


class SimCLR(PretextTask):
    """Implements [Chen et al. 2020]: h = f(x̃) (the backbone's pooled features), z = g(h)
    (lightly's ``SimCLRProjectionHead``, Eq. 2 with batch norm), and the NT-Xent loss of Eq. 1
    averaged over all 2N positive pairs (Algorithm 1), via lightly's ``NTXentLoss``."""

    def __init__(self, backbone, settings: SimCLRSettings) -> None:
        super().__init__(backbone, settings)
        features = backbone.feature_info[-1].channels
        self.projection = SimCLRProjectionHead(features, settings.hidden_dim or features,
                                               settings.projection_dim,
                                               batch_norm=settings.projection_batch_norm)
        self.criterion = NTXentLoss(temperature=settings.temperature)

    def sample_transform(self):
        """Two independently augmented views of every image (lightly's ``SimCLRTransform``, no
        normalisation: the harness feeds [0, 1] images everywhere). The runner's collate turns
        them into ``batch["image"] = [view0 (B, 3, S, S), view1 (B, 3, S, S)]``."""
        s = self.settings
        blur_scale = s.image_size / BLUR_REFERENCE_SIZE
        return SimCLRTransform(
            input_size=s.image_size, cj_prob=s.color_jitter_prob if s.color_jitter > 0 else 0.0,
            cj_strength=s.color_jitter, min_scale=s.min_scale, random_gray_scale=s.grayscale,
            gaussian_blur=s.blur, sigmas=(0.1 * blur_scale, 2.0 * blur_scale), normalize=None)

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        view0, view1 = batch["image"]
        b = len(view0)
        # One pass over both views: batch-norm statistics over all 2B views, as in Chen et al.
        z = self.projection(self.backbone(torch.cat([view0, view1])))  # (2B, D)
        z0, z1 = z[:b].float(), z[b:].float()
        loss = self.criterion(z0, z1)
        return StepOutput(loss, {"acc": contrastive_accuracy(z0.detach(), z1.detach()),
                                 "chance": 1.0 / (2 * b - 1)}, n=b)

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        return Optimization(torch.optim.Adam(self.parameters(), lr=s.lr,
                                             weight_decay=s.weight_decay))

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {"contrastive_accuracy": val_logs["acc"], "chance": val_logs["chance"],
                "loss": val_logs["loss"]}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="simclr",
        summary="Contrastive: two augmented views per image, projection head, NT-Xent (lightly)",
        references=("Chen, Kornblith, Norouzi & Hinton, A Simple Framework for Contrastive "
                    "Learning of Visual Representations, ICML 2020, Eq. 1-2, Algorithm 1",
                    "Pfister, Kobs & Hotho, CVPRW 2021 (the SimCLR baseline; "
                    "github.com/spijkervet/SimCLR settings)"),
        version="1", defaults=SimCLRSettings, factory=SimCLR,
        profiles={"quick": {"epochs": 6, "batch_size": 32, "image_size": 64, "lr": 1e-3,
                            "max_images": 480, "min_scale": 0.25, "color_jitter": 0.5,
                            "blur": 0.0}})]
