"""TID2013 (Ponomarenko et al., Signal Processing: Image Communication 2015) read from its files.

Layout (``--set dataset.root=/data/tid2013``)::

    mos_with_names.txt     <mos> <name> per line, CRLF line endings (3,000 rows)
    mos_std.txt            the standard deviation of each MOS, same order (optional)
    distorted_images/      i01_01_1.bmp ... i25_24_5.bmp
    reference_images/      I01.BMP ... i25.bmp (not read: the names give the reference)

Names are ``iRR_DD_L.bmp`` (reference, distortion type, level) in mixed case: 75 rows say
``I01_01_1.bmp`` or ``I01_11_1.BMP`` while copies on disk may store another case, so names are
resolved case-insensitively. The MOS scale is 0..9 (observed 0.24242 to 7.21429).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from harness import hookimpl
from harness.data.disk import DiskDatasetSettings, dataset_root
from harness.data.parsing import (
    check_range,
    metrics_note,
    parse_float_column,
    parse_name_value,
    require_dir,
    require_file,
    unique_names,
)
from harness.data.records import Dataset, LabelSpec, Records
from harness.data.scan import FolderIndex, missing_note
from harness.data.splits import group_split
from harness.errors import DataError
from harness.types import DatasetSpec

MOS_FILE, STD_FILE = "mos_with_names.txt", "mos_std.txt"
NAME = re.compile(r"^i(\d{2})_(\d{2})_(\d)\.bmp$", re.IGNORECASE)

#: MOS on the nominal 0..9 scale. No binary label: TID2013 measures technical quality and has
#: no agreed cut-off, so accuracy would be computed on a meaningless label (the threshold below
#: is the scale's midpoint and is never used for a metric).
TID_LABELS = LabelSpec(kinds=frozenset({"score"}), scale=(0.0, 9.0), threshold=4.5)


class Tid2013Settings(DiskDatasetSettings):
    """Defaults: a reference-disjoint 80/20 split, seeded (as pyiqa's 10 random splits of
    "20 refs train / 5 refs val"), and ``all`` for evaluation on every image, as Pfister et al.
    2021 (§4.6) and Talebi & Milanfar 2018 test a model trained on AVA.

    Attributes:
        split: ``reference80``: 20 % of the 25 reference images (5) and all their distorted
            versions are test; of the other 20, ``val_fraction`` (10 %: 2) are val, the rest
            train. ``all``: every image is test (no train or val; for ``eval.dataset=tid2013``).
            Every split mode also offers the split ``all`` (``eval.use_split=all``).
        val_fraction: the fraction of the non-test references that form val.
    """

    split: Literal["reference80", "all"] = "reference80"
    val_fraction: float = Field(0.1, ge=0, lt=1)


def parse_names(path: Path, names: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N, 3) int64 (reference, distortion, level) of each ``iRR_DD_L.bmp`` name."""
    out = []
    for name, row in zip(names.tolist(), rows.tolist()):
        match = NAME.match(name)
        if match is None:
            raise DataError(f"{path}:{row}: image name {name!r} is not of the form iRR_DD_L.bmp")
        out.append([int(g) for g in match.groups()])
    return np.array(out, dtype=np.int64).reshape(-1, 3)  # (N, 3)


def read_labels(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
                                     list[str]]:
    """names, MOS, (reference, distortion, level), std (or None) and notes."""
    path = require_file(root / MOS_FILE, "TID2013 label file")
    names, mos, rows = parse_name_value(path, "TID2013 label file", value_first=True)
    check_range(path, rows, mos, *TID_LABELS.scale, "MOS")
    unique_names(path, np.char.lower(names.astype(str)), rows)
    parts = parse_names(path, names, rows)
    notes = []
    std = None
    if (root / STD_FILE).is_file():
        std = parse_float_column(root / STD_FILE, "TID2013 std file")
        if len(std) != len(mos):
            raise DataError(f"{root / STD_FILE}: {len(std)} rows, but {MOS_FILE} has {len(mos)}")
    else:
        notes.append(f"{root / STD_FILE} is absent: no MOS standard deviations")
    return names, mos, parts, std, notes


def load(settings: Tid2013Settings, purpose: str) -> Dataset:
    """The TID2013 dataset (the same records for ``labelled`` and ``pretrain``)."""
    root = dataset_root(settings, "tid2013", "dataset.root=/data/tid2013")
    names, mos, parts, std, notes = read_labels(root)
    folder = require_dir(root / "distorted_images", "TID2013 image folder")
    if settings.check_files:
        paths, found = FolderIndex(folder).resolve(names)
        note = missing_note("tid2013", folder, MOS_FILE, list(names[~found]), len(names))
        notes += [note] if note else []
    else:
        paths = np.array([str(folder / name) for name in names])
    reference = parts[:, 0]
    everything = np.arange(len(names))
    if settings.split == "all":
        splits = {"test": everything}
        notes.append("split all: every image is test (no train or val split; use as "
                     "eval.dataset=tid2013)")
    else:
        splits = group_split(reference, 0.2, settings.val_fraction, settings.split_seed)
        notes.append(f"reference-disjoint split (split_seed {settings.split_seed}): test "
                     f"references {_refs(reference, splits['test'])}, val "
                     f"{_refs(reference, splits['val'])}")
    splits["all"] = everything
    extra = {"reference": reference, "distortion": parts[:, 1], "level": parts[:, 2]}
    if std is not None:
        extra["mos_std"] = std
    records = Records(image_id=np.array([Path(n).stem.lower() for n in names]), path=paths,
                      score=mos, extra=extra)
    notes.append(metrics_note("TID2013", TID_LABELS))
    return Dataset("tid2013", TID_LABELS, records, {k: v for k, v in splits.items() if len(v)},
                   root=folder, notes=notes)


def _refs(reference: np.ndarray, index: np.ndarray) -> str:
    return ",".join(f"{r:02d}" for r in np.unique(reference[index])) or "none"


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="tid2013", summary="TID2013 (3,000 distorted images, MOS 0..9), reference-disjoint "
                                "80/20 or all-test split",
        references=("Ponomarenko et al., Image database TID2013: Peculiarities, results and "
                    "perspectives, Signal Processing: Image Communication 30, 2015",),
        version="1", defaults=Tid2013Settings, factory=load, synthetic_format="tid2013")]
