"""Aesthetic label transforms of Zeng et al. [0]: each label type as a distribution for one CE loss.

Implements §III of [0]: vote counts → raw score distribution (RSD, Eq. 3), mean score (Eq. 1),
standard deviation, hard binary label (Eq. 2, 4), soft binary probability (Eq. 5), the fitted
Gaussian with noisy variance "Gaussian-NV" and the stabilised Gaussian "Gaussian-MV" (Eq. 12–17),
and :func:`make_target`, which turns vote counts into the target of each label type in Table II.
:func:`gaussian_mv_from_score` defines a Gaussian-MV target for datasets that publish only a mean
score (AADB). See ``docs/labels.md`` for the interpretations and the measured numbers.

Every function accepts a NumPy array or a torch tensor and returns the same type (torch: same
device, autograd preserved). Computation is in float64; the result has the input's dtype when that
is floating, else float64 (NumPy) or torch's default dtype (torch). Bins are the scores 1..M.

[0] H. Zeng, Z. Cao, L. Zhang, A. C. Bovik, "A Unified Probabilistic Formulation of Image
    Aesthetic Assessment", IEEE TIP 29, 2020. Code: github.com/HuiZeng/Unified_IAA.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

#: The label types of Table II of [0], in its order.
KINDS = ("binary", "score", "rsd", "gaussian_nv", "gaussian_mv")

#: Gaussian-MV defaults, quoted from [0] §III-D: "We empirically fix λ = 0.5 throughout this work"
#: and "we fixed the upper limit to be 1.5".
LAMBDA = 0.5
CAP = 1.5

#: σ_z² used by :func:`gaussian_mv_from_score` on the 1..10 grid: the median stabilised variance
#: min(0.5·σ², 1.5) of 25,551 real AVA vote histograms (1.01; docs/labels.md, "Score-only
#: datasets").
SCORE_ONLY_VAR = 1.0

# σ_z² below this is treated as 0: the sampled Gaussian collapses onto the nearest bin.
_MIN_VAR = 1e-12

Form = Literal["paper", "code"]


# --------------------------------------------------------------------------- array plumbing
def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """float64 view of ``x`` as a tensor (no copy for NumPy float64 input)."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64)
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}.")
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}.")


def _like(result: torch.Tensor, ref: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Return ``result`` as the type of ``ref``: same library, device and (floating) dtype."""
    if isinstance(ref, torch.Tensor):
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        return result.to(dtype)
    ref_dtype = np.asarray(ref).dtype
    dtype = ref_dtype if ref_dtype.kind == "f" else np.float64
    return result.detach().numpy().astype(dtype, copy=False)


def _bins(m: int, like: torch.Tensor) -> torch.Tensor:
    """The bin scores b = [1, 2, ..., M], shape (M,)."""
    return torch.arange(1, m + 1, dtype=like.dtype, device=like.device)


def _first_row(bad: torch.Tensor) -> int:
    """Index of the first True entry of a (N,) mask."""
    return int(bad.nonzero()[0, 0])


def _check_votes(v: torch.Tensor) -> None:
    """Validate vote counts (N, M): finite, non-negative, at least one vote per row."""
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"votes must have shape (N, M) with M >= 2, got {tuple(v.shape)}.")
    if not torch.isfinite(v).all():
        raise ValueError(f"votes row {_first_row(~torch.isfinite(v).all(-1))} is not finite.")
    if (v < 0).any():
        raise ValueError(f"votes row {_first_row((v < 0).any(-1))} has a negative count.")
    if (v.sum(-1) <= 0).any():
        raise ValueError(f"votes row {_first_row(v.sum(-1) <= 0)} has no votes; drop it first.")


def _check_dist(d: torch.Tensor) -> None:
    if d.ndim < 1 or d.shape[-1] < 2:
        raise ValueError(f"dist must have shape (..., M) with M >= 2, got {tuple(d.shape)}.")


def _check_form(form: str) -> None:
    if form not in ("paper", "code"):
        raise ValueError(f"form must be 'paper' or 'code', got {form!r}.")


# --------------------------------------------------------------------------- Eq. 1–5
def votes_to_distribution(votes: Array) -> Array:
    """Raw score distribution (RSD), Eq. (3) of [0]: y_nm = share of the votes for bin m.

    Args:
        votes: vote counts (N, M); column m counts votes for the score m+1.

    Returns:
        (N, M), each row non-negative and summing to 1.

    Raises:
        ValueError: a negative or non-finite count, or a row without votes (names the row).
    """
    v = _as_tensor(votes, "votes")
    _check_votes(v)
    return _like(v / v.sum(-1, keepdim=True), votes)  # (N, M)


def mean_score(dist: Array) -> Array:
    """Mean score, Eq. (1) of [0], from a distribution: μ = Σ_m b_m·y_m with b = 1..M.

    Equal to the average of the K ratings in Eq. (1) when ``dist`` is the RSD of Eq. (3); also
    how a predicted distribution is turned into a score (§III-C).

    Args:
        dist: distributions (..., M), typically (N, M); rows should sum to 1.

    Returns:
        (...,), typically (N,), in [1, M].
    """
    d = _as_tensor(dist, "dist")
    _check_dist(d)
    return _like((d * _bins(d.shape[-1], d)).sum(-1), dist)  # (...,)


def std_score(dist: Array) -> Array:
    """Standard deviation of the score, sqrt(Σ_m y_m·(b_m − μ)²), the σ_s of Eq. (14) of [0].

    The population form (divides by K, not K − 1), as the authors' code computes it from the RSD.

    Args:
        dist: distributions (..., M), typically (N, M).

    Returns:
        (...,), typically (N,).
    """
    d = _as_tensor(dist, "dist")
    _check_dist(d)
    return _like(_variance(d).sqrt(), dist)


def _variance(d: torch.Tensor) -> torch.Tensor:
    """Σ_m y_m·(b_m − μ)² for distributions (..., M) → (...,)."""
    b = _bins(d.shape[-1], d)
    mu = (d * b).sum(-1, keepdim=True)  # (..., 1)
    return (d * (b - mu) ** 2).sum(-1)  # (...,)


def binary_label(mean: Array, threshold: float = 5.0, delta: float = 0.0) -> Array:
    """Hard binary label, Eq. (2) of [0]: 1 if μ > threshold + δ, 0 if μ ≤ threshold − δ.

    ``threshold`` is the scale's mid-point b_⌈M/2⌉ (5 on AVA's 1..10; 0.5 for AADB's [0, 1]
    scores, as in the authors' code). Images in the ambiguous band (threshold − δ, threshold + δ]
    get NaN: the paper excludes them. AVA's standard partition is δ = 0, which leaves no band.

    Args:
        mean: mean scores (N,).
        threshold: the mid-point of the rating scale.
        delta: half-width of the excluded band, >= 0.

    Returns:
        (N,) floats: 1.0 (high), 0.0 (low) or NaN (excluded).
    """
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}.")
    mu = _as_tensor(mean, "mean")
    out = torch.full_like(mu, math.nan)
    out = torch.where(mu > threshold + delta, torch.ones_like(mu), out)
    out = torch.where(mu <= threshold - delta, torch.zeros_like(mu), out)
    return _like(out, mean)


def soft_binary(mean: Array, top: float = 10.0) -> Array:
    """Soft binary probability, Eq. (5) of [0]: P(x ∈ C_high) = μ / b_M.

    Taken literally (the authors' code divides AVA scores by 10): on AVA it spans [0.1, 1], not
    [0, 1] as the text says. For scores already in [0, 1] (AADB) pass ``top=1``.

    Args:
        mean: mean scores (N,).
        top: b_M, the highest score of the scale.

    Returns:
        (N,) probabilities P(high).
    """
    return _like(_as_tensor(mean, "mean") / top, mean)


# --------------------------------------------------------------------------- Eq. 12–17
def stabilised_variance(votes: Array, lam: float = LAMBDA, cap: float = CAP) -> Array:
    """σ_z² of Eq. (16)–(17) of [0]: min((1 − λ)·σ_s², cap), σ_s² the variance of the votes.

    Eq. (15) models the rating noise as σ_v² = λ·σ_s², so Eq. (16) keeps σ_z² = (1 − λ)·σ_s²;
    with λ = 0.5 this is Eq. (17), min(0.5·σ_s², 1.5). λ = 0 and cap = inf give the noisy
    variance σ_s² of Gaussian-NV.

    Args:
        votes: vote counts (N, M).
        lam: λ in [0, 1], the share of the observed variance attributed to noise.
        cap: upper limit on σ_z² (``math.inf`` for none).

    Returns:
        (N,) variances in squared score units.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1] (Eq. 15), got {lam}.")
    if not cap > 0:
        raise ValueError(f"cap must be > 0, got {cap}.")
    v = _as_tensor(votes, "votes")
    _check_votes(v)
    var = _variance(v / v.sum(-1, keepdim=True))  # (N,)
    return _like(((1.0 - lam) * var).clamp(max=cap), votes)


def discretised_gaussian(mu: Array, var: Array, m: int = 10, form: Form = "paper") -> Array:
    """A Gaussian sampled at the bins 1..M and L1-normalised (§III-D of [0], last paragraph).

    ``form="paper"`` samples exp(−(b − μ)² / (2·var)), a Gaussian of variance ``var`` as the paper
    describes. ``form="code"`` samples exp(−(b − μ)² / var) as the authors' MATLAB code
    (setup_AVA.m) does, i.e. a Gaussian of variance var / 2. A variance of 0 puts all mass on the
    bin nearest μ (the limit var → 0).

    Args:
        mu: means (N,), on the 1..M scale.
        var: variances (N,), >= 0, in squared bin units.
        m: number of bins M.
        form: "paper" or "code".

    Returns:
        (N, M) distributions.
    """
    _check_form(form)
    mu_t = _as_tensor(mu, "mu")
    var_t = _as_tensor(var, "var")
    bad = ~(torch.isfinite(var_t) & (var_t >= 0))
    if bad.any():
        raise ValueError(f"var row {_first_row(bad.reshape(-1))} is negative or not finite.")
    b = _bins(m, mu_t)
    width = var_t.clamp(min=_MIN_VAR) * (2.0 if form == "paper" else 1.0)  # (N,)
    logits = -((b - mu_t[..., None]) ** 2) / width[..., None]  # (N, M)
    return _like(torch.softmax(logits, dim=-1), mu)  # exp then L1-normalise, stably


def gaussian_mv(votes: Array, lam: float = LAMBDA, cap: float = CAP, form: Form = "paper") -> Array:
    """Stabilised Gaussian label "Gaussian-MV", Eq. (12)–(17) of [0].

    Mean μ_z = μ_s (Eq. 13), the mean of the votes; variance σ_z² = min((1 − λ)·σ_s², cap)
    (Eq. 16–17, see :func:`stabilised_variance`); the Gaussian N(μ_z, σ_z²) is sampled at the
    bins 1..M and L1-normalised. ``form="code"`` uses the authors' exp(−(μ − k)²/σ_z²), half the
    paper's variance (see :func:`discretised_gaussian`).

    Args:
        votes: vote counts (N, M).
        lam: λ of Eq. (15); the paper's 0.5.
        cap: the upper limit of Eq. (17); the paper's 1.5.
        form: "paper" or "code".

    Returns:
        (N, M) distributions over the bins 1..M.
    """
    _check_form(form)
    v = _as_tensor(votes, "votes")
    var = stabilised_variance(v, lam=lam, cap=cap)  # (N,), validates votes
    mu = mean_score(v / v.sum(-1, keepdim=True))  # (N,)
    return _like(discretised_gaussian(mu, var, m=v.shape[1], form=form), votes)


def gaussian_nv(votes: Array, form: Form = "paper") -> Array:
    """Fitted Gaussian with the noisy variance, "Gaussian-NV" of Table II of [0] (after Wang et al.)

    As :func:`gaussian_mv` with σ_z² = σ_s² unscaled and uncapped (λ = 0, no cap).

    Args:
        votes: vote counts (N, M).
        form: "paper" or "code" (the code's ``Gauss_OV``).

    Returns:
        (N, M) distributions over the bins 1..M.
    """
    return gaussian_mv(votes, lam=0.0, cap=math.inf, form=form)


# --------------------------------------------------------------------------- Table II targets
def make_target(
    votes: Array,
    kind: str,
    *,
    lam: float = LAMBDA,
    cap: float = CAP,
    form: Form = "paper",
    delta: float = 0.0,
) -> Array:
    """The CE target of one label type of Table II of [0], from vote counts.

    Every target is a distribution, so one softmax-CE loss −Σ t·log softmax(z) (Eq. 10) trains
    them all. The two-class targets are ordered [low, high]; a 2-way softmax over them equals the
    sigmoid CE of Eq. (11) on z_high − z_low, and for hard labels the logistic loss.

    - ``binary`` (N, 2): [1 − c, c], c of Eq. (2) at b_⌈M/2⌉ (5 on AVA), as in Eq. (4); rows
      are NaN where δ > 0 excludes the image.
    - ``score`` (N, 2): [1 − μ/b_M, μ/b_M], Eq. (5).
    - ``rsd`` (N, M): the raw score distribution, Eq. (3).
    - ``gaussian_nv`` (N, M): :func:`gaussian_nv`.
    - ``gaussian_mv`` (N, M): :func:`gaussian_mv`, Eq. (12)–(17).

    Args:
        votes: vote counts (N, M) for the scores 1..M.
        kind: one of :data:`KINDS`.
        lam, cap, form: passed to :func:`gaussian_mv` (``form`` also to gaussian_nv).
        delta: δ of Eq. (2) for ``binary``.

    Returns:
        (N, 2) or (N, M) as above.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown label kind {kind!r}; expected one of {', '.join(KINDS)}.")
    v = _as_tensor(votes, "votes")
    _check_votes(v)
    m = v.shape[1]
    if kind == "rsd":
        out = v / v.sum(-1, keepdim=True)  # (N, M)
    elif kind == "gaussian_mv":
        out = gaussian_mv(v, lam=lam, cap=cap, form=form)
    elif kind == "gaussian_nv":
        out = gaussian_nv(v, form=form)
    else:
        mu = mean_score(v / v.sum(-1, keepdim=True))  # (N,)
        if kind == "binary":
            p = binary_label(mu, threshold=float(math.ceil(m / 2)), delta=delta)
        else:
            p = soft_binary(mu, top=float(m))
        out = torch.stack([1.0 - p, p], dim=-1)  # (N, 2): [low, high]
    return _like(out, votes)


# --------------------------------------------------------------------------- score-only datasets
def gaussian_mv_from_score(
    score: Array,
    m: int = 10,
    var: float | None = None,
    lo: float = 0.0,
    hi: float = 1.0,
    form: Form = "paper",
) -> Array:
    """A Gaussian-MV-style target from a mean score alone, for datasets without vote histograms.

    AADB publishes only each image's mean score in [0, 1]; the authors built Gaussian-MV from the
    individual ratings, which its public files lack. Here the score is mapped linearly onto the
    bins, μ = 1 + (M − 1)·(score − lo)/(hi − lo), and σ_z² is a fixed value: by default
    :data:`SCORE_ONLY_VAR` (the median Gaussian-MV variance on real AVA) scaled by ((M − 1)/9)²,
    i.e. the same width relative to the scale as a typical AVA target. Near the ends of the scale
    the truncated Gaussian's mean is pulled inwards (up to 0.058 of the range at score 0 or 1 with
    M = 10); see docs/labels.md.

    Args:
        score: mean scores (N,) in [lo, hi].
        m: number of bins M (10 to share a 10-way head with AVA; 9 gives the authors' AADB grid
            of half-rating steps 1, 1.5, ..., 5).
        var: σ_z² in squared bin units; None for the default rule above.
        lo, hi: the score scale.
        form: "paper" or "code", as in :func:`discretised_gaussian`.

    Returns:
        (N, M) distributions over the bins 1..M.
    """
    if m < 2:
        raise ValueError(f"m must be >= 2, got {m}.")
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}.")
    s = _as_tensor(score, "score")
    if s.ndim != 1:
        raise ValueError(f"score must have shape (N,), got {tuple(s.shape)}.")
    outside = ~((s >= lo) & (s <= hi))  # also catches NaN
    if outside.any():
        raise ValueError(f"score row {_first_row(outside)} is outside [{lo}, {hi}].")
    if var is None:
        var = SCORE_ONLY_VAR * ((m - 1) / 9.0) ** 2
    if not var >= 0:
        raise ValueError(f"var must be >= 0, got {var}.")
    mu = 1.0 + (m - 1) * (s - lo) / (hi - lo)  # (N,)
    out = discretised_gaussian(mu, torch.full_like(mu, var), m=m, form=form)
    return _like(out, score)
