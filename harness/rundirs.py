"""Reading finished run directories (the format written by :mod:`harness.runner`) for publishing.

A run directory is any folder below the ``--runs`` root holding a ``config.json``. It is usable
when it also holds ``metrics.json`` (written last: the run finished) and ``predictions.csv``;
otherwise it is listed as skipped with the reason. Nothing here computes a metric: the
leaderboard recomputes every number from the predictions with :mod:`harness.metrics`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import DataError

#: Entry of a leaderboard row: one (pretext, head, backbone) configuration.
EntryKey = tuple[str, str, str]


@dataclass(frozen=True)
class Run:
    """One finished run, as the leaderboard needs it.

    Attributes:
        path: the run directory.
        name: its path relative to the ``--runs`` root, with ``/`` (what messages and the
            markdown show; never an absolute path).
        dataset: the labelled dataset the head was trained and tested on.
        pretext, head, backbone: the plugin names (the row key).
        seed: the run seed.
        label_fraction: ``head.label_fraction`` (1.0 when the head has no such setting).
        label_kinds: the dataset's label kinds (``metrics.json`` ``labels.kinds``).
        epochs: fine-tuning epochs run.
        budget: the pretraining budget (``images_seen``, ``wall_seconds``, ...).
        train_label_stats: the head's training-label statistics for the constant baseline
            (:func:`harness.runner.train_label_stats`), or None for runs written before it existed.
        blocks: per-block metrics of probe heads (``metrics.json`` ``blocks``), or None.
        cross: evaluation dataset -> its ``metrics.json`` ``cross`` entry.
    """

    path: Path
    name: str
    dataset: str
    pretext: str
    head: str
    backbone: str
    seed: int
    label_fraction: float
    label_kinds: frozenset[str]
    epochs: int | None
    budget: dict[str, Any]
    train_label_stats: dict[str, Any] | None
    blocks: dict[str, dict[str, Any]] | None
    cross: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> EntryKey:
        return (self.pretext, self.head, self.backbone)

    def predictions(self, eval_dataset: str | None = None) -> pd.DataFrame:
        """``predictions.csv`` (or ``predictions_<eval_dataset>.csv``), image ids as strings.

        Raises:
            DataError: the file is missing, lacks ``image_id``/``pred_mean`` or repeats an id.
        """
        path = self.path / ("predictions.csv" if eval_dataset is None
                            else f"predictions_{eval_dataset}.csv")
        if not path.is_file():
            raise DataError(f"{path}: missing; re-run this configuration to write it")
        frame = pd.read_csv(path, dtype={"image_id": str})
        for column in ("image_id", "pred_mean"):
            if column not in frame:
                raise DataError(f"{path}: no {column!r} column; is this a harness predictions "
                                "file?")
        duplicated = frame["image_id"][frame["image_id"].duplicated()]
        if len(duplicated):
            raise DataError(f"{path}: image_id {duplicated.iloc[0]!r} appears more than once")
        return frame


@dataclass(frozen=True)
class Skipped:
    """A run directory that cannot be published, and why (one line)."""

    name: str
    dataset: str | None
    reason: str


def _read(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: unreadable JSON ({error})") from error
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a JSON object")
    return content


def _name(config: dict[str, Any], section: str, path: Path) -> str:
    value = (config.get(section) or {}).get("name")
    if not isinstance(value, str):
        raise DataError(f"{path}: no {section}.name; is this a harness config.json?")
    return value


def read_run(path: Path, root: Path) -> Run | Skipped:
    """The run in ``path`` (a folder with ``config.json``), or why it is skipped."""
    name = path.relative_to(root).as_posix() or "."
    config = _read(path / "config.json")
    dataset = (config.get("dataset") or {}).get("name")
    if not (path / "metrics.json").is_file():
        return Skipped(name, dataset, "unfinished (no metrics.json)")
    if not (path / "predictions.csv").is_file():
        return Skipped(name, dataset, "no predictions.csv")
    metrics = _read(path / "metrics.json")
    head = config.get("head") or {}
    budget = metrics.get("pretext_budget")
    if budget is None and (path / "pretext.json").is_file():
        budget = _read(path / "pretext.json").get("budget")
    kinds = (metrics.get("labels") or {}).get("kinds")
    if not isinstance(kinds, list):
        raise DataError(f"{path / 'metrics.json'}: no labels.kinds")
    seed = config.get("seed")
    if not isinstance(seed, int):
        raise DataError(f"{path / 'config.json'}: no integer seed")
    return Run(path=path, name=name, dataset=str(metrics.get("dataset") or dataset),
               pretext=_name(config, "pretext", path / "config.json"),
               head=_name(config, "head", path / "config.json"),
               backbone=_name(config, "backbone", path / "config.json"), seed=seed,
               label_fraction=float(head.get("label_fraction", 1.0)),
               label_kinds=frozenset(kinds), epochs=metrics.get("epochs"),
               budget=dict(budget or {}), train_label_stats=metrics.get("train_label_stats"),
               blocks=metrics.get("blocks") or None, cross=dict(metrics.get("cross") or {}))


def scan(root: Path) -> tuple[list[Run], list[Skipped]]:
    """Every run directory below ``root`` (sorted by relative path, so output is deterministic).

    Raises:
        DataError: ``root`` does not exist, or two runs share (dataset, label fraction, pretext,
            head, backbone, seed) — publish them from separate folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--runs {root}: no such folder")
    runs: list[Run] = []
    skipped: list[Skipped] = []
    for config in sorted(root.rglob("config.json"), key=lambda p: p.parent.as_posix()):
        result = read_run(config.parent, root)
        (runs if isinstance(result, Run) else skipped).append(result)
    seen: dict[tuple, str] = {}
    for run in runs:
        ident = (run.dataset, run.label_fraction, *run.key, run.seed)
        if ident in seen:
            raise DataError(f"runs {seen[ident]} and {run.name} are both "
                            f"{'/'.join(run.key)} seed {run.seed} on {run.dataset}; publish "
                            f"differing configurations from separate --runs folders")
        seen[ident] = run.name
    return runs, skipped
