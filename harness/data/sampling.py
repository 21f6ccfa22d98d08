"""Seeded subsets of a split: validation carve-outs and label fractions."""

from __future__ import annotations

import numpy as np

from harness.data.records import Records


def strata(records: Records, indices: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """A stratum per image: its binary label if the dataset has one, else its score decile."""
    if records.binary is not None:
        return records.binary[indices].astype(np.int64)
    if records.score is not None:
        score = records.score[indices]
        edges = np.quantile(score, np.linspace(0, 1, n_bins + 1)[1:-1])
        return np.searchsorted(edges, score, side="right")
    return np.zeros(len(indices), dtype=np.int64)


def stratified_fraction(records: Records, indices: np.ndarray, fraction: float, seed: int
                        ) -> np.ndarray:
    """A seeded, stratified ``fraction`` of ``indices`` (at least one image per stratum).

    Per stratum, ``round(fraction * size)`` images are drawn without replacement, so the class
    balance (or score distribution) of the subset matches the full split. Returned sorted.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    indices = np.asarray(indices)
    if fraction == 1:
        return indices
    rng = np.random.default_rng([seed, 104729])
    groups = strata(records, indices)
    chosen = []
    for group in np.unique(groups):
        members = indices[groups == group]
        k = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def carve(indices: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, carved) with a seeded ``fraction`` carved out (at least 1)."""
    indices = np.asarray(indices)
    rng = np.random.default_rng([seed, 15485863])
    k = max(1, int(round(fraction * len(indices))))
    mask = np.zeros(len(indices), dtype=bool)
    mask[rng.choice(len(indices), size=k, replace=False)] = True
    return np.sort(indices[~mask]), np.sort(indices[mask])
