"""The one metrics module: every number in ``metrics.json`` and the leaderboards comes from here.

Metrics are computed from the columns of ``predictions.csv``:

- ``target_mean`` / ``pred_mean``: scores on the dataset's scale;
- ``target_binary`` / ``pred_binary``: 0/1 labels (AVA: mean > 5);
- ``target_p1..target_pM`` / ``pred_p1..pred_pM``: score distributions over the M bins.

Each :class:`Metric` declares whether higher is better and which label kinds it needs, so a
dataset that lacks them (CUHK-PQ has only binary labels) simply has no such column in its table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

EPS = 1e-12


def srcc(y: np.ndarray, p: np.ndarray) -> float:
    """Spearman rank correlation (scipy.stats.spearmanr; ties get average ranks)."""
    return float(stats.spearmanr(y, p).statistic)


def plcc(y: np.ndarray, p: np.ndarray) -> float:
    """Pearson linear correlation (scipy.stats.pearsonr), without a fitted non-linearity."""
    return float(stats.pearsonr(y, p).statistic)


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Fraction of equal binary labels (Talebi & Milanfar 2018 §IV: mean score > 5 is "high")."""
    return float(np.mean(np.asarray(y) == np.asarray(p)))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(p, float) - np.asarray(y, float))))


def mse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def emd_per_image(target: np.ndarray, pred: np.ndarray, r: float = 2.0) -> np.ndarray:
    """Earth mover's distance between score distributions, per image (NIMA, Talebi & Milanfar 2018,
    Eq. 1; Hou et al. 2016): ``(1/M * sum_k |CDF_t(k) - CDF_p(k)|^r)^(1/r)`` with r = 2.

    Args:
        target, pred: (N, M) distributions (rows sum to 1).
    Returns:
        (N,) distances.
    """
    cdf_gap = np.cumsum(target, axis=1) - np.cumsum(pred, axis=1)  # (N, M)
    return np.mean(np.abs(cdf_gap) ** r, axis=1) ** (1.0 / r)


def emd(target: np.ndarray, pred: np.ndarray) -> float:
    """Mean over images of :func:`emd_per_image` (r = 2)."""
    return float(np.mean(emd_per_image(target, pred)))


def kl_divergence(target: np.ndarray, pred: np.ndarray) -> float:
    """Mean over images of KL(target || pred) = sum_m t_m log(t_m / p_m) (0 log 0 = 0)."""
    t = np.asarray(target, float)
    p = np.clip(np.asarray(pred, float), EPS, None)
    terms = np.where(t > 0, t * (np.log(np.clip(t, EPS, None)) - np.log(p)), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def dist_std(dist: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """(N,) standard deviation of each score distribution over the bin values."""
    mean = dist @ bins
    return np.sqrt(np.clip(dist @ bins**2 - mean**2, 0.0, None))


@dataclass(frozen=True)
class Metric:
    """A metric computed from prediction columns.

    Attributes:
        name: key in ``metrics.json``.
        higher_is_better: for the leaderboard's arrows, bold and tiers.
        needs: label kinds of the dataset required (``score``, ``binary``, ``distribution``).
        fn: ``(Columns) -> float``.
        title: column header.
    """

    name: str
    higher_is_better: bool
    needs: frozenset[str]
    fn: Callable[[Columns], float]
    title: str


@dataclass
class Columns:
    """The arrays of a predictions table that metrics read."""

    target_mean: np.ndarray | None
    pred_mean: np.ndarray | None
    target_binary: np.ndarray | None
    pred_binary: np.ndarray | None
    target_dist: np.ndarray | None
    pred_dist: np.ndarray | None
    bins: np.ndarray | None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Columns:
        def col(name: str) -> np.ndarray | None:
            if name not in frame or frame[name].isna().all():
                return None
            return frame[name].to_numpy(dtype=float)

        def dist(prefix: str) -> np.ndarray | None:
            names = sorted((c for c in frame.columns if c.startswith(prefix)),
                           key=lambda c: int(c[len(prefix):]))
            if not names or frame[names].isna().all().all():
                return None
            return frame[names].to_numpy(dtype=float)

        target_dist, pred_dist = dist("target_p"), dist("pred_p")
        n_bins = target_dist.shape[1] if target_dist is not None else None
        return cls(col("target_mean"), col("pred_mean"), col("target_binary"), col("pred_binary"),
                   target_dist, pred_dist,
                   np.arange(1, n_bins + 1, dtype=float) if n_bins else None)


def _both(*arrays: np.ndarray | None) -> bool:
    return all(a is not None for a in arrays)


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("srcc", True, frozenset({"score"}), lambda c: srcc(c.target_mean, c.pred_mean), "SRCC"),
    Metric("plcc", True, frozenset({"score"}), lambda c: plcc(c.target_mean, c.pred_mean), "PLCC"),
    Metric("acc", True, frozenset({"binary"}), lambda c: accuracy(c.target_binary, c.pred_binary),
           "ACC"),
    Metric("mae", False, frozenset({"score"}), lambda c: mae(c.target_mean, c.pred_mean), "MAE"),
    Metric("mse", False, frozenset({"score"}), lambda c: mse(c.target_mean, c.pred_mean), "MSE"),
    Metric("emd", False, frozenset({"distribution"}), lambda c: emd(c.target_dist, c.pred_dist),
           "EMD"),
    Metric("kl", False, frozenset({"distribution"}),
           lambda c: kl_divergence(c.target_dist, c.pred_dist), "KL"),
    Metric("std_srcc", True, frozenset({"distribution"}),
           lambda c: srcc(dist_std(c.target_dist, c.bins), dist_std(c.pred_dist, c.bins)),
           "std SRCC"),
    Metric("std_plcc", True, frozenset({"distribution"}),
           lambda c: plcc(dist_std(c.target_dist, c.bins), dist_std(c.pred_dist, c.bins)),
           "std PLCC"),
]}

#: Which prediction columns each label kind's metrics read.
_AVAILABLE = {
    "score": lambda c: _both(c.target_mean, c.pred_mean),
    "binary": lambda c: _both(c.target_binary, c.pred_binary),
    "distribution": lambda c: _both(c.target_dist, c.pred_dist),
}


def applicable(columns: Columns, label_kinds: frozenset[str] | set[str]) -> list[Metric]:
    """Metrics the dataset's labels support and the predictions have columns for."""
    return [m for m in METRICS.values()
            if m.needs <= set(label_kinds) and all(_AVAILABLE[k](columns) for k in m.needs)]


def compute(frame: pd.DataFrame, label_kinds: frozenset[str] | set[str]) -> dict[str, float]:
    """Every applicable metric of a predictions table, by name (plus ``n_test``)."""
    columns = Columns.from_frame(frame)
    out = {m.name: m.fn(columns) for m in applicable(columns, label_kinds)}
    out["n_test"] = int(len(frame))
    return out
