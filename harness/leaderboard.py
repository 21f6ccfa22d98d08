"""Leaderboard tables from run directories: one table per (dataset, label fraction) and per
(train dataset, evaluation dataset, label fraction) for cross-dataset results.

A table's rows are entries — (pretext, head, backbone) with one run per seed — plus the trivial
``constant`` predictor. Every metric is recomputed with :mod:`harness.metrics` on the test images
common to every run of the table (matched by ``image_id``), so all rows and all paired tests use
the same images; the tests are :mod:`harness.comparisons`. Rendering is
:mod:`harness.leaderboard_render`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness import comparisons as cmp
from harness import stats
from harness.constant_predictor import CORRELATIONS, constant_frames
from harness.errors import DataError
from harness.metrics import METRICS, compute
from harness.rundirs import EntryKey, Run

#: Decimals shown in the tables; "best" compares values rounded to these.
DIGITS = 3
CONSTANT: EntryKey = ("constant", "", "")
#: The metrics a cross-dataset table reports (scales differ across datasets).
CROSS_METRICS = ("srcc", "plcc")


@dataclass(frozen=True)
class Section:
    """What one table covers: the test set of ``dataset`` (or, for a cross-dataset table, of
    ``eval_dataset`` with heads trained on ``dataset``), heads trained on ``label_fraction``."""

    dataset: str
    label_fraction: float
    eval_dataset: str | None = None

    @property
    def stem(self) -> str:
        """The leaderboard file name without suffix: ``<dataset>`` or ``<train>_to_<eval>``."""
        if self.eval_dataset is None:
            return self.dataset
        return f"{self.dataset}_to_{self.eval_dataset}"


@dataclass(frozen=True)
class Options:
    """How ``harness publish`` tests: baseline pretext, decision, correction, α, bootstrap."""

    baseline: str = "imagenet"
    decide: str = "auto"
    correction: str = "holm"
    alpha: float = 0.01
    n_resamples: int = 10_000
    bootstrap_seed: int = 0


@dataclass
class Row:
    """One entry of a table: its runs (by seed) and per-seed metric values."""

    key: EntryKey
    role: str  # "entry", "baseline", "constant" or "oracle constant"
    seeds: list[int]
    runs: list[Run]
    values: dict[str, np.ndarray]

    def budget(self, key: str) -> float:
        """Mean over the runs of a pretraining budget entry (``images_seen``, ``wall_seconds``);
        NaN if a run lacks it (and for the constant row)."""
        values = [r.budget.get(key) for r in self.runs]
        return float(np.mean(values)) if values and None not in values else math.nan

    def mean_std(self, metric: str) -> tuple[float, float]:
        values = self.values.get(metric)
        if values is None or not np.all(np.isfinite(values)):
            return math.nan, math.nan
        return stats.mean_std(values)


@dataclass
class Table:
    section: Section
    options: Options
    decision: cmp.Decision
    metrics: list[str]
    rows: list[Row]
    n_images: int
    missing: dict[str, int]  # run name -> how many of the table's images it lacks
    tests: list[cmp.Test] = field(default_factory=list)
    seed_tests: list[cmp.Test] = field(default_factory=list)
    marked: set[EntryKey] = field(default_factory=set)
    tiers: dict[EntryKey, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def best(self, metric: str) -> set[EntryKey]:
        """Rows whose mean, rounded to :data:`DIGITS`, is the best of the column."""
        sign = 1 if METRICS[metric].higher_is_better else -1
        means = {r.key: round(r.mean_std(metric)[0], DIGITS) for r in self.rows}
        finite = {k: v for k, v in means.items() if math.isfinite(v)}
        top = max((sign * v for v in finite.values()), default=None)
        return {k for k, v in finite.items() if sign * v == top}

    @property
    def seed_marked(self) -> set[EntryKey]:
        return {t.entry for t in self.seed_tests if t.significant}


def sections(runs: list[Run]) -> list[Section]:
    """Every table the runs fill: per dataset and label fraction (largest first), then the
    cross-dataset ones."""
    main = {Section(r.dataset, r.label_fraction) for r in runs}
    cross = {Section(r.dataset, r.label_fraction, e) for r in runs for e in r.cross}
    def order(s: Section) -> tuple:
        return (s.dataset, s.eval_dataset or "", -s.label_fraction)

    return sorted(main, key=order) + sorted(cross, key=order)


def _frames(section: Section, runs: list[Run], notes: list[str]) -> list[tuple[Run, pd.DataFrame]]:
    out = []
    for run in runs:
        try:
            out.append((run, run.predictions(section.eval_dataset).set_index("image_id")))
        except DataError as error:
            if section.eval_dataset is None:
                raise
            notes.append(f"Left out `{run.name}`: {error}".replace(str(run.path), run.name))
    return out


def _has(frame: pd.DataFrame, column: str) -> bool:
    """The run predicts (or the dataset labels) this column: present and not entirely empty."""
    return column in frame and bool(frame[column].notna().any())


def _usable(frame: pd.DataFrame, kinds: frozenset[str]) -> pd.Index:
    """Image ids with finite predictions in every prediction column the run has (a
    classification probe has no ``pred_mean``), and finite score targets where it has scores."""
    keep = np.ones(len(frame), dtype=bool)
    for column in ("pred_mean", "pred_binary"):
        if _has(frame, column):
            keep &= np.isfinite(frame[column].to_numpy(float))
    if "score" in kinds and _has(frame, "pred_mean") and "target_mean" in frame:
        keep &= np.isfinite(frame["target_mean"].to_numpy(float))
    return frame.index[keep]


def _predictions(frames: list[pd.DataFrame], kinds: frozenset[str], metrics: list[str],
                 constant: bool = False) -> cmp.Predictions:
    with warnings.catch_warnings():  # correlations of the constant predictor: said under the table
        warnings.simplefilter("ignore")
        values = [compute(f, kinds) for f in frames]
    if constant:
        values = [{k: v for k, v in value.items() if k not in CORRELATIONS} for value in values]
    score = (np.stack([f["pred_mean"].to_numpy(float) for f in frames])  # (seeds, n)
             if "score" in kinds and all(_has(f, "pred_mean") for f in frames) else None)
    binary = (np.stack([f["pred_binary"].to_numpy() > 0.5 for f in frames])  # (seeds, n)
              if "binary" in kinds and all("pred_binary" in f for f in frames) else None)
    return cmp.Predictions(score, binary, {m: np.array([v.get(m, math.nan) for v in values])
                                           for m in metrics})


def build(section: Section, runs: list[Run], options: Options) -> Table | None:
    """The table of ``section`` from its runs (None if no run has usable predictions)."""
    notes: list[str] = []
    cross = section.eval_dataset is not None
    frames = _frames(section, runs, notes)
    if not frames:
        return None
    kinds = frozenset({"score"}) if cross else frames[0][0].label_kinds
    for run, _ in frames:
        if not cross and run.label_kinds != kinds:
            raise DataError(f"runs {frames[0][0].name} and {run.name} disagree on the label kinds "
                            f"of {section.dataset!r}; were they made with different versions?")
    usable = {run.name: _usable(frame, kinds) for run, frame in frames}
    union = sorted(set().union(*usable.values()))
    common = sorted(set.intersection(*(set(ids) for ids in usable.values())))
    if len(common) < 3:
        raise DataError(f"{section.stem}: only {len(common)} test images are common to all runs; "
                        f"were they made on different test sets?")
    missing = {name: len(union) - len(ids) for name, ids in usable.items() if len(ids) < len(union)}
    reference = frames[0][1].loc[common]
    for run, frame in frames[1:]:
        for column in ("target_mean", "target_binary"):
            if column in reference and not np.allclose(frame.loc[common, column], reference[column],
                                                       equal_nan=True):
                raise DataError(f"runs {frames[0][0].name} and {run.name} have different "
                                f"{column} for the same image_id; they used different labels")
    candidates = [m for m in METRICS if not cross or m in CROSS_METRICS]
    by_key: dict[EntryKey, list[tuple[Run, pd.DataFrame]]] = {}
    for run, frame in sorted(frames, key=lambda rf: (rf[0].key, rf[0].seed)):
        by_key.setdefault(run.key, []).append((run, frame.loc[common].reset_index()))
    preds = {key: _predictions([f for _, f in pairs], kinds, candidates)
             for key, pairs in by_key.items()}
    rows = [Row(key, "baseline" if key[0] == options.baseline else "entry",
                [r.seed for r, _ in pairs], [r for r, _ in pairs], preds[key].values)
            for key, pairs in by_key.items()]
    if not cross:
        role, const = constant_frames([r for r, _ in frames], reference)
        preds[CONSTANT] = _predictions(const, kinds, candidates, constant=True)
        rows.append(Row(CONSTANT, role, [], [], preds[CONSTANT].values))
    metrics = [m for m in candidates if any(np.isfinite(p.values[m]).any() for p in preds.values())]
    targets = cmp.Targets(
        reference["target_mean"].to_numpy(float) if "score" in kinds else None,
        reference["target_binary"].to_numpy() > 0.5 if "binary" in kinds else None)
    decision = choose_decision(options.decide, metrics, cross, notes)
    table = Table(section, options, decision, metrics, rows, len(common), missing, notes=notes)
    if decision is not None:
        test(table, targets, preds)
    return table


def choose_decision(requested: str, metrics: list[str], cross: bool, notes: list[str]
                    ) -> cmp.Decision | None:
    """``--decide``: ``auto`` is the Wilcoxon test where the table has scores (bootstrap SRCC
    for cross-dataset tables, whose scales differ), else the bootstrap on ACC."""
    auto = (cmp.Decision("bootstrap", "srcc") if cross else
            cmp.WILCOXON if "mae" in metrics else cmp.Decision("bootstrap", "acc"))
    if requested == "auto":
        wanted = auto
    else:
        wanted = cmp.WILCOXON if requested == "wilcoxon" else cmp.Decision("bootstrap", requested)
        if wanted.metric not in metrics or (cross and wanted.test == "wilcoxon"):
            notes.append(f"`--decide {requested}` does not apply to this table; it is decided by "
                         f"the {auto.describe()} instead.")
            wanted = auto
    return wanted if wanted.metric in metrics else None


def test(table: Table, targets: cmp.Targets, preds: dict[EntryKey, cmp.Predictions]) -> None:
    """Fill in the table's tests against the baseline, seed tests, marks and tiers."""
    _test(table, targets, preds)


def _test(table: Table, targets: cmp.Targets, preds: dict[EntryKey, cmp.Predictions]) -> None:
    options, decision = table.options, table.decision
    boot = [m for m in cmp.BOOTSTRAP_METRICS if m in table.metrics]
    tester = cmp.Tester(targets, preds, boot, options.n_resamples, options.bootstrap_seed)
    keys = [r.key for r in table.rows]
    pairs = [(k, (options.baseline, *k[1:])) for k in keys
             if k != CONSTANT and k[0] != options.baseline and (options.baseline, *k[1:]) in preds]
    if pairs:
        table.tests, table.marked = cmp.against_baseline(tester, pairs, decision,
                                                         options.correction, options.alpha)
        table.seed_tests = cmp.seed_level(tester, pairs, decision.metric, options.correction,
                                          options.alpha)
    table.tiers = cmp.tiers(tester, keys, decision, options.correction, options.alpha)
    sign = 1 if METRICS[decision.metric].higher_is_better else -1
    table.rows.sort(key=lambda r: (table.tiers.get(r.key, math.inf),
                                   -sign * np.nan_to_num(tester.mean(r.key, decision.metric),
                                                         nan=-sign * np.inf), r.key))
