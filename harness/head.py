"""The base class of heads: how a (pre)trained backbone is adapted to labels and predicts scores."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from PIL import Image
from pydantic import Field
from torch import nn

from harness.backbones import Backbone
from harness.data.images import to_tensor
from harness.data.records import LabelSpec
from harness.training import Optimization, StepContext
from harness.types import Prediction, Settings, StepOutput


class HeadSettings(Settings):
    """Settings most heads share (subclass to add your own).

    Attributes:
        epochs: maximum training epochs (the epoch with the lowest validation loss is kept).
        batch_size: images per batch.
        image_size: input side length.
        label_fraction: train on a seeded, stratified fraction of the training labels
            (Pfister et al. 2021 Fig. 3; Sheng et al. 2020 Fig. 5-6).
        patience: early stopping after this many epochs without validation improvement.
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    image_size: int = Field(224, ge=16)
    label_fraction: float = Field(1.0, gt=0, le=1)
    patience: int | None = Field(None, ge=1)


class Head(nn.Module, metaclass=abc.ABCMeta):
    """Base class. A batch is a dict with ``image`` (B, 3, H, W) and the labels the dataset has:
    ``dist`` (B, M), ``score`` (B,), ``binary`` (B,), plus ``index`` (B,) into the records.

    Attributes:
        requires: label kinds the head cannot train without, e.g. ``{"distribution"}``; a
            dataset lacking one is a one-line error before anything runs (unless the head converts,
            see :meth:`accepts`).
    """

    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, backbone: Backbone, settings: Any, labels: LabelSpec) -> None:
        super().__init__()
        self.backbone = backbone
        self.settings = settings
        self.labels = labels

    @classmethod
    def accepts(cls, labels: LabelSpec) -> str | None:
        """None if the head can train on these labels, else the reason (one line)."""
        missing = sorted(cls.requires - labels.kinds)
        return f"needs {', '.join(missing)} labels" if missing else None

    def sample_transform(self, train: bool) -> Callable[[Image.Image], torch.Tensor]:
        """Per-image transform; default: resize to image_size x image_size (+ flip when training)."""
        size = self.settings.image_size

        def transform(image: Image.Image) -> torch.Tensor:
            image = image.resize((size, size), Image.BILINEAR)
            if train and torch.rand(()) < 0.5:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
            return to_tensor(image)

        return transform

    def forward(self, batch: dict, ctx: StepContext) -> StepOutput:
        return self.training_step(batch, ctx)

    @abc.abstractmethod
    def training_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        """The loss of one labelled batch."""

    def validation_step(self, batch: dict, ctx: StepContext) -> StepOutput:
        return self.training_step(batch, ctx)

    @abc.abstractmethod
    def predict(self, images: torch.Tensor) -> Prediction:
        """Scores (and distributions where the head has them) for a batch of images."""

    @abc.abstractmethod
    def configure_optimizers(self) -> Optimization:
        """The optimizer (and scheduler) over the backbone and the head's layers."""

    def load_pretext(self, checkpoint: dict[str, Any]) -> None:
        """Called once by the runner right after the head is built (its backbone already holds the
        pretext's weights) with the whole pretext checkpoint: ``backbone`` and ``pretext`` (the
        task's full state dict, e.g. a decoder's ``decoder.*``), ``pretext_name``, ``arch`` and
        ``config``. A head that continues a pretext's own layers loads them here. Default: nothing."""

    def finalize(self, val_logs: dict[str, float]) -> dict[str, Any]:
        """Called after training with the selected epoch's validation logs; returns extra results
        for ``metrics.json`` (e.g. the linear probes' per-block table). Default: nothing."""
        return {}
