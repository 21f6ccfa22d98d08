"""From records to batches: a torch dataset over a split, an epoch-ordered resumable batch sampler,
and the bookkeeping of unreadable images (skipped, counted, listed once in ``skipped.csv``)."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import default_collate

from harness.data.records import Dataset
from harness.errors import DataError, ImageReadError
from harness.io import write_csv

log = logging.getLogger(__name__)

#: Above this fraction of unreadable images a run stops (after MIN_ATTEMPTS reads).
MAX_UNREADABLE = 0.01
MIN_ATTEMPTS = 200


class Samples(TorchDataset):
    """Images of ``dataset`` at ``indices``, transformed, with their labels when ``labels``.

    Keys are positions ``k`` or ``(k, epoch)`` pairs (what :class:`EpochBatchSampler` yields).
    Before transforming, the torch, NumPy and ``random`` generators are seeded from
    (seed, epoch, image), so random augmentations do not depend on the number of workers, on what
    ran before, or on whether the epoch was resumed.

    An unreadable image yields ``{"skipped": (image_id, path, reason)}`` instead of failing; the
    collate function drops it and the main process records it in a :class:`SkipLog`.
    """

    def __init__(self, dataset: Dataset, indices: np.ndarray, transform: Callable[[Any], Any],
                 labels: bool = True, seed: int = 0) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform
        self.seed = seed
        records = dataset.records
        self.columns: dict[str, np.ndarray] = {}
        if labels:
            if records.votes is not None:
                self.columns["dist"] = records.dist.astype(np.float32)
            if records.score is not None:
                self.columns["score"] = records.score.astype(np.float32)
            if records.binary is not None:
                self.columns["binary"] = records.binary.astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        k, epoch = key if isinstance(key, tuple) else (key, 0)
        i = int(self.indices[k])
        try:
            image = self.dataset.load_image(i)
        except ImageReadError as error:
            return {"skipped": (str(self.dataset.records.image_id[i]), error.path, error.reason)}
        seed_item(self.seed, epoch, i)
        item = {"image": self.transform(image), "index": i}
        for name, column in self.columns.items():
            item[name] = torch.as_tensor(column[i])
        return item


def seed_item(seed: int, epoch: int, index: int) -> None:
    """Seed torch, NumPy and ``random`` for one sample's augmentations."""
    value = int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])
    torch.random.default_generator.manual_seed(value)  # CPU only: no CUDA initialisation
    np.random.seed(value)
    random.seed(value)


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Default collation of the readable items; ``skipped`` lists the unreadable ones."""
    good = [item for item in items if "skipped" not in item]
    batch = default_collate(good) if good else {}
    batch["skipped"] = [item["skipped"] for item in items if "skipped" in item]
    return batch


class EpochBatchSampler(Sampler[list[int]]):
    """Batches in an order fixed by (seed, epoch), resumable at any step, shardable across ranks.

    Call :meth:`set_epoch` before iterating. With ``world_size > 1`` each rank takes every
    ``world_size``-th batch of the same global order (so ranks never see the same image).
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True,
                 drop_last: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start = epoch, start_step

    def _global_batches(self) -> list[np.ndarray]:
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch, 7919])
            order = rng.permutation(self.n)
        else:
            order = np.arange(self.n)
        batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size and len(batches) > 1:
            batches = batches[:-1]
        usable = len(batches) - len(batches) % self.world_size if self.world_size > 1 else len(batches)
        return batches[:usable]

    def steps_per_epoch(self) -> int:
        return len(self._global_batches()) // self.world_size

    def __len__(self) -> int:
        return self.steps_per_epoch() - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        mine = self._global_batches()[self.rank::self.world_size]
        for batch in mine[self.start:]:
            yield [(int(k), self.epoch) for k in batch]


def make_loader(samples: Samples, sampler: EpochBatchSampler, num_workers: int, pin: bool,
                seed: int) -> DataLoader:
    """A DataLoader over ``samples`` driven by ``sampler`` (workers persist across epochs)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(samples, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      pin_memory=pin, persistent_workers=num_workers > 0, generator=generator,
                      prefetch_factor=4 if num_workers > 0 else None)


class SkipLog:
    """Unreadable images seen during a run: logged once each, written to ``skipped.csv``.

    Raises :class:`DataError` naming the folder when more than 1 % of reads failed (after at
    least :data:`MIN_ATTEMPTS` reads).
    """

    def __init__(self, dataset_label: str, root: Path | None) -> None:
        self.label = dataset_label
        self.root = root
        self.rows: dict[str, tuple[str, str, str]] = {}
        self.attempts = 0
        self.failures = 0

    def record(self, batch: dict[str, Any]) -> None:
        skipped = batch.get("skipped", [])
        n_good = len(batch["image"]) if "image" in batch else 0
        if isinstance(batch.get("image"), (list, tuple)):
            n_good = len(batch["image"][0])
        self.attempts += n_good + len(skipped)
        self.failures += len(skipped)
        for image_id, path, reason in skipped:
            if image_id not in self.rows:
                self.rows[image_id] = (image_id, path, reason)
                log.warning("skipped unreadable image %s (%s)", path, reason)
        if self.attempts >= MIN_ATTEMPTS and self.failures > MAX_UNREADABLE * self.attempts:
            folder = self.root or Path(os.path.commonpath([r[1] for r in self.rows.values()]))
            raise DataError(f"{self.label}: {self.failures} of {self.attempts} images read so far "
                            f"are unreadable (> {MAX_UNREADABLE:.0%}); check the image folder {folder}")

    def write(self, path: Path) -> None:
        if self.rows:
            write_csv(path, pd.DataFrame(list(self.rows.values()),
                                         columns=["image_id", "path", "reason"]))
