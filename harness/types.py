"""The records plugins return from their hooks, and the small value types shared by the core.

A plugin never hands the harness a bare dict: each hook returns a list of one of the frozen
records below. The registry (:mod:`harness.registry`) validates them once at start-up.

Example, a third-party pretext::

    from pydantic import BaseModel
    from harness import hookimpl
    from harness.types import PretextSpec

    class JigsawSettings(BaseModel):
        epochs: int = 30
        lr: float = 0.01

    @hookimpl
    def harness_pretexts():
        return [PretextSpec(name="jigsaw", summary="Solve 3x3 jigsaw puzzles",
                            references=("Noroozi & Favaro, ECCV 2016",), version="0.1",
                            defaults=JigsawSettings, factory=JigsawPretext)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, create_model

if TYPE_CHECKING:  # annotations only: `harness publish` and `--help` need not import torch
    import torch

#: Plugin names: lower case, start with a letter, then letters, digits and underscores.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

PROFILES = ("quick", "paper")


class Settings(BaseModel):
    """Base class for a plugin's settings: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def settings_from_dict(name: str, defaults: Mapping[str, Any]) -> type[BaseModel]:
    """Build a settings model from a plain dict of defaults; each key's type is its default's."""
    fields = {key: (type(value) if value is not None else Any, value) for key, value in defaults.items()}
    return create_model(f"{name}_settings", __base__=Settings, **fields)


@dataclass(frozen=True)
class PluginSpec:
    """What every plugin record carries.

    Attributes:
        name: the name users type (``--pretext rotnet``); matches :data:`NAME_PATTERN`.
        summary: one line for ``harness plugins``.
        factory: builds the plugin object; its signature depends on the kind (see subclasses).
        references: citations, e.g. ``("Gidaris et al., ICLR 2018, Eq. 1",)``.
        version: the plugin's own version; it enters the checkpoint cache key.
        defaults: the pydantic model of this plugin's config section; its field defaults are the
            paper's settings. A plain dict is accepted and turned into a model.
        profiles: per-profile overrides of ``defaults``, e.g. ``{"quick": {"epochs": 2}}``.
    """

    kind: ClassVar[str] = "plugin"

    name: str
    summary: str
    factory: Callable[..., Any]
    references: tuple[str, ...] = ()
    version: str = "0"
    defaults: type[BaseModel] | Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.defaults, Mapping):
            object.__setattr__(self, "defaults", settings_from_dict(str(self.name), self.defaults))
        if isinstance(self.references, list):
            object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(
            self, "profiles", MappingProxyType({k: dict(v) for k, v in dict(self.profiles).items()})
        )

    def settings(self, profile: str | None = None, **overrides: Any) -> BaseModel:
        """The validated settings of this plugin for a profile, with overrides applied."""
        values = dict(self.profiles.get(profile, {})) if profile else {}
        values.update(overrides)
        return self.defaults(**values)


@dataclass(frozen=True)
class PretextSpec(PluginSpec):
    """A pretext task. ``factory(backbone, settings) -> harness.pretext.PretextTask``."""

    kind: ClassVar[str] = "pretext"


@dataclass(frozen=True)
class HeadSpec(PluginSpec):
    """A head. ``factory(backbone, settings, labels: LabelSpec) -> harness.head.Head``."""

    kind: ClassVar[str] = "head"


@dataclass(frozen=True)
class DatasetSpec(PluginSpec):
    """A dataset. ``factory(settings, purpose) -> harness.data.Dataset``.

    ``purpose`` is ``"labelled"`` (train/val/test with labels for a head) or ``"pretrain"``
    (images for a pretext task; labels are ignored, and a dataset may serve different images, as
    the synthetic dataset serves clean, highly aesthetic renders disjoint from its labelled set).

    ``synthetic_format``: the name ``harness make-synthetic --format`` writes in this dataset's
    on-disk layout, if any (lets ``harness plugins check`` test the loader offline).
    """

    kind: ClassVar[str] = "dataset"
    synthetic_format: str | None = None


@dataclass(frozen=True)
class BackboneSpec(PluginSpec):
    """A backbone network. ``factory(settings) -> harness.backbones.Backbone``."""

    kind: ClassVar[str] = "backbone"


SPEC_TYPES: dict[str, type[PluginSpec]] = {
    "pretext": PretextSpec,
    "head": HeadSpec,
    "dataset": DatasetSpec,
    "backbone": BackboneSpec,
}


@dataclass
class StepOutput:
    """What a training or validation step returns.

    Attributes:
        loss: scalar tensor to minimise.
        logs: named scalars averaged over the epoch (weighted by ``n``), e.g. ``{"acc": 0.7}``.
        n: how many samples the step saw (the weight of its logs).
    """

    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)
    n: int = 1


@dataclass
class Prediction:
    """A head's prediction for a batch: the score, and the distribution where it has one.

    Attributes:
        mean: (B,) predicted score on the dataset's scale.
        dist: (B, M) predicted score distribution, or None.
        binary: (B,) predicted binary label (0/1); None means ``mean > threshold``.
        blocks: alternative predictions of the same images by name, e.g. one per probed block
            of a linear-probe head; the runner reports test metrics for each under
            ``metrics.json["blocks"]``. None: no such breakdown.
    """

    mean: torch.Tensor
    dist: torch.Tensor | None = None
    binary: torch.Tensor | None = None
    blocks: dict[str, Prediction] | None = None
