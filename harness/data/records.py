"""Labelled image lists: what a dataset plugin returns.

Records are columnar NumPy arrays (paths and labels), never decoded images, so a 255k-row AVA list
costs a few tens of megabytes and parses in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from harness.errors import DataError

LABEL_KINDS = ("distribution", "score", "binary")


@dataclass(frozen=True)
class LabelSpec:
    """Which labels a dataset has and what its scores mean.

    Attributes:
        kinds: subset of ``{"distribution", "score", "binary"}``.
        scale: (low, high) of the score, e.g. (1, 10) for AVA, (0, 1) for AADB, (0, 9) for TID2013.
        threshold: the binary label is ``score > threshold`` (AVA: 5; AADB: 0.5).
        bins: the score value of each distribution bin (AVA: 1..10), or None.
    """

    kinds: frozenset[str]
    scale: tuple[float, float] = (1.0, 10.0)
    threshold: float = 5.0
    bins: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        unknown = set(self.kinds) - set(LABEL_KINDS)
        if unknown:
            raise ValueError(f"unknown label kinds {sorted(unknown)}; expected {LABEL_KINDS}")

    @property
    def n_bins(self) -> int:
        return len(self.bins) if self.bins else 0

    def has(self, kind: str) -> bool:
        return kind in self.kinds

    def to_json(self) -> dict:
        return {"kinds": sorted(self.kinds), "scale": list(self.scale),
                "threshold": self.threshold, "bins": list(self.bins) if self.bins else None}


UNLABELED = LabelSpec(kinds=frozenset())

#: AVA-style 10-bin score distribution over the scores 1..10.
AVA_LABELS = LabelSpec(kinds=frozenset(LABEL_KINDS), scale=(1.0, 10.0), threshold=5.0,
                       bins=tuple(float(b) for b in range(1, 11)))


@dataclass(frozen=True)
class Records:
    """N labelled images, column by column.

    Attributes:
        image_id: (N,) str ids, unique within the dataset.
        path: (N,) str absolute paths ("" where the dataset renders images itself).
        votes: (N, M) float vote counts (or an already normalised distribution), or None.
        score: (N,) float score on the dataset's scale, or None.
        binary: (N,) int8 0/1 labels, or None.
        extra: more per-image columns (N,) a plugin wants to keep (e.g. ``latent_quality``).
    """

    image_id: np.ndarray
    path: np.ndarray
    votes: np.ndarray | None = None
    score: np.ndarray | None = None
    binary: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.image_id)
        for name in ("path", "votes", "score", "binary"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValueError(f"Records.{name} has {len(column)} rows, image_id has {n}")

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def dist(self) -> np.ndarray | None:
        """(N, M) normalised score distribution (votes / total), or None."""
        if self.votes is None:
            return None
        total = self.votes.sum(axis=1, keepdims=True)
        return self.votes / np.where(total > 0, total, 1)

    def subset(self, index: np.ndarray) -> Records:
        """The rows at ``index`` (int array or boolean mask)."""
        take = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(self, image_id=self.image_id[index], path=self.path[index],
                       votes=take(self.votes), score=take(self.score), binary=take(self.binary),
                       extra={k: v[index] for k, v in self.extra.items()})


class Dataset:
    """A dataset as the runner sees it: records, labels, splits, and how to read one image.

    Dataset plugins return an instance (or a subclass that overrides :meth:`load_image`, as the
    synthetic dataset does to render images in memory).

    Attributes:
        name: the plugin name.
        labels: which labels exist and their scale.
        records: every image of the dataset.
        splits: split name ("train", "val", "test", ...) -> int indices into ``records``.
        root: the folder the dataset was read from (for messages), or None.
        notes: lines worth showing once in the run log (e.g. "70 test ids have no labels").
    """

    def __init__(self, name: str, labels: LabelSpec, records: Records,
                 splits: dict[str, np.ndarray], root: Path | None = None,
                 notes: list[str] | None = None) -> None:
        self.name = name
        self.labels = labels
        self.records = records
        self.splits = {k: np.asarray(v, dtype=np.int64) for k, v in splits.items()}
        self.root = Path(root) if root is not None else None
        self.notes = list(notes or [])
        for split, index in self.splits.items():
            if len(index) and (index.min() < 0 or index.max() >= len(records)):
                raise ValueError(f"dataset {name!r}: split {split!r} indexes outside its records")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.name!r}, n={len(self.records)}, {sizes})"

    def split(self, name: str) -> np.ndarray:
        """Indices of a split, or a one-line error listing the splits there are."""
        if name not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {name!r}; it has: "
                            f"{', '.join(self.splits) or 'none'}")
        return self.splits[name]

    def load_image(self, index: int) -> Image.Image:
        """The RGB image of record ``index``; raises :class:`harness.errors.ImageReadError`."""
        from harness.data.images import read_rgb

        return read_rgb(self.records.path[index])
