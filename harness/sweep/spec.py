"""The sweep configuration file: its schema (pydantic), reading it, and one-line errors.

A sweep file is data only (TOML)::

    name = "quick"                       # default: the file's stem
    profile = "quick"                    # optional; as `harness run --profile`
    [axes]                               # the cross product
    pretexts = ["random", "rotnet"]
    heads = ["nima", "gaussian_mv"]
    datasets = ["synthetic"]             # train (labelled) datasets
    eval_datasets = []                   # cross-dataset evaluation (eval.dataset)
    backbones = ["mobilenet_v2"]
    seeds = [0]
    label_fractions = [1.0]              # -> head.label_fraction
    [settings.pretext.rotnet]            # reaches only the cells whose pretext is rotnet
    epochs = 4
    [base.run]                           # a `harness run` configuration shared by every cell
    num_workers = 2
    [[variants]]                         # optional named sub-sweeps (ablations, figures)
    name = "fig3"
    axes.label_fractions = [0.2, 0.4]
    [publish]                            # `harness publish` at the end
    baseline = "random"
    [launcher.slurm]                     # --launcher slurm
    partition = "gpu"

The complete reference is docs/sweeps.md.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.config import PLUGIN_SECTIONS, suggest
from harness.errors import ConfigError, UsageError
from harness.types import NAME_PATTERN

PluginName = Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
#: Sweep and variant names become folder names.
FolderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Fraction = Annotated[float, Field(gt=0, le=1)]
#: The keys of ``base`` that an axis decides instead.
AXIS_OF = {("pretext", "name"): "pretexts", ("head", "name"): "heads",
           ("dataset", "name"): "datasets", ("backbone", "name"): "backbones",
           ("eval", "dataset"): "eval_datasets", ("seed",): "seeds",
           ("head", "label_fraction"): "label_fractions"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Axes(Strict):
    """The axes of the cross product; ``None`` means "the default" (or, in a variant, "as the
    sweep's top level")."""

    pretexts: list[PluginName] | None = None
    heads: list[PluginName] | None = None
    datasets: list[PluginName] | None = None
    eval_datasets: list[PluginName] | None = None
    backbones: list[PluginName] | None = None
    seeds: list[Annotated[int, Field(ge=0)]] | None = None
    label_fractions: list[Fraction] | None = None

    @field_validator("*")
    @classmethod
    def _distinct(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("lists a value twice")
        return value

    def over(self, parent: Axes) -> Axes:
        """These axes, with the unset ones taken from ``parent``."""
        return Axes(**{k: v if v is not None else getattr(parent, k)
                       for k, v in self.__dict__.items()})


#: What the axes are when neither the sweep nor a variant sets them.
DEFAULT_AXES = {"datasets": [PLUGIN_SECTIONS["dataset"][2]], "eval_datasets": [],
                "backbones": [PLUGIN_SECTIONS["backbone"][2]], "seeds": [0],
                "label_fractions": [1.0]}


class PluginSettings(Strict):
    """Per-plugin settings: ``[settings.<section>.<plugin>]`` applies to a cell's section only
    when that section selects the plugin. ``dataset`` tables apply wherever the dataset is used
    (train, pretraining and evaluation); ``pretrain`` and ``eval`` tables only there."""

    pretext: dict[PluginName, dict[str, Any]] = {}
    head: dict[PluginName, dict[str, Any]] = {}
    dataset: dict[PluginName, dict[str, Any]] = {}
    backbone: dict[PluginName, dict[str, Any]] = {}
    pretrain: dict[PluginName, dict[str, Any]] = {}
    eval: dict[PluginName, dict[str, Any]] = {}

    def over(self, parent: PluginSettings) -> PluginSettings:
        from harness.config import merge

        return PluginSettings(**merge(parent.model_dump(), self.model_dump()))


class Variant(Strict):
    """A named sub-sweep: its own axes, settings and base on top of the sweep's."""

    name: FolderName
    description: str = ""
    profile: Literal["quick", "paper"] | None = None
    axes: Axes = Axes()
    settings: PluginSettings = PluginSettings()
    base: dict[str, Any] = {}


class PublishSpec(Strict):
    """``harness publish`` at the end of the sweep (see ``harness publish --help``)."""

    enabled: bool = True
    out: str | None = None
    baseline: PluginName = "imagenet"
    alpha: float = Field(0.01, gt=0, lt=1)
    correction: Literal["holm", "bonferroni"] = "holm"
    decide: Literal["auto", "wilcoxon", "srcc", "plcc", "acc", "mae"] = "auto"
    resamples: int = Field(10_000, ge=100)
    bootstrap_seed: int = 0
    plots: bool = True


class SlurmSpec(Strict):
    """Slurm parameters of each cell's job (``--launcher slurm``)."""

    partition: str | None = None
    time: int | str = Field(240, description="minutes, or [D-]HH:MM[:SS]")
    gpus_per_node: int = Field(1, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    array_parallelism: int | None = Field(None, ge=1)
    max_requeues: int = Field(3, ge=0)
    setup: list[str] = []
    additional: dict[str, str | int | bool] = {}

    @field_validator("time")
    @classmethod
    def _time(cls, value):
        minutes(value)
        return value

    @property
    def timeout_min(self) -> int:
        return minutes(self.time)


class LauncherSpec(Strict):
    slurm: SlurmSpec = SlurmSpec()


class SweepSpec(Strict):
    """The whole file."""

    name: FolderName | None = None
    description: str = ""
    out: str | None = None
    profile: Literal["quick", "paper"] | None = None
    axes: Axes = Axes()
    settings: PluginSettings = PluginSettings()
    base: dict[str, Any] = {}
    variants: list[Variant] = []

    publish: PublishSpec = PublishSpec()
    launcher: LauncherSpec = LauncherSpec()

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, value):
        names = [v.name for v in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two variants are named {name!r}")
        return value


def minutes(value: int | str) -> int:
    """Slurm time: minutes as an int, or ``[D-]HH:MM[:SS]``."""
    if isinstance(value, int):
        if value < 1:
            raise ValueError("must be at least 1 minute")
        return value
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d\d)(?::(\d\d))?", value.strip())
    if not match:
        raise ValueError(f"{value!r} is not minutes or [D-]HH:MM[:SS]")
    days, hours, mins, secs = (int(g or 0) for g in match.groups())
    return max(1, days * 1440 + hours * 60 + mins + (secs > 0))


def read_spec(path: Path) -> SweepSpec:
    """Read and validate a sweep file; every problem is one :class:`ConfigError` line."""
    if not path.is_file():
        raise UsageError(f"{path}: no such sweep configuration file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    try:
        return SweepSpec(**raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {explain(error)}") from None


def explain(error: ValidationError) -> str:
    """The first problem of a validation error, as one line with a did-you-mean."""
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = dotted(first["loc"])
    if first["type"] == "extra_forbidden":
        allowed = fields_at(SweepSpec, first["loc"][:-1])
        return (f"unknown key {where}; {suggest(loc[-1], allowed)}"
                f"{dotted(first['loc'][:-1]) or 'the top level'} accepts: {', '.join(allowed)}")
    message = first["msg"][0].lower() + first["msg"][1:]
    return f"{where}: {message}, got {first.get('input')!r}"


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``model``."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
