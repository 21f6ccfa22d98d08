"""Jigsaw 2x2: cut an image into 4 tiles, shuffle them with one of the 24 permutations, and
predict which permutation was applied. A small variant of Noroozi & Favaro (ECCV 2016), who
use 3x3 puzzles, a subset of 1,000 permutations and a siamese per-tile network."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness import hookimpl
from harness.pretext import PretextSettings, PretextTask, images_of
from harness.training import Optimization, StepContext
from harness.types import PretextSpec, StepOutput

#: All orderings of the 4 tiles; the class of a puzzle is its index here.
PERMUTATIONS = torch.tensor(list(itertools.permutations(range(4))))  # (24, 4)


class JigsawSettings(PretextSettings):
    """Adam with the given learning rate; the tiles are the 4 quadrants of the letterboxed image."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = 1e-4


def shuffle_tiles(images: torch.Tensor, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle the 2x2 tiles of each image with a random permutation.

    Args:
        images: (B, 3, S, S) with S even.
        generator: the step's random generator (the only randomness a step may use).
    Returns:
        (B, 3, S, S) shuffled images and (B,) permutation classes in [0, 24).
    """
    b, c, s, _ = images.shape
    h = s // 2
    tiles = images.reshape(b, c, 2, h, 2, h).permute(0, 2, 4, 1, 3, 5).reshape(b, 4, c, h, h)
    labels = torch.randint(0, len(PERMUTATIONS), (b,), generator=generator,
                           device=generator.device).to(images.device)
    order = PERMUTATIONS.to(images.device)[labels]  # (B, 4): tile placed at each position
    shuffled = tiles[torch.arange(b, device=images.device)[:, None], order]  # (B, 4, C, h, h)
    out = shuffled.reshape(b, 2, 2, c, h, h).permute(0, 3, 1, 4, 2, 5).reshape(b, c, s, s)
    return out, labels


class Jigsaw(PretextTask):
    """Implements a 2x2 jigsaw task: 24-way cross-entropy on the permutation applied."""

    def __init__(self, backbone, settings: JigsawSettings) -> None:
        super().__init__(backbone, settings)
        self.classifier = nn.Linear(backbone.num_features, len(PERMUTATIONS))

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        shuffled, labels = shuffle_tiles(images_of(batch), ctx.generator)
        logits = self.classifier(self.backbone(shuffled))  # (B, 24)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        return StepOutput(loss, {"acc": acc}, n=len(labels))

    def configure_optimizers(self) -> Optimization:
        s = self.settings
        return Optimization(torch.optim.Adam(self.parameters(), lr=s.lr,
                                             weight_decay=s.weight_decay))

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        return {"permutation_accuracy": val_logs["acc"], "chance": 1 / len(PERMUTATIONS)}


@hookimpl
def harness_pretexts():
    return [PretextSpec(
        name="jigsaw", summary="Predict which of the 24 shuffles of 2x2 tiles was applied",
        references=("Noroozi & Favaro, Unsupervised Learning of Visual Representations by "
                    "Solving Jigsaw Puzzles, ECCV 2016 (a 2x2 variant)",),
        version="0.1.0", defaults=JigsawSettings, factory=Jigsaw,
        profiles={"quick": {"epochs": 3, "batch_size": 32, "image_size": 64,
                            "max_images": 480}})]
