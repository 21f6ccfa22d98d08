"""Seeded splits for datasets that ship without an official one.

Each function is deterministic in its arguments (NumPy ``default_rng`` keyed by the seed and a
fixed stream number), so every run of a sweep sees the same test set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np


def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of a seeded random partition of ``range(n)``.

    CUHK-PQ's usual protocol (Sheng et al., AAAI 2020, §4: "a random 50/50 split"): the
    test part has ``round(test_fraction * n)`` images. Both returned sorted.
    """
    order = np.random.default_rng([seed, 5050]).permutation(n)
    k = int(round(test_fraction * n))
    return np.sort(order[k:]), np.sort(order[:k])


def kfold_split(n: int, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of fold ``fold`` of a seeded ``folds``-fold partition of ``range(n)``.

    The folds are the consecutive chunks of one seeded permutation (sizes differ by at most
    one), so the ``folds`` test parts are disjoint and cover every image once.
    """
    if not 2 <= folds <= n or not 0 <= fold < folds:
        raise ValueError(f"need 2 <= folds <= {n} and 0 <= fold < folds, got folds={folds}, "
                         f"fold={fold}")
    order = np.random.default_rng([seed, 5]).permutation(n)
    chunks = np.array_split(order, folds)
    test = np.sort(chunks[fold])
    return np.sort(np.concatenate([c for k, c in enumerate(chunks) if k != fold])), test


def group_split(groups: np.ndarray, test_fraction: float, val_fraction: float, seed: int
                ) -> dict[str, np.ndarray]:
    """A group-disjoint train/val/test split: every group lies in exactly one part.

    TID2013 by reference image: ``round(test_fraction * G)`` of the G groups (seeded) form the
    test part; ``round(val_fraction * remaining)`` of the rest (at least one where two or more
    remain) form val; the others are train. No content is shared across the parts.

    Args:
        groups: (N,) group label of each image.
    Returns:
        ``{"train", "val", "test"}`` -> sorted indices into ``groups``.
    """
    names = np.unique(groups)
    order = names[np.random.default_rng([seed, 2013]).permutation(len(names))]
    n_test = int(round(test_fraction * len(names)))
    rest = order[n_test:]
    n_val = int(round(val_fraction * len(rest)))
    if val_fraction > 0 and len(rest) >= 2:
        n_val = max(1, n_val)
    parts = {"test": order[:n_test], "val": rest[:n_val], "train": rest[n_val:]}
    return {name: np.flatnonzero(np.isin(groups, members)) for name, members in parts.items()}


def stable_unit(keys: Iterable[str], salt: int) -> np.ndarray:
    """(N,) numbers in [0, 1), one per key, from a hash (BLAKE2b) of ``salt`` and the key.

    A key's number depends on that key alone, so adding or removing other files never moves it
    to another part of a :func:`stable_split`.
    """
    out = [int.from_bytes(hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=7).digest(),
                          "big") for key in keys]  # 56 bits: exact in float64, so always < 1
    return np.array(out, dtype=np.float64) / 2.0**56


def stable_split(keys: Sequence[str], fractions: Sequence[float], names: Sequence[str],
                 salt: int) -> dict[str, np.ndarray]:
    """Assign each key to part ``names[j]`` where its :func:`stable_unit` falls in the j-th
    interval of the cumulative ``fractions``. Expected part sizes are ``fractions * N``."""
    unit = stable_unit(keys, salt)
    edges = np.cumsum(fractions)[:-1]
    part = np.searchsorted(edges, unit, side="right")  # (N,) in 0..len(names)-1
    return {name: np.flatnonzero(part == j) for j, name in enumerate(names)}
