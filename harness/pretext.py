"""The base class of pretext tasks: a backbone, the task's own layers, its loss and its batches."""

from __future__ import annotations

import abc

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from PIL import Image
from pydantic import Field
from torch import nn

from harness.backbones import Backbone
from harness.data.images import letterbox, to_tensor
from harness.training import Optimization, StepContext
from harness.types import Settings, StepOutput


class PretextSettings(Settings):
    """Settings most pretext tasks share (subclass to add your own).

    Attributes:
        epochs: pretraining epochs (the epoch with the lowest validation loss is kept).
        batch_size: base images per batch.
        image_size: input side length after letterboxing.
        lr: learning rate.
        max_images: use at most this many pretraining images (None: all of the train split).
    """

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    image_size: int = Field(224, ge=16)
    lr: float = Field(1e-3, gt=0)
    max_images: int | None = Field(None, ge=1)


class PretextTask(nn.Module, metaclass=abc.ABCMeta):
    """Base class. Subclasses implement :meth:`training_step` and :meth:`configure_optimizers`.

    The runner feeds batches of base images from the pretraining dataset, transformed per image by
    :meth:`sample_transform` (in data-loader workers); anything the task derives from them (rotated
    copies, distorted variants, crops) is made on the device inside the step, from ``ctx.generator``.

    Attributes:
        trains: True; initialisations without a training stage subclass :class:`Initialization`.
        backbone: the network whose weights the heads later start from.
    """

    trains: ClassVar[bool] = True

    def __init__(self, backbone: Backbone, settings: Any) -> None:
        super().__init__()
        self.backbone = backbone
        self.settings = settings

    def sample_transform(self) -> Callable[[Image.Image], Any]:
        """Per-image transform: letterbox to ``settings.image_size`` (Pfister et al. 2021, §4.1)."""
        size = self.settings.image_size
        return lambda image: to_tensor(letterbox(image, size))

    def forward(self, batch: Any, ctx: StepContext) -> StepOutput:
        return self.training_step(batch, ctx)

    @abc.abstractmethod
    def training_step(self, batch: Any, ctx: StepContext) -> StepOutput:
        """The loss of one batch (and logs such as the task's accuracy)."""

    def validation_step(self, batch: Any, ctx: StepContext) -> StepOutput:
        """Defaults to the training loss and logs (the runner calls it without gradients)."""
        return self.training_step(batch, ctx)

    def prepare(self, batches: Iterable[Any]) -> None:
        """Called once by the runner before training (again when a run resumes) with the training
        split's batches in a fixed order (epoch 0's); task and batches are on the device. A task
        that estimates statistics of its pretraining images (e.g. a class prior) reads as many
        batches as it needs and keeps the result in buffers, so it is checkpointed. Default:
        nothing."""

    @abc.abstractmethod
    def configure_optimizers(self) -> Optimization:
        """The optimizer (and scheduler) of the task's parameters."""

    def pretext_metrics(self, val_logs: dict[str, float]) -> dict[str, float]:
        """The task's own validation metrics for ``pretext.json`` (default: the validation logs)."""
        return dict(val_logs)


class Initialization(nn.Module):
    """A pretext without a training stage: it only sets the backbone's weights (``random``,
    ``imagenet``). The runner calls :meth:`initialize` and caches the result like any pretext."""

    trains: ClassVar[bool] = False

    def __init__(self, backbone: Backbone, settings: Any) -> None:
        super().__init__()
        self.backbone = backbone
        self.settings = settings

    def initialize(self) -> dict[str, Any]:
        """Set the backbone's weights; return facts for ``pretext.json`` (e.g. the weights file)."""
        return {}


def images_of(batch: Any) -> torch.Tensor:
    """The image tensor of a default batch (a dict with ``image``)."""
    return batch["image"] if isinstance(batch, dict) else batch
