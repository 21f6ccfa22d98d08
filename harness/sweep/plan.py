"""Expanding a sweep into cells, and what each cell's state is on disk.

A cell is one ``harness run`` configuration. Its key is its run directory's name,
:func:`harness.runner.default_out` (``<pretext>__<head>__<dataset>__<backbone>__seed<N>__<hash8>``,
the hash being the resolved configuration's): the same configuration always has the same key,
whatever the order of the axes or the other cells of the sweep, and two variants that ask for the
same configuration share one cell.

Cells are grouped for publishing: ``harness publish`` keys a leaderboard row by (pretext, head,
backbone) and a table by (dataset, label fraction), so cells that differ in anything else (a
variant's settings, a second evaluation dataset) go to separate leaderboards, one per group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cache import CheckpointCache, cache_key
from harness.config import PLUGIN_SECTIONS, RunConfig, merge, resolve
from harness.errors import ConfigError
from harness.registry import Registry
from harness.runner import default_out
from harness.sweep.checks import check_plugins
from harness.sweep.spec import DEFAULT_AXES, Axes, PluginSettings, SweepSpec

#: The group of a sweep without variants.
MAIN = "main"


@dataclass
class Cell:
    """One configuration of the sweep.

    Attributes:
        key: the run directory's name (stable: derived from the resolved configuration).
        raw: the raw ``harness run`` configuration (what ``--config`` would hold).
        config: ``raw`` resolved.
        cache_key: its pretraining checkpoint's key (:func:`harness.cache.cache_key`).
        trains: whether its pretext trains (False for initialisations such as ``random``).
        groups: the leaderboards it is published in.
        run_dir: its run directory.
    """

    key: str
    raw: dict[str, Any]
    config: RunConfig
    cache_key: str
    trains: bool
    groups: list[str]
    run_dir: Path

    @property
    def eval_name(self) -> str | None:
        return self.config.eval.name if self.config.eval is not None else None

    def describe(self) -> dict[str, Any]:
        """The cell's coordinates, for the status file and the tables."""
        c = self.config
        return {"pretext": c.pretext.name, "head": c.head.name, "dataset": c.dataset.name,
                "eval": self.eval_name, "backbone": c.backbone.name, "seed": c.seed,
                "label_fraction": getattr(c.head.settings, "label_fraction", 1.0),
                "groups": self.groups}

    def label(self) -> str:
        d = self.describe()
        data = d["dataset"] + (f"→{d['eval']}" if d["eval"] else "")
        fraction = f" {d['label_fraction']:.0%}" if d["label_fraction"] != 1 else ""
        return (f"{d['pretext']} × {d['head']} · {data} · {d['backbone']} · seed {d['seed']}"
                f"{fraction}")

    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").is_file()

    def cached(self) -> bool:
        return CheckpointCache(self.config.run.resolved_cache_dir()).is_complete(self.cache_key)


@dataclass
class Plan:
    """A sweep expanded: its cells in a stable order, and where it writes."""

    path: Path
    spec: SweepSpec
    name: str
    out: Path
    cells: list[Cell]
    warnings: list[str] = field(default_factory=list)

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(g for cell in self.cells for g in cell.groups))

    def states(self) -> dict[str, str]:
        """Each cell's state on disk: done (metrics.json), cached (its pretraining is in the
        cache) or pending."""
        return {c.key: "done" if c.finished() else "cached" if c.cached() else "pending"
                for c in self.cells}

    def pretraining_to_do(self, states: dict[str, str] | None = None) -> dict[str, list[Cell]]:
        """Cache key -> the unfinished cells that need it, for keys not in the cache yet."""
        states = states or self.states()
        todo: dict[str, list[Cell]] = {}
        for cell in self.cells:
            if states[cell.key] == "pending":
                todo.setdefault(cell.cache_key, []).append(cell)
        return todo


def expand(spec: SweepSpec, registry: Registry, path: Path, out: Path | None = None,
           overrides: dict[str, Any] | None = None) -> Plan:
    """Every cell of the sweep, resolved (so every plugin name and setting is validated).

    Args:
        spec: the sweep file's content.
        registry: the plugins.
        path: the sweep file (for messages and the default name).
        out: the sweep folder; default ``spec.out`` or ``sweeps/<name>``.
        overrides: a raw configuration merged over every cell's base (``--set``).

    Raises:
        ConfigError: a problem in the file, naming the file and the key or the cell.
    """
    warnings = check_plugins(spec, registry, path)
    name = spec.name or path.stem
    out = Path(out or spec.out or Path("sweeps") / name)
    scopes = [(None, spec.profile, spec.axes, spec.settings, spec.base)]
    if spec.variants:
        scopes = [(v.name, v.profile or spec.profile, v.axes.over(spec.axes),
                   v.settings.over(spec.settings), merge(spec.base, v.base))
                  for v in spec.variants]
    cells: dict[str, Cell] = {}
    for variant, profile, axes, settings, base in scopes:
        base = merge(base, overrides or {})
        for raw, group in _raws(variant, profile, axes, settings, base, path):
            try:
                config = resolve(registry, raw)
            except ConfigError as error:
                raise ConfigError(f"{path}: {_where(variant, raw)}: {error}") from None
            key = default_out(config, Path()).name
            if key in cells:
                if group not in cells[key].groups:
                    cells[key].groups.append(group)
                continue
            factory = config.pretext.spec.factory
            cells[key] = Cell(key=key, raw=raw, config=config, cache_key=cache_key(config),
                              trains=bool(getattr(factory, "trains", True)), groups=[group],
                              run_dir=out / "runs" / key)
    _check_groups(list(cells.values()), path)
    return Plan(path=path, spec=spec, name=name, out=out, cells=list(cells.values()),
                warnings=warnings)


def _raws(variant: str | None, profile: str | None, axes: Axes, settings: PluginSettings,
          base: dict[str, Any], path: Path):
    """(raw configuration, group) of every cell of one scope, in a stable order."""
    values = {k: v if v is not None else DEFAULT_AXES.get(k) for k, v in axes.__dict__.items()}
    where = f"variant {variant!r}" if variant else "the sweep"
    for required in ("pretexts", "heads"):
        if not values[required]:
            raise ConfigError(f"{path}: {where} has no {required}; list them in axes.{required}")
    tables = settings.model_dump()
    pretrain_name = ((base.get("pretrain") or {}).get("dataset") or PLUGIN_SECTIONS["pretrain"][2])
    evals = {d: [e for e in values["eval_datasets"] if e != d] or [None]
             for d in values["datasets"]}
    split_by_eval = any(len(e) > 1 for e in evals.values())
    for dataset in values["datasets"]:
        for eval_name, backbone, pretext, seed, fraction, head in itertools.product(
                evals[dataset], values["backbones"], values["pretexts"], values["seeds"],
                values["label_fractions"], values["heads"]):
            raw = dict(base)
            if profile:
                raw["profile"] = profile
            raw["seed"] = seed
            raw["pretext"] = {**_section(base, "pretext"), "name": pretext,
                              **tables["pretext"].get(pretext, {})}
            head_section = {**_section(base, "head"), "name": head, **tables["head"].get(head, {})}
            if fraction != 1.0:
                head_section["label_fraction"] = fraction
            raw["head"] = head_section
            raw["dataset"] = {**_section(base, "dataset"), "name": dataset,
                              **tables["dataset"].get(dataset, {})}
            raw["backbone"] = {**_section(base, "backbone"), "name": backbone,
                               **tables["backbone"].get(backbone, {})}
            raw["pretrain"] = {**tables["dataset"].get(pretrain_name, {}),
                               **_section(base, "pretrain"), "dataset": pretrain_name,
                               **tables["pretrain"].get(pretrain_name, {})}
            if eval_name is not None:
                raw["eval"] = {**_section(base, "eval"), "dataset": eval_name,
                               **tables["dataset"].get(eval_name, {}),
                               **tables["eval"].get(eval_name, {})}
            parts = [variant or MAIN] + ([f"eval_{eval_name or 'none'}"] if split_by_eval else [])
            yield raw, "/".join(parts)


def _section(base: dict[str, Any], name: str) -> dict[str, Any]:
    value = base.get(name)
    return dict(value) if isinstance(value, dict) else {}


def _where(variant: str | None, raw: dict[str, Any]) -> str:
    eval_name = (raw.get("eval") or {}).get("dataset")
    return (f"{'variant ' + repr(variant) + ', ' if variant else ''}cell "
            f"{raw['pretext']['name']} × {raw['head']['name']} on {raw['dataset']['name']}"
            f"{' → ' + eval_name if eval_name else ''} ({raw['backbone']['name']}, "
            f"seed {raw['seed']})")


def _check_groups(cells: list[Cell], path: Path) -> None:
    """Two cells of one group must differ in what a leaderboard tells apart."""
    seen: dict[tuple, Cell] = {}
    for cell in cells:
        d = cell.describe()
        for group in cell.groups:
            ident = (group, d["dataset"], d["label_fraction"], d["pretext"], d["head"],
                     d["backbone"], d["seed"], d["eval"])
            other = seen.setdefault(ident, cell)
            if other is not cell:
                raise ConfigError(
                    f"{path}: cells {other.key} and {cell.key} differ only in settings that no "
                    f"leaderboard column shows; put them in separate [[variants]]")
