"""Paired significance tests, bootstrap confidence intervals and trivial baselines.

Every test here compares two predictors on the *same* test images, entry ``a`` against a baseline
``b``, or compares per-seed metric values of two entries. The leaderboard uses
:func:`compare_to_baseline`; the other functions are its parts and are usable on their own.

Conventions:
    * ``delta = metric(a) - metric(b)``. SRCC, PLCC and ACC are higher-is-better, so a positive
      delta means ``a`` is better; MAE and MSE are lower-is-better, so a *negative* delta means
      ``a`` is better (:data:`HIGHER_IS_BETTER`).
    * Metrics: ``srcc`` Spearman rank correlation of predicted and target scores (average ranks
      for ties, as :func:`scipy.stats.spearmanr`); ``plcc`` Pearson correlation; ``acc`` the
      fraction of images whose binarised prediction equals the binarised target; ``mae`` mean
      absolute error; ``mse`` mean squared error. Binarisation: a ``bool`` array is taken as the
      labels themselves, a numeric array becomes ``value > threshold`` (``threshold=5.0`` is the
      AVA convention: an image with mean score above 5 is "high quality").

References:
    [0] J. Pfister, K. Kobs, A. Hotho. "Self-Supervised Multi-Task Pretraining Improves Image
        Aesthetic Assessment." CVPR Workshops 2021, Sec. 5: "Bonferroni-corrected one-sided
        Wilcoxon signed rank tests on the Mean Absolute Errors".
    [1] B. Efron, R. Tibshirani. "An Introduction to the Bootstrap." 1993, Ch. 13 (percentile
        interval) and Ch. 15-16 (significance levels from the bootstrap distribution).
    [2] S. Holm. "A Simple Sequentially Rejective Multiple Test Procedure." Scand. J. Stat. 1979.
    [3] B. L. Welch. "The generalization of 'Student's' problem when several different population
        variances are involved." Biometrika 1947.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from harness import metrics as _metrics

try:  # installed with scikit-learn; keeps BLAS single-threaded inside the bootstrap's own threads
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - the bootstrap is only slower without it
    ThreadpoolController = None

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "MIN_SEEDS",
    "BootstrapResult",
    "Comparison",
    "ConstantBaseline",
    "bootstrap_deltas",
    "bootstrap_indices",
    "bootstrap_p_value",
    "compare_to_baseline",
    "constant_baseline",
    "correct",
    "majority_class_accuracy",
    "mean_std",
    "paired_bootstrap",
    "paired_bootstrap_many",
    "seed_test",
    "wilcoxon_abs_errors",
]

#: Whether a larger value of each metric is better (from :mod:`harness.metrics`).
HIGHER_IS_BETTER: dict[str, bool] = {
    name: _metrics.METRICS[name].higher_is_better for name in ("srcc", "plcc", "acc", "mae", "mse")
}
#: The metric names every bootstrap function accepts, in leaderboard order.
METRICS: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
#: Fewest per-seed values :func:`seed_test` accepts per side.
MIN_SEEDS = 3
#: Draw counts (resamples x images) per chunk: large enough that the matrix product of the
#: moment metrics reads its per-image columns rarely.
_CHUNK_ELEMENTS = 1 << 21
#: Draw counts per SRCC block: small enough that its gathers stay in cache.
_SRCC_ELEMENTS = 1 << 18

Alternative = Literal["two-sided", "less", "greater"]
Correction = Literal["holm", "bonferroni", "none"]


class BootstrapResult(NamedTuple):
    """One paired-bootstrap comparison: ``delta = metric(a) - metric(b)`` on the full test set,
    its percentile confidence interval and its p-value (see :func:`bootstrap_p_value`)."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float


# --------------------------------------------------------------------------------------------
# Validation and point metrics
# --------------------------------------------------------------------------------------------


def _as_vector(name: str, values: ArrayLike, n: int | None = None) -> np.ndarray:
    """A finite 1-D array (``bool`` kept as ``bool``, everything else as float64)."""
    arr = np.asarray(values)
    if arr.dtype != bool:
        arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-image values, got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values but y_true has {n}; pair them first.")
    if arr.dtype != bool and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; drop those images first.")
    return arr


def _check_metric(metric: str) -> None:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")


def _binarise(values: np.ndarray, threshold: float) -> np.ndarray:
    """Binary labels: a bool array as given, a numeric array as ``value > threshold``."""
    return values if values.dtype == bool else values > threshold


def _needs_scores(metric: str, name: str, values: np.ndarray) -> None:
    if metric != "acc" and values.dtype == bool:
        raise ValueError(f"{name} is boolean but {metric} needs numeric scores; pass the scores.")


def _metric_value(y: np.ndarray, p: np.ndarray, metric: str, threshold: float) -> float:
    """The metric on the full test set, from :mod:`harness.metrics` (the one definition)."""
    if metric == "acc":
        return _metrics.accuracy(_binarise(y, threshold), _binarise(p, threshold))
    if metric in ("srcc", "plcc") and (np.ptp(p) == 0 or np.ptp(y) == 0):
        return math.nan  # a correlation with a constant is undefined
    return getattr(_metrics, metric)(y, p)


def _per_image(y: np.ndarray, p: np.ndarray, metric: str, threshold: float) -> np.ndarray:
    """Per-image terms whose mean is the metric (mae, mse, acc)."""
    if metric == "mae":
        return np.abs(p - y)
    if metric == "mse":
        return (p - y) ** 2
    return (_binarise(p, threshold) == _binarise(y, threshold)).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Wilcoxon signed-rank test on per-image absolute errors
# --------------------------------------------------------------------------------------------


def _as_batch(name: str, values: ArrayLike) -> np.ndarray:
    """A finite float array (..., n) of per-image (or per-seed) values along the last axis."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must hold values along its last axis, got a scalar.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; drop those first.")
    return arr


def _p_out(p: np.ndarray) -> float | np.ndarray:
    return float(p) if np.ndim(p) == 0 else np.asarray(p, dtype=np.float64)


def wilcoxon_abs_errors(
    y_true: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    alternative: Alternative = "less",
    *,
    zero_method: Literal["wilcox", "pratt", "zsplit"] = "wilcox",
) -> float | np.ndarray:
    """One-sided Wilcoxon signed-rank test on paired per-image absolute errors, as in [0] Sec. 5.

    With ``d_i = |pred_a_i - y_i| - |pred_b_i - y_i|`` for each test image ``i``:

    * H0: the distribution of ``d`` is symmetric about 0 (neither predictor's absolute errors
      tend to be smaller).
    * H1 for ``alternative="less"`` (the default): ``d`` is shifted below 0, i.e. ``a``'s absolute
      errors are smaller than ``b``'s; ``"greater"`` the reverse; ``"two-sided"`` either.

    The p-value is exactly :func:`scipy.stats.wilcoxon` on ``d`` (``zero_method="wilcox"`` drops
    images with ``d == 0``; the exact null distribution for at most 50 non-zero differences
    without ties, otherwise the normal approximation with tie correction, no continuity
    correction). Uncorrected: pass a table's p-values through :func:`correct`.

    Args:
        y_true: target scores, shape (n,) or broadcastable to the predictions.
        pred_a: scores predicted by the entry, shape (n,) or (..., n) for many tests at once.
        pred_b: scores predicted by the baseline, same.
        alternative: ``"less"``, ``"greater"`` or ``"two-sided"`` as above.
        zero_method: scipy's treatment of zero differences.

    Returns:
        The p-value (an array of shape (...) for stacked inputs); 1.0 where every difference is
        zero (no evidence either way).
    """
    y = _as_batch("y_true", y_true)
    a = _as_batch("pred_a", pred_a)
    b = _as_batch("pred_b", pred_b)
    if not y.shape[-1] == a.shape[-1] == b.shape[-1]:
        raise ValueError(
            f"y_true, pred_a and pred_b have {y.shape[-1]}, {a.shape[-1]} and {b.shape[-1]} "
            "images; pair them first."
        )
    d = np.abs(a - y) - np.abs(b - y)  # (..., n)
    all_zero = ~np.any(d != 0, axis=-1)
    if np.all(all_zero):
        return _p_out(np.ones(d.shape[:-1]))
    with np.errstate(invalid="ignore", divide="ignore"):  # all-zero rows: 0/0, replaced below
        res = scipy.stats.wilcoxon(d, zero_method=zero_method, alternative=alternative, axis=-1)
    return _p_out(np.where(all_zero, 1.0, res.pvalue))


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


def _chunk_rows(n: int, n_resamples: int) -> int:
    """Resamples per chunk: about ``_CHUNK_ELEMENTS`` counts, a multiple of 4 (the SRCC lanes)."""
    return max(1, min(n_resamples, max(4, _CHUNK_ELEMENTS // n // 4 * 4)))


def _chunk_indices(n: int, rows: int, seed: int, chunk: int) -> np.ndarray:
    """Resample indices (rows, n) of chunk ``chunk``: its own stream, so chunks run in any order."""
    rng = np.random.default_rng([seed, chunk])
    return rng.integers(0, n, size=(rows, n), dtype=np.int32)


def _chunk_sizes(n: int, n_resamples: int) -> list[int]:
    rows = _chunk_rows(n, n_resamples)
    full, rest = divmod(n_resamples, rows)
    return [rows] * full + ([rest] if rest else [])


def bootstrap_indices(n: int, n_resamples: int = 10_000, seed: int = 0) -> Iterator[np.ndarray]:
    """The resample index matrices every bootstrap function here uses, chunk by chunk.

    Resample ``r`` draws ``n`` test images with replacement, uniformly; the same row of indices is
    applied to the targets, the entry and the baseline (a *paired* bootstrap), and to every entry
    of :func:`paired_bootstrap_many`. Chunk ``k`` comes from ``numpy.random.default_rng([seed,
    k])``, so the draws depend only on ``(n, n_resamples, seed)`` — not on ``n_jobs``.

    Args:
        n: number of test images.
        n_resamples: total number of resamples.
        seed: the seed.

    Yields:
        int32 arrays of shape (chunk, n) whose rows are the resamples, in order.
    """
    for k, rows in enumerate(_chunk_sizes(n, n_resamples)):
        yield _chunk_indices(n, rows, seed, k)


@dataclass(frozen=True)
class _Ties:
    """How to turn per-image weights into average ranks of one vector of values."""

    order: np.ndarray  # (n,) argsort of the values
    starts: np.ndarray | None  # (G,) first sorted position of each tie group; None: no ties
    group_of: np.ndarray  # (n,) original image -> its group (its sorted position without ties)

    @classmethod
    def of(cls, values: np.ndarray) -> _Ties:
        order = np.argsort(values, kind="stable")
        new = np.empty(values.size, dtype=bool)
        new[0] = True
        np.not_equal(values[order][1:], values[order][:-1], out=new[1:])
        group_sorted = np.cumsum(new) - 1  # (n,) group index of each sorted position
        group_of = np.empty(values.size, dtype=np.intp)
        group_of[order] = group_sorted
        starts = None if new.all() else np.flatnonzero(new)
        return cls(order, starts, group_of)


class _Engine:
    """Metric values of many predictors on many weighted resamples of one test set.

    A resample is represented by its per-image draw counts ``w`` (``sum(w) == n``); every metric
    is a function of ``w``:

    * mae, mse, acc: ``w @ per_image / n``, one matrix product for all predictors at once.
    * plcc: weighted moments ``w @ [x, x^2, x*y, y, y^2]`` of values centred on their full-sample
      means (centring removes cancellation), then ``cov / sqrt(var_x * var_y)``.
    * srcc: Pearson correlation of average ranks within the resample. A duplicated image is a
      tie, so the average rank of value ``v`` is ``#{drawn < v} + (#{drawn == v} + 1) / 2``: a
      cumulative sum of ``w`` in sorted order, with no sorting per resample (tied *values* are
      first merged into groups). With doubled centred ranks ``R = 2r - (n+1)`` (integers),
      ``srcc = 3 sum(w R_x R_y) / sqrt(D_x D_y)`` where ``D = n^3 - n - sum_g (t_g^3 - t_g)``
      over tie groups ``g`` of ``t_g`` drawn images (the tie-corrected ``3 sum(w R^2)``).

    Speed: the counts of ``L`` consecutive resamples share one uint64 per image (``L = 4``
    uint16 lanes for ``n < 2^15``, else 2 uint32 lanes), so one gather into an entry's sort
    order, one group sum, one cumulative sum and one gather back handle ``L`` resamples at once;
    no lane ever holds more than ``2n``, so no carry crosses lanes. Every rank sum is an integer
    below ``2n^3``, so the float64 products that finish them are exact up to ~165,000 images
    (beyond, float64 rounding of ~1e-16 relative).
    """

    def __init__(
        self, y: np.ndarray, rows: list[np.ndarray], metrics: Sequence[str], threshold: float
    ) -> None:
        self.n = n = y.size
        self.metrics = list(metrics)
        self.n_rows = len(rows)
        self.lanes = 4 if 2 * n < 2**16 else 2  # a lane holds values up to 2n
        self.lane_dtype = np.uint16 if self.lanes == 4 else np.uint32
        columns: list[np.ndarray] = []
        self.slices: dict[str, slice] = {}
        for metric in ("mae", "mse", "acc"):
            if metric in self.metrics:
                start = len(columns)
                columns += [_per_image(y, p, metric, threshold) for p in rows]
                self.slices[metric] = slice(start, len(columns))
        if "plcc" in self.metrics:
            yc = y - y.mean()
            xc = [p - p.mean() for p in rows]
            start = len(columns)
            columns += xc + [x * x for x in xc] + [x * yc for x in xc] + [yc, yc * yc]
            self.slices["plcc"] = slice(start, len(columns))
        self.columns = np.stack(columns, axis=1) if columns else None  # (n, m)
        if "srcc" in self.metrics:
            self.y_ties = _Ties.of(y)
            self.x_ties = [_Ties.of(p) for p in rows]

    def counts(self, idx: np.ndarray) -> np.ndarray:
        """Draw counts (c, n) of every image in each resample of ``idx`` (c, n)."""
        c, n = idx.shape
        if n >= 4096:  # one bincount per resample
            counts = np.empty((c, n), dtype=self.lane_dtype)
            for r, row in enumerate(idx):
                counts[r] = np.bincount(row, minlength=n)
            return counts
        flat = (idx + np.arange(0, c * n, n)[:, None]).ravel()  # one bincount for the chunk
        return np.bincount(flat, minlength=c * n).reshape(c, n).astype(self.lane_dtype)

    def values(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Metric values (n_rows, c) of every predictor on the resamples with ``counts`` (c, n)."""
        n, lanes = self.n, self.lanes
        c = counts.shape[0]
        out: dict[str, np.ndarray] = {}
        if self.columns is not None:
            sums = (counts.astype(np.float64) @ self.columns).T / n  # (m, c) weighted means
            for metric in ("mae", "mse", "acc"):
                if metric in self.slices:
                    out[metric] = sums[self.slices[metric]]
            if "plcc" in self.slices:
                k = self.n_rows
                block = sums[self.slices["plcc"]]
                mx, mxx, mxy = block[:k], block[k : 2 * k], block[2 * k : 3 * k]
                my, myy = block[3 * k], block[3 * k + 1]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out["plcc"] = (mxy - mx * my) / np.sqrt((mxx - mx * mx) * (myy - my * my))
        if "srcc" in self.metrics:
            g = -(-c // lanes)  # lane groups
            if g * lanes > c:  # pad with copies of resample 0, dropped at the end
                counts = np.concatenate([counts, np.repeat(counts[:1], g * lanes - c, axis=0)])
            # (g, n, L): resample r = lanes * group + lane
            w4 = np.ascontiguousarray(counts.reshape(g, lanes, n).transpose(0, 2, 1))
            step = max(1, _SRCC_ELEMENTS // (n * lanes))  # lane groups per cache-sized block
            srcc = [self._srcc(w4[i : i + step]) for i in range(0, g, step)]
            out["srcc"] = np.concatenate(srcc, axis=1).reshape(self.n_rows, g * lanes)[:, :c]
        return out

    def _lanes(self, packed: np.ndarray) -> np.ndarray:
        """(g, G) uint64 of packed lanes -> (g, G, L) float64."""
        return packed.view(self.lane_dtype).reshape(*packed.shape, self.lanes).astype(np.float64)

    def _d(self, w: np.ndarray) -> np.ndarray:
        """``D = n^3 - n - sum_g (t_g^3 - t_g)`` (g, L) from group counts ``w`` (g, G, L)."""
        n = self.n
        return n**3 - n - (self._dot(w * w, w) - n)

    def _cumulative(self, wv: np.ndarray, ties: _Ties) -> tuple[np.ndarray, np.ndarray | None]:
        """Per original image (g, n) packed: ``cs`` without ties, ``R + n = 2 cs - t`` with ties;
        and D (g, L) with ties (None without: then D depends on the counts only).

        ``cs`` is the cumulative count of the image's tie group in value order and ``t`` its
        count, so ``R = 2 cs - t - n`` is the doubled centred average rank; ``0 <= R + n <= 2n``
        fits a lane, and ``2 cs - t = cs + (cs - t)`` never borrows across lanes. Without ties
        ``t`` is the image's own count and the caller folds the ``- t`` in (see :meth:`_srcc`).
        """
        wx = np.take(wv, ties.order, axis=1)  # (g, n) packed counts in value order
        if ties.starts is None:
            return np.take(np.cumsum(wx, axis=1), ties.group_of, axis=1), None
        wx = np.add.reduceat(wx, ties.starts, axis=1)  # (g, G) per tie group
        mid = (np.cumsum(wx, axis=1) << np.uint64(1)) - wx  # (g, G)
        return np.take(mid, ties.group_of, axis=1), self._d(self._lanes(wx))

    @staticmethod
    def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lane-wise ``sum_j a[g, j, l] * b[g, j, l]`` (g, L) via one batched matrix product."""
        return np.diagonal(np.matmul(a.transpose(0, 2, 1), b), axis1=1, axis2=2)

    def _srcc(self, w4: np.ndarray) -> np.ndarray:
        """SRCC (n_rows, g, L) of every predictor on the packed resamples ``w4`` (g, n, L).

        With ``q_i = w_i R_y(i)`` (which sums to 0 over images), the numerator is
        ``sum_i q_i R_x(i) = sum_i q_i (R_x(i) + n)``; without ties in x that is
        ``2 sum_i q_i cs_x(i) - sum_i q_i w_i``, and the last sum is the same for every entry.
        """
        n = self.n
        wf = w4.astype(np.float64)  # (g, n, L)
        wv = w4.view(np.uint64).reshape(w4.shape[:2])  # (g, n): L lanes per uint64
        mid_y, d_y = self._cumulative(wv, self.y_ties)
        if d_y is None:
            mid_y = (mid_y << np.uint64(1)) - wv  # 2 cs - w, as with ties
        d_plain = self._d(wf)  # (g, L) D of values without ties
        d_y = d_plain if d_y is None else d_y
        q = wf * (self._lanes(mid_y) - n)  # (g, n, L): w_i R_y(i)
        qw = self._dot(q, wf)  # (g, L)
        out = np.empty((self.n_rows, *d_y.shape))
        for e, ties in enumerate(self.x_ties):
            part, d_x = self._cumulative(wv, ties)
            if d_x is None:
                num = 2 * self._dot(q, self._lanes(part)) - qw
                d_x = d_plain
            else:
                num = self._dot(q, self._lanes(part))
            with np.errstate(invalid="ignore", divide="ignore"):
                out[e] = 3 * num / np.sqrt(d_x * d_y)
        return out


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is not None:
        return max(1, int(n_jobs))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _blas_controller():
    return ThreadpoolController()  # scanning the loaded libraries is slow: do it once


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """The bootstrap's matrix products are small; BLAS threads would only spin against ours."""
    if ThreadpoolController is None:  # pragma: no cover
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=1, user_api="blas")


def _prepare(
    y_true: ArrayLike,
    preds: Mapping[str, ArrayLike],
    baseline: ArrayLike,
    metrics: Sequence[str],
) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    y = _as_vector("y_true", y_true)
    if y.size < 3:
        raise ValueError(f"Need at least 3 paired images for a bootstrap, got {y.size}.")
    if not metrics:
        raise ValueError("No metrics requested; name at least one of " + ", ".join(METRICS) + ".")
    for metric in metrics:
        _check_metric(metric)
    names = list(preds)
    if not names:
        raise ValueError("No entries to compare; pass at least one prediction vector.")
    vectors = [_as_vector(f"predictions of {k!r}", preds[k], y.size) for k in names]
    vectors.append(_as_vector("baseline predictions", baseline, y.size))
    for metric in metrics:
        _needs_scores(metric, "y_true", y)
        for name, v in zip([*names, "baseline"], vectors, strict=True):
            _needs_scores(metric, f"predictions of {name!r}", v)
    return y, names, vectors


def _run(
    y_true: ArrayLike,
    preds: Mapping[str, ArrayLike],
    baseline: ArrayLike,
    metrics: Sequence[str],
    n_resamples: int,
    seed: int,
    threshold: float,
    n_jobs: int | None,
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Entry names, bootstrap deltas ``{metric: (entries, B)}`` and full-sample deltas
    ``{metric: (entries,)}`` (the same engine with every count 1)."""
    y, names, rows = _prepare(y_true, preds, baseline, metrics)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}.")
    engine = _Engine(y, rows, metrics, threshold)
    sizes = _chunk_sizes(y.size, n_resamples)

    def run(k: int) -> dict[str, np.ndarray]:
        return engine.values(engine.counts(_chunk_indices(y.size, sizes[k], seed, k)))

    jobs = min(_n_jobs(n_jobs), len(sizes))
    with _single_threaded_blas():
        if jobs == 1:
            parts = [run(k) for k in range(len(sizes))]
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                parts = list(pool.map(run, range(len(sizes))))
        full = engine.values(np.ones((1, y.size), dtype=engine.lane_dtype))
    deltas, point = {}, {}
    for metric in metrics:
        values = np.concatenate([p[metric] for p in parts], axis=1)  # (entries + 1, B)
        deltas[metric] = values[:-1] - values[-1]
        point[metric] = full[metric][:-1, 0] - full[metric][-1, 0]
    return names, deltas, point


def bootstrap_deltas(
    y_true: ArrayLike,
    preds: Mapping[str, ArrayLike],
    baseline: ArrayLike,
    metrics: Sequence[str] = METRICS,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    threshold: float = 5.0,
    n_jobs: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap distributions of ``metric(entry) - metric(baseline)`` for many entries at once.

    All entries share the same resamples (:func:`bootstrap_indices`), so their deltas are
    comparable and the indices are drawn once. Fully vectorised and exact (equal to scipy on each
    resample); for 10 entries x 10,000 resamples x 20,000 images see ``benchmarks/stats.py``. A
    resample whose correlation is undefined (constant values) gives NaN.

    Args:
        y_true: target scores (or bool labels when only ``acc`` is asked), shape (n,).
        preds: entry name -> predicted scores, each shape (n,), in the order of ``y_true``.
        baseline: the baseline's predicted scores, shape (n,).
        metrics: metric names from :data:`METRICS`.
        n_resamples: number of bootstrap resamples.
        seed: seed of the resample indices.
        threshold: binarisation threshold for ``acc`` (numeric arrays: ``value > threshold``).
        n_jobs: threads (default: every CPU this process may use); results do not depend on it.

    Returns:
        ``{entry: {metric: deltas of shape (n_resamples,)}}``.
    """
    names, deltas, _ = _run(y_true, preds, baseline, metrics, n_resamples, seed, threshold, n_jobs)
    return {name: {m: deltas[m][e] for m in metrics} for e, name in enumerate(names)}


def bootstrap_p_value(deltas: ArrayLike, alternative: Alternative = "two-sided") -> float:
    """p-value of H0 "delta = 0" from a bootstrap distribution, by inverting the percentile CI.

    With ``B`` finite bootstrap deltas (NaNs are dropped), ``k_le = #{delta* <= 0}`` and
    ``k_ge = #{delta* >= 0}``:

    * ``"greater"`` (H1: delta > 0): ``p = (k_le + 1) / (B + 1)``
    * ``"less"`` (H1: delta < 0): ``p = (k_ge + 1) / (B + 1)``
    * ``"two-sided"``: ``p = min(1, 2 * min(k_le + 1, k_ge + 1) / (B + 1))``

    This is the smallest ``alpha`` at which 0 falls outside the equal-tailed ``1 - alpha``
    percentile interval ([1] Ch. 15-16), so ``p < 0.05`` exactly when the reported 95 % interval
    excludes 0 (up to the ``+1``). It is calibrated when the bootstrap distribution of the delta
    is a shifted copy of its sampling distribution (asymptotically true for these smooth
    statistics); resamples exactly at 0 count on both sides and the ``+1`` keeps ``p > 0``, both
    conservative. Measured A/A calibration: ``docs/statistics.md``.

    Args:
        deltas: bootstrap deltas, shape (B,).
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.

    Returns:
        The p-value, or NaN when no delta is finite.
    """
    d = np.asarray(deltas, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    b = d.size
    p_greater = (np.count_nonzero(d <= 0) + 1) / (b + 1)
    p_less = (np.count_nonzero(d >= 0) + 1) / (b + 1)
    if alternative == "greater":
        return float(p_greater)
    if alternative == "less":
        return float(p_less)
    if alternative == "two-sided":
        return float(min(1.0, 2 * min(p_greater, p_less)))
    raise ValueError(f"Unknown alternative {alternative!r}; use two-sided, less or greater.")


def _summarise(delta: float, deltas: np.ndarray, alpha: float, alternative: Alternative):
    finite = deltas[np.isfinite(deltas)]
    if finite.size == 0 or not math.isfinite(delta):
        return BootstrapResult(delta, math.nan, math.nan, math.nan)
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return BootstrapResult(delta, float(low), float(high), bootstrap_p_value(finite, alternative))


def paired_bootstrap_many(
    y_true: ArrayLike,
    preds: Mapping[str, ArrayLike],
    baseline: ArrayLike,
    metrics: Sequence[str] = METRICS,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    threshold: float = 5.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    n_jobs: int | None = None,
) -> dict[str, dict[str, BootstrapResult]]:
    """:func:`paired_bootstrap` for many entries against one baseline, on shared resamples.

    Args:
        y_true: target scores, shape (n,).
        preds: entry name -> predicted scores, each shape (n,).
        baseline: the baseline's predicted scores, shape (n,).
        metrics: metric names from :data:`METRICS`.
        n_resamples: number of bootstrap resamples (at least 10,000 for a published table).
        seed: seed of the resample indices.
        threshold: binarisation threshold for ``acc``.
        alpha: the interval is the equal-tailed ``1 - alpha`` percentile interval.
        alternative: passed to :func:`bootstrap_p_value`.
        n_jobs: threads; results do not depend on it.

    Returns:
        ``{entry: {metric: BootstrapResult}}``, p-values uncorrected.
    """
    names, deltas, point = _run(
        y_true, preds, baseline, metrics, n_resamples, seed, threshold, n_jobs
    )
    return {
        name: {
            m: _summarise(float(point[m][e]), deltas[m][e], alpha, alternative) for m in metrics
        }
        for e, name in enumerate(names)
    }


def paired_bootstrap(
    y_true: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    metric: str,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    threshold: float = 5.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    n_jobs: int | None = None,
) -> BootstrapResult:
    """Paired bootstrap over test images of ``delta = metric(a) - metric(b)``.

    Each resample draws ``n`` test images with replacement and evaluates both predictors on the
    same draw ([1] Ch. 6). ``delta`` is the difference on the full test set (the same computation
    with every image drawn once; equal to :mod:`harness.metrics`); ``ci_low, ci_high`` the
    equal-tailed ``1 - alpha`` percentile interval of the bootstrap deltas ([1] Ch. 13);
    ``p_value`` tests H0 "the population delta is 0" against
    ``alternative`` as described in :func:`bootstrap_p_value`. For MAE and MSE lower is better, so
    a negative delta means ``a`` is better.

    Args:
        y_true: target scores, shape (n,); bool labels are accepted when ``metric == "acc"``.
        pred_a: the entry's predictions, shape (n,).
        pred_b: the baseline's predictions, shape (n,).
        metric: one of ``srcc``, ``plcc``, ``acc``, ``mae``, ``mse``.
        n_resamples: number of bootstrap resamples.
        seed: seed of the resample indices (:func:`bootstrap_indices`).
        threshold: for ``acc``, a numeric array is binarised as ``value > threshold``; bool
            arrays are used as labels.
        alpha: one minus the interval's coverage.
        alternative: ``"two-sided"`` (default), ``"greater"`` or ``"less"``.
        n_jobs: threads; results do not depend on it.

    Returns:
        ``BootstrapResult(delta, ci_low, ci_high, p_value)``; NaNs when the metric is undefined
        (e.g. a correlation with constant predictions).
    """
    _check_metric(metric)
    return paired_bootstrap_many(
        y_true,
        {"a": pred_a},
        pred_b,
        [metric],
        n_resamples,
        seed,
        threshold=threshold,
        alpha=alpha,
        alternative=alternative,
        n_jobs=n_jobs,
    )["a"][metric]


# --------------------------------------------------------------------------------------------
# Multiple comparisons
# --------------------------------------------------------------------------------------------


def correct(p_values: ArrayLike, method: Correction = "holm", alpha: float = 0.05) -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons (family-wise error rate).

    ``"holm"`` (default, [2]) is uniformly more powerful than ``"bonferroni"`` (used in [0]) and
    controls the family-wise error rate under the same (no) assumptions; ``"none"`` returns the
    p-values unchanged. Values are exactly statsmodels' ``multipletests(p, alpha, method)[1]``.
    NaN p-values stay NaN and are not counted in the family.

    Args:
        p_values: the family's raw p-values, any shape.
        method: ``"holm"``, ``"bonferroni"`` or ``"none"``.
        alpha: passed to statsmodels (does not change the adjusted values of these methods).

    Returns:
        Adjusted p-values, same shape; reject where ``adjusted < alpha``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if method not in ("holm", "bonferroni", "none"):
        raise ValueError(f"Unknown correction {method!r}; use holm, bonferroni or none.")
    ok = np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1].")
    out = p.copy()
    if method != "none" and ok.any():
        # statsmodels' Holm path calls gc.collect() on every call, which walks every live object
        # (about a second once torch is imported); freezing them first makes that walk cheap.
        gc.freeze()
        try:
            out[ok] = multipletests(p[ok], alpha=alpha, method=method)[1]
        finally:
            gc.unfreeze()
    return out


# --------------------------------------------------------------------------------------------
# Seed-level statistics
# --------------------------------------------------------------------------------------------


def mean_std(values: ArrayLike) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of per-seed metric values.

    Returns:
        ``(mean, std)``; ``std`` is NaN for a single value.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("mean_std needs at least one value.")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def seed_test(
    values_a: ArrayLike,
    values_b: ArrayLike,
    *,
    paired: bool = False,
    alternative: Alternative = "two-sided",
) -> float | np.ndarray:
    """Seed-level test: do two entries' metric values over training seeds differ in mean?

    Default: Welch's unequal-variance t-test [3] on the per-seed metric values
    (:func:`scipy.stats.ttest_ind` with ``equal_var=False``). H0: equal expected metric value
    over seeds; H1 by ``alternative`` applied to ``mean(a) - mean(b)``. Why Welch: seeds are
    independent replicate trainings of each entry, the two entries' seed-to-seed spread can
    differ a lot (a randomly initialised backbone varies more than an ImageNet one), and a seed
    number does not make runs of different pretexts share anything, so neither pooling the
    variances nor pairing is justified by default. Each per-seed value is an average over
    thousands of test images, so normality is a fair approximation. With ``paired=True`` the
    paired t-test across matching seeds (:func:`scipy.stats.ttest_rel`; value ``i`` of both must
    come from seed ``i``) — use it only when the seed fixes shared randomness (head
    initialisation, data order) in both entries. With 3 seeds either test has little power; it
    answers "is the difference larger than seed noise", the paired image-level tests answer "is
    it real on this test set".

    Args:
        values_a: the entry's metric value per seed (at least :data:`MIN_SEEDS`), along the
            last axis; leading axes (e.g. one per metric) are tested separately.
        values_b: the baseline's metric value per seed, same.
        paired: paired t-test across matching seeds instead of Welch.
        alternative: ``"two-sided"``, ``"greater"`` (a's mean larger) or ``"less"``.

    Returns:
        The p-value (an array for leading axes); NaN when both sides have zero spread (the t
        statistic is undefined).
    """
    a = _as_batch("values_a", values_a)
    b = _as_batch("values_b", values_b)
    if min(a.shape[-1], b.shape[-1]) < MIN_SEEDS:
        raise ValueError(
            f"seed_test needs at least {MIN_SEEDS} seeds per entry, got {a.shape[-1]} and "
            f"{b.shape[-1]}."
        )
    if paired:
        if a.shape[-1] != b.shape[-1]:
            raise ValueError(
                f"A paired seed test needs matching seeds, got {a.shape[-1]} and {b.shape[-1]}."
            )
        res = scipy.stats.ttest_rel(a, b, alternative=alternative, axis=-1)
    else:
        res = scipy.stats.ttest_ind(a, b, equal_var=False, alternative=alternative, axis=-1)
    return _p_out(res.pvalue)


# --------------------------------------------------------------------------------------------
# The whole comparison table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One row of a comparison table: one test of one entry against the baseline."""

    entry: str
    baseline: str
    metric: str
    test: str  # "wilcoxon" (one-sided, on per-image absolute errors) or "bootstrap"
    delta: float  # metric(entry) - metric(baseline) on the full test set
    ci_low: float  # bootstrap percentile interval; NaN for the Wilcoxon row
    ci_high: float
    p_value: float
    p_adjusted: float  # corrected over every row of the table
    better: bool  # delta points in the entry's favour
    significant: bool  # better and p_adjusted < alpha


def compare_to_baseline(
    y_true: ArrayLike,
    preds: Mapping[str, ArrayLike],
    baseline: str,
    metrics: Sequence[str] = METRICS,
    *,
    correction: Correction = "holm",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
    threshold: float = 5.0,
    n_jobs: int | None = None,
) -> list[Comparison]:
    """Every entry against ``baseline`` on the same test images, corrected over the whole table.

    For each entry other than the baseline: one row for the one-sided Wilcoxon test on per-image
    absolute errors (:func:`wilcoxon_abs_errors`, H1: the entry's errors are smaller; its delta
    is ΔMAE) and one row per metric for the two-sided paired bootstrap
    (:func:`paired_bootstrap_many`, shared resamples). All p-values of the table form one family
    for :func:`correct`. An entry is ``significant`` on a row when its delta favours it and the
    adjusted p-value is below ``alpha``; for a two-sided bootstrap row that is a one-sided test
    at level ``alpha / 2``.

    Args:
        y_true: target scores, shape (n,).
        preds: entry name -> predicted scores, including the baseline's.
        baseline: the name of the baseline entry in ``preds``.
        metrics: bootstrap metrics.
        correction: ``"holm"`` (default), ``"bonferroni"`` (as in [0]) or ``"none"``.
        alpha: family-wise significance level and ``1 - coverage`` of the intervals.
        n_resamples: bootstrap resamples.
        seed: seed of the resample indices.
        threshold: binarisation threshold for ``acc``.
        n_jobs: threads for the bootstrap.

    Returns:
        Rows ordered by entry (as in ``preds``), Wilcoxon row first.
    """
    if baseline not in preds:
        raise ValueError(f"Baseline {baseline!r} is not among the entries: {', '.join(preds)}.")
    entries = {k: v for k, v in preds.items() if k != baseline}
    if not entries:
        raise ValueError("Only the baseline was given; add at least one entry to compare.")
    boot = paired_bootstrap_many(
        y_true,
        entries,
        preds[baseline],
        metrics,
        n_resamples,
        seed,
        threshold=threshold,
        alpha=alpha,
        n_jobs=n_jobs,
    )
    y = _as_vector("y_true", y_true)
    b = _as_vector("baseline predictions", preds[baseline], y.size)
    _needs_scores("the Wilcoxon test on absolute errors", "y_true", y)
    _needs_scores("the Wilcoxon test on absolute errors", "baseline predictions", b)
    raw: list[tuple[str, str, str, float, float, float, float]] = []
    for name, pred in entries.items():
        a = _as_vector(f"predictions of {name!r}", pred, y.size)
        _needs_scores("the Wilcoxon test on absolute errors", f"predictions of {name!r}", a)
        d_mae = _metric_value(y, a, "mae", threshold) - _metric_value(y, b, "mae", threshold)
        raw.append((name, "mae", "wilcoxon", d_mae, math.nan, math.nan,
                    wilcoxon_abs_errors(y, a, b, "less")))
        for metric, res in boot[name].items():
            raw.append((name, metric, "bootstrap", *res))
    adjusted = correct([r[-1] for r in raw], correction, alpha)
    rows = []
    for (name, metric, test, delta, low, high, p), p_adj in zip(raw, adjusted, strict=True):
        better = bool(delta > 0) if HIGHER_IS_BETTER[metric] else bool(delta < 0)
        significant = better and bool(p_adj < alpha)
        rows.append(
            Comparison(name, baseline, metric, test, delta, low, high, p, float(p_adj), better,
                       significant)
        )
    return rows


# --------------------------------------------------------------------------------------------
# Trivial baselines
# --------------------------------------------------------------------------------------------


class ConstantBaseline(NamedTuple):
    """Predictions of the constant predictor for ``n_test`` images."""

    pred_mean: np.ndarray  # (n_test,) the training mean score
    pred_dist: np.ndarray | None  # (n_test, K) the training prior distribution, if any


def constant_baseline(
    train_targets: ArrayLike, n_test: int, score_values: ArrayLike | None = None
) -> ConstantBaseline:
    """The trivial predictor: every test image gets the training mean (and prior distribution).

    Any learned entry should beat it; it anchors a table (e.g. on AVA's 25,551 official-test vote
    histograms it scores MAE 0.578 and, thresholded at 5, accuracy 0.703 — the majority class).

    Args:
        train_targets: the training targets, either scores (n_train,) — the prediction is their
            mean — or per-image vote counts / probability distributions (n_train, K) — each row
            is normalised to sum 1, the prior is the mean of the rows, and the predicted score
            is the prior's mean ``prior @ score_values``, which equals the mean of the per-image
            mean scores.
        n_test: number of test images.
        score_values: the score of each of the K bins (default ``1..K``).

    Returns:
        ``ConstantBaseline(pred_mean, pred_dist)``; ``pred_dist`` is None for 1-D targets.
    """
    t = np.asarray(train_targets, dtype=np.float64)
    if n_test < 0:
        raise ValueError(f"n_test must be non-negative, got {n_test}.")
    if t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("train_targets must be non-empty and finite.")
    if t.ndim == 1:
        return ConstantBaseline(np.full(n_test, t.mean()), None)
    if t.ndim != 2:
        raise ValueError(f"train_targets must be (n,) scores or (n, K) votes, got {t.shape}.")
    sums = t.sum(axis=1, keepdims=True)
    if np.any(t < 0) or np.any(sums <= 0):
        raise ValueError("Every vote histogram / distribution must be non-negative with votes.")
    prior = (t / sums).mean(axis=0)  # (K,)
    k = t.shape[1]
    s = np.arange(1, k + 1, dtype=np.float64) if score_values is None else np.asarray(
        score_values, dtype=np.float64
    )
    if s.shape != (k,):
        raise ValueError(f"score_values must have {k} entries (one per bin), got {s.shape}.")
    return ConstantBaseline(np.full(n_test, prior @ s), np.tile(prior, (n_test, 1)))


def majority_class_accuracy(
    train_targets: ArrayLike, test_targets: ArrayLike, *, threshold: float = 5.0
) -> float:
    """Accuracy of always predicting the training set's majority class.

    Args:
        train_targets: training scores (binarised as ``score > threshold``) or bool labels.
        test_targets: test scores or bool labels, binarised the same way.
        threshold: binarisation threshold for numeric targets.

    Returns:
        The fraction of test images in the training majority class (a tie picks the positive
        class).
    """
    train = _binarise(_as_vector("train_targets", train_targets), threshold)
    test = _binarise(_as_vector("test_targets", test_targets), threshold)
    if train.size == 0 or test.size == 0:
        raise ValueError("majority_class_accuracy needs non-empty train and test targets.")
    majority = bool(train.mean() >= 0.5)
    return float(np.mean(test == majority))
