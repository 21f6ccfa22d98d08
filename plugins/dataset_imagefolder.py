"""Any folder tree of images, unlabeled: the pretraining data (``--set pretrain.dataset=imagefolder
--set pretrain.root=/data/pexels``).

Every file under ``root`` (recursively) whose name ends in .jpg, .jpeg, .png, .bmp or .webp (any
case) is an image; hidden files and folders are passed over. An unreadable file is skipped when
read and listed once in the run log and ``skipped.csv`` (the run stops only when more than 1 %
of the reads fail, naming the folder).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from harness import hookimpl
from harness.data.disk import DiskDatasetSettings, dataset_root
from harness.data.records import UNLABELED, Dataset, Records
from harness.data.scan import IMAGE_EXTENSIONS, image_files
from harness.data.splits import stable_split
from harness.errors import DataError
from harness.types import DatasetSpec

#: Pfister et al. 2021, §4.3: "we randomly split our dataset into 100 000 training images,
#: 15 000 validation, and 15 000 test images".
PAPER_FRACTIONS = (100 / 130, 15 / 130, 15 / 130)


class ImageFolderSettings(DiskDatasetSettings):
    """Defaults: Pfister et al.'s 100,000 / 15,000 / 15,000 split of their Pexels photos, as
    fractions (76.9 / 11.5 / 11.5 %).

    Attributes:
        fractions: train, val and test fractions. The split is stable: each file's part comes
            from a hash of ``split_seed`` and its relative path alone, so adding or removing
            files never moves the others.
        extensions: file name endings that count as images (compared case-insensitively).
    """

    fractions: tuple[float, float, float] = PAPER_FRACTIONS
    extensions: tuple[str, ...] = Field(IMAGE_EXTENSIONS, min_length=1)

    @field_validator("fractions")
    @classmethod
    def _sum_to_one(cls, value):
        if abs(sum(value) - 1) > 1e-6 or min(value) < 0 or value[0] <= 0:
            raise ValueError("train, val and test fractions must be >= 0 (train > 0) and sum "
                             "to 1")
        return value


def load(settings: ImageFolderSettings, purpose: str) -> Dataset:
    """The images under ``root`` with a stable train/val/test split (no labels, any purpose)."""
    root = dataset_root(settings, "imagefolder", "pretrain.root=/data/pexels")
    relative, other = image_files(root, settings.extensions)
    if not relative:
        raise DataError(f"imagefolder: no images ({', '.join(settings.extensions)}) under "
                        f"{root}")
    splits = stable_split(relative, settings.fractions, ("train", "val", "test"),
                          settings.split_seed)
    records = Records(image_id=np.array(relative), path=np.array([str(root / p) for p in relative]))
    notes = [f"{len(relative)} images under {root} (" + ", ".join(
        f"{k} {len(v)}" for k, v in splits.items()) + f"; stable split, split_seed "
        f"{settings.split_seed})"]
    if other:
        notes.append(f"{other} files that are not images were passed over")
    return Dataset("imagefolder", UNLABELED, records, {k: v for k, v in splits.items() if len(v)},
                   root=root, notes=notes)


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="imagefolder", summary="Any folder tree of images, unlabeled (pretraining data), "
                                    "stable hashed train/val/test split",
        references=("Pfister et al., Self-supervised multi-task pretraining improves image "
                    "aesthetic assessment, CVPR Workshops 2021, §4.2-4.3 (Pexels photos)",),
        version="1", defaults=ImageFolderSettings, factory=load, synthetic_format="imagefolder")]
