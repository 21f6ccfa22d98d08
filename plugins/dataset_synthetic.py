"""The built-in ``synthetic`` dataset: runs every command offline, with planted aesthetic structure."""

from __future__ import annotations

from pydantic import Field, field_validator

from harness import hookimpl
from harness.synthetic.dataset import SyntheticDataset
from harness.types import DatasetSpec, Settings


class SyntheticSettings(Settings):
    """Attributes:
        n_images: labelled images (train/val/test together), or pretraining images.
        seed: the dataset seed (fixed across run seeds, so every run sees the same test set).
        min_side, max_side: the long side of each image lies between these (pixels).
        fractions: train, val, test fractions.
    """

    n_images: int = Field(3000, ge=10)
    seed: int = Field(0, ge=0)
    min_side: int = Field(192, ge=32)
    max_side: int = Field(384, ge=32)
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)

    @field_validator("fractions")
    @classmethod
    def _sum_to_one(cls, value):
        if abs(sum(value) - 1) > 1e-6 or min(value) <= 0:
            raise ValueError("train, val and test fractions must be positive and sum to 1")
        return value


def load(settings: SyntheticSettings, purpose: str) -> SyntheticDataset:
    return SyntheticDataset(n_images=settings.n_images, seed=settings.seed,
                            min_side=settings.min_side, max_side=max(settings.min_side,
                                                                     settings.max_side),
                            fractions=settings.fractions, purpose=purpose)


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="synthetic", summary="Procedural photo-like images with latent quality and AVA-like "
                                  "votes (offline, deterministic)",
        references=("built in; labels mimic AVA, Murray et al., CVPR 2012",), version="1",
        defaults=SyntheticSettings, factory=load,
        profiles={"quick": {"n_images": 800, "min_side": 80, "max_side": 128}})]
