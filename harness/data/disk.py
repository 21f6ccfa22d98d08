"""What every on-disk dataset plugin shares: its settings base and finding its root folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from harness.errors import DataError
from harness.types import Settings


class DiskDatasetSettings(Settings):
    """Settings of a dataset read from its real on-disk layout.

    Attributes:
        root: the dataset's folder (``--set dataset.root=/data/AVA``).
        split_seed: seeds every random split and validation carve-out of the dataset. It is not
            the run seed: every run of a sweep sees the same test set.
        check_files: list the image folder once at load time so that a dataset with more than
            1 % missing images stops at once, naming the folder (never decodes an image).
    """

    root: str | None = None
    split_seed: int = Field(0, ge=0)
    check_files: bool = True


def dataset_root(settings: DiskDatasetSettings, dataset: str, example: str) -> Path:
    """The dataset's root folder, or a one-line error saying how to set it.

    Args:
        settings: the dataset's settings.
        dataset: plugin name (for the message).
        example: the usual setting, e.g. ``dataset.root=/data/AVA``.
    """
    if not settings.root:
        raise DataError(f"dataset {dataset!r} needs its folder: pass --set {example} (the "
                        f"section is dataset, pretrain or eval; see docs/datasets.md)")
    root = Path(settings.root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset {dataset!r}: the folder {root} (root) does not exist")
    return root.resolve()
