"""CUHK-PQ (Luo, Wang & Tang, ICCV 2011) read from its folder layout.

Layout (``--set dataset.root=/data/PhotoQualityDataset``)::

    HighQuality/<category>/<image>    binary label 1
    LowQuality/<category>/<image>     binary label 0

with the seven categories animal, architecture, human, landscape, night, plant and static. The
folder is the label; the dataset has no label file and no split file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from harness import hookimpl
from harness.data.disk import DiskDatasetSettings, dataset_root
from harness.data.parsing import metrics_note, require_dir
from harness.data.records import Dataset, LabelSpec, Records
from harness.data.sampling import carve
from harness.data.scan import image_files
from harness.data.splits import kfold_split, random_split
from harness.errors import DataError
from harness.types import DatasetSpec

CLASSES = (("HighQuality", 1), ("LowQuality", 0))
CATEGORIES = ("animal", "architecture", "human", "landscape", "night", "plant", "static")

#: Binary labels only (high / low quality); predictions are scores in [0, 1] cut at 0.5.
CUHKPQ_LABELS = LabelSpec(kinds=frozenset({"binary"}), scale=(0.0, 1.0), threshold=0.5)


class CuhkpqSettings(DiskDatasetSettings):
    """Defaults: "a random 50/50 split" (Sheng et al., AAAI 2020, §4: "Commonly used
    training/testing partitions on this dataset include a random 50/50 split and a five-fold
    split for cross-validation. We use the former one").

    Attributes:
        folds: 0 for the seeded 50/50 split; k >= 2 for k-fold cross-validation ("a five-fold
            split": ``folds=5``), testing on fold ``fold``.
        fold: the test fold, 0..folds-1.
        val_fraction: the seeded fraction of the training part that forms val.
    """

    folds: int = Field(0, ge=0)
    fold: int = Field(0, ge=0)
    val_fraction: float = Field(0.05, ge=0, lt=1)

    @model_validator(mode="after")
    def _fold_in_range(self):
        if self.folds == 1:
            raise ValueError("folds must be 0 (the 50/50 split) or at least 2")
        if self.folds and self.fold >= self.folds:
            raise ValueError(f"fold must be below folds ({self.folds}), got {self.fold}")
        return self


def photo_quality_root(root: Path) -> Path:
    """``root``, or ``root/PhotoQualityDataset`` where the archive unpacked into that folder."""
    nested = root / "PhotoQualityDataset"
    if not (root / "HighQuality").is_dir() and (nested / "HighQuality").is_dir():
        return nested
    return root


def scan(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every image under HighQuality/ and LowQuality/, sorted by relative path.

    Returns:
        relative paths (N,), binary labels (N,) int8, categories (N,), other files passed over.
    """
    paths, labels, categories, other = [], [], [], 0
    for folder, label in CLASSES:
        found, skipped = image_files(require_dir(root / folder, "CUHK-PQ class folder"))
        other += skipped
        paths += [f"{folder}/{name}" for name in found]
        labels += [label] * len(found)
        categories += [name.split("/")[0] if "/" in name else "" for name in found]
    order = np.argsort(paths, kind="stable")
    return (np.array(paths)[order], np.array(labels, dtype=np.int8)[order],
            np.array(categories)[order], other)


def load(settings: CuhkpqSettings, purpose: str) -> Dataset:
    """The CUHK-PQ dataset (the same records for ``labelled`` and ``pretrain``)."""
    root = photo_quality_root(dataset_root(settings, "cuhkpq",
                                           "dataset.root=/data/PhotoQualityDataset"))
    relative, binary, category, other = scan(root)
    if not len(relative) or binary.min() == binary.max():
        raise DataError(f"CUHK-PQ: {root}/HighQuality and {root}/LowQuality must both hold "
                        f"images ({int(binary.sum())} high, {int((1 - binary).sum())} low found)")
    notes = [f"{int(binary.sum())} high-quality and {int((1 - binary).sum())} low-quality images"]
    if other:
        notes.append(f"{other} files that are not images were passed over (e.g. Thumbs.db)")
    unknown = sorted(set(category) - set(CATEGORIES))
    if unknown:
        notes.append(f"categories beyond the seven of Luo et al.: {', '.join(unknown)}")
    if settings.folds:
        train, test = kfold_split(len(relative), settings.folds, settings.fold,
                                  settings.split_seed)
        notes.append(f"fold {settings.fold} of a seeded {settings.folds}-fold split")
    else:
        train, test = random_split(len(relative), 0.5, settings.split_seed)
        notes.append(f"a seeded random 50/50 split (split_seed {settings.split_seed})")
    splits = {"train": train, "test": test}
    if settings.val_fraction > 0:
        splits["train"], splits["val"] = carve(train, settings.val_fraction, settings.split_seed)
    records = Records(image_id=relative, path=np.array([str(root / p) for p in relative]),
                      binary=binary, extra={"category": category})
    notes.append(metrics_note("CUHK-PQ", CUHKPQ_LABELS))
    return Dataset("cuhkpq", CUHKPQ_LABELS, records, splits, root=root, notes=notes)


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="cuhkpq", summary="CUHK-PQ (17,690 photos, high/low quality by folder), seeded 50/50 "
                               "or k-fold split",
        references=("Luo, Wang & Tang, Content-based photo quality assessment, ICCV 2011",
                    "Sheng et al., Revisiting image aesthetic assessment via self-supervised "
                    "feature learning, AAAI 2020 (50/50 split)"),
        version="1", defaults=CuhkpqSettings, factory=load, synthetic_format="cuhkpq")]
