"""Which entries of a leaderboard table beat the baseline, and which share the best entry's tier.

Every number is a call into :mod:`harness.stats`; this module only decides what is compared with
what, and how several seeds enter an image-level test:

* **Seeds at the image level.** An entry with several seeds is summarised per image by the mean
  over its seeds: the Wilcoxon test runs on each image's absolute error averaged over the seeds,
  the bootstrap on the difference of the seed-averaged metric (each seed's metric on the same
  resampled images, then averaged). Both are exactly what the table's "mean over seeds" column
  reports, tested against image sampling with the trained runs held fixed — not a per-image
  ensemble prediction (which would test a model nobody trained) and not one test per seed pair
  (seed numbers do not pair runs of different pretexts).
* **Seeds at the run level.** With at least :data:`harness.stats.MIN_SEEDS` seeds on both sides,
  :func:`harness.stats.seed_test` (Welch, one-sided) on the per-seed decision metric asks whether
  the difference exceeds seed-to-seed noise; its p-values form their own corrected family.
* **Bootstrap over seeds.** Each run's bootstrap distribution is taken against the perfect
  predictor (the targets) on shared resamples (:func:`harness.stats.bootstrap_deltas`), so the
  distribution of any difference of seed-averaged metrics is a difference of averages of those.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness import stats
from harness.metrics import METRICS
from harness.rundirs import EntryKey

#: Metrics with a paired bootstrap row against the baseline, where the table has them.
BOOTSTRAP_METRICS = ("srcc", "plcc", "acc", "mae")
#: Coverage of the reported bootstrap intervals (uncorrected).
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Decision:
    """The test that decides the † mark and the tiers: ``wilcoxon`` (one-sided, on per-image
    absolute errors; its metric is ``mae``) or ``bootstrap`` (two-sided, on ``metric``)."""

    test: str
    metric: str

    def describe(self) -> str:
        if self.test == "wilcoxon":
            return ("one-sided Wilcoxon signed-rank test on per-image absolute errors "
                    "(averaged over seeds)")
        return (f"two-sided paired bootstrap on Δ{METRICS[self.metric].title} "
                "(of the seed-averaged metric)")


WILCOXON = Decision("wilcoxon", "mae")


@dataclass(frozen=True)
class Targets:
    """A table's targets on its common images: ``score`` (n,) and ``binary`` (n,) bool, or None."""

    score: np.ndarray | None
    binary: np.ndarray | None


@dataclass(frozen=True)
class Predictions:
    """One entry's predictions on the common images: ``score`` (seeds, n), ``binary`` (seeds, n)
    bool, and ``values`` {metric: (seeds,)} from :mod:`harness.metrics`."""

    score: np.ndarray | None
    binary: np.ndarray | None
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class Test:
    """One test of ``entry`` against ``against`` (delta = entry - against)."""

    entry: EntryKey
    against: EntryKey
    metric: str
    test: str  # "wilcoxon", "bootstrap" or "welch"
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    significant: bool


def _better(metric: str, delta: float) -> bool:
    return bool(delta > 0) if METRICS[metric].higher_is_better else bool(delta < 0)


class Tester:
    """The paired tests of one table, with its bootstrap distributions computed once.

    Args:
        targets: the table's targets.
        preds: entry -> its predictions (the constant predictor included, if any).
        metrics: the bootstrap metrics the table supports.
        n_resamples: bootstrap resamples; seed: their seed (results depend on nothing else).
    """

    def __init__(self, targets: Targets, preds: Mapping[EntryKey, Predictions],
                 metrics: Sequence[str], n_resamples: int, seed: int) -> None:
        self.targets, self.preds, self.metrics = targets, preds, list(metrics)
        self._dist: dict[EntryKey, dict[str, np.ndarray]] = {key: {} for key in preds}
        for metric in self.metrics:
            binary = metric == "acc"
            y = targets.binary if binary else targets.score
            runs = {}
            for key, pred in preds.items():
                rows = pred.binary if binary else pred.score
                if rows is None or (not binary and metric in ("srcc", "plcc")
                                    and np.ptp(rows, axis=1).min() == 0):
                    continue  # a correlation with a constant prediction is undefined
                runs.update({(key, s): row for s, row in enumerate(rows)})
            if not runs:
                continue
            # Against the perfect predictor: every run's deltas share resamples and a reference.
            named = {str(i): row for i, row in enumerate(runs.values())}
            deltas = stats.bootstrap_deltas(y, named, y, [metric], n_resamples, seed)
            for i, (key, _) in enumerate(runs):
                self._dist[key].setdefault(metric, []).append(deltas[str(i)][metric])
        self._dist = {k: {m: np.stack(v) for m, v in d.items()} for k, d in self._dist.items()}

    def mean(self, key: EntryKey, metric: str) -> float:
        values = self.preds[key].values.get(metric)
        return float(np.mean(values)) if values is not None else math.nan

    def _abs_errors(self, key: EntryKey) -> np.ndarray:
        return np.abs(self.preds[key].score - self.targets.score).mean(axis=0)  # (n,)

    def raw(self, entry: EntryKey, against: EntryKey, decision_only: Decision | None = None
            ) -> list[tuple[str, str, float, float, float, float]]:
        """Uncorrected (metric, test, delta, ci_low, ci_high, p) rows of ``entry`` vs ``against``:
        the Wilcoxon row (if the table has scores) and a bootstrap row per metric — or only the
        ``decision_only`` row."""
        rows = []
        wanted = [decision_only] if decision_only else (
            ([WILCOXON] if self.targets.score is not None and "mae" in self.metrics else [])
            + [Decision("bootstrap", m) for m in self.metrics])
        for decision in wanted:
            m = decision.metric
            delta = self.mean(entry, m) - self.mean(against, m)
            if decision.test == "wilcoxon":
                if self.preds[entry].score is None or self.preds[against].score is None:
                    rows.append((m, "wilcoxon", delta, math.nan, math.nan, math.nan))
                    continue  # a head without scores (e.g. a classification probe)
                n = self.targets.score.size
                p = stats.wilcoxon_abs_errors(np.zeros(n), self._abs_errors(entry),
                                              self._abs_errors(against), "less")
                rows.append((m, "wilcoxon", delta, math.nan, math.nan, float(p)))
                continue
            a, b = self._dist[entry].get(m), self._dist[against].get(m)
            if a is None or b is None:
                rows.append((m, "bootstrap", delta, math.nan, math.nan, math.nan))
                continue
            boot = a.mean(axis=0) - b.mean(axis=0)  # (B,) delta of the seed-averaged metric
            finite = boot[np.isfinite(boot)]
            low, high = (np.quantile(finite, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
                         if finite.size else (math.nan, math.nan))
            rows.append((m, "bootstrap", delta, float(low), float(high),
                         stats.bootstrap_p_value(boot, "two-sided")))
        return rows


def against_baseline(tester: Tester, pairs: Sequence[tuple[EntryKey, EntryKey]], decision: Decision,
                     correction: str, alpha: float) -> tuple[list[Test], set[EntryKey]]:
    """Every test of every (entry, baseline) pair, corrected as one family; the marked entries
    (significantly better on the decision row). Tests one side cannot take (a metric a head does
    not predict) are left out of the family."""
    raw = [(entry, base, *row) for entry, base in pairs for row in tester.raw(entry, base)
           if math.isfinite(row[-1])]
    adjusted = stats.correct([r[-1] for r in raw], correction, alpha)
    tests = [Test(e, b, m, t, d, lo, hi, p, float(q), _better(m, d) and bool(q < alpha))
             for (e, b, m, t, d, lo, hi, p), q in zip(raw, adjusted, strict=True)]
    marked = {t.entry for t in tests
              if t.significant and (t.test, t.metric) == (decision.test, decision.metric)}
    return tests, marked


def seed_level(tester: Tester, pairs: Sequence[tuple[EntryKey, EntryKey]], metric: str,
               correction: str, alpha: float) -> list[Test]:
    """One-sided Welch tests on the per-seed ``metric`` for pairs with enough seeds on both
    sides, corrected as one family. Seeds where the metric is undefined (a head that does not
    predict it, a correlation of constant predictions) do not count."""
    alternative = "greater" if METRICS[metric].higher_is_better else "less"
    raw = []
    for entry, base in pairs:
        a, b = tester.preds[entry].values.get(metric), tester.preds[base].values.get(metric)
        if a is None or b is None:
            continue
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if min(a.size, b.size) < stats.MIN_SEEDS:
            continue
        raw.append((entry, base, tester.mean(entry, metric) - tester.mean(base, metric),
                    float(stats.seed_test(a, b, alternative=alternative))))
    adjusted = stats.correct([r[-1] for r in raw], correction, alpha)
    return [Test(e, b, metric, "welch", d, math.nan, math.nan, p, float(q),
                 _better(metric, d) and bool(q < alpha))
            for (e, b, d, p), q in zip(raw, adjusted, strict=True)]


def tiers(tester: Tester, keys: Sequence[EntryKey], decision: Decision, correction: str,
          alpha: float) -> dict[EntryKey, int]:
    """Tier 1: the best entry by the decision metric and every entry not significantly worse
    than it by the decision test (corrected over that round's comparisons); then the same
    among the rest for tier 2, and so on. Entries without a decision value get no tier."""
    metric = decision.metric
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    left = [k for k in keys if math.isfinite(tester.mean(k, metric))]
    out: dict[EntryKey, int] = {}
    tier = 0
    while left:
        tier += 1
        best = max(left, key=lambda k: sign * tester.mean(k, metric))  # first of equals
        others = [k for k in left if k != best]
        p = [tester.raw(best, k, decision)[0][-1] for k in others]  # H1: best is better
        adjusted = stats.correct(p, correction, alpha) if others else np.array([])
        same = [k for k, q in zip(others, adjusted, strict=True) if not q < alpha]
        for key in (best, *same):
            out[key] = tier
        left = [k for k in others if k not in same]
    return out
