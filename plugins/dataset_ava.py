"""AVA (Murray, Marchesotti & Perronnin, CVPR 2012) read from its distributed files.

Layout (``--set dataset.root=/data/AVA``)::

    AVA.txt                                  255,530 rows of 15 integers, no header
    aesthetics_image_lists/generic_test.jpgl the standard test list (20,000 ids, one per line)
    images/<id>.jpg                          (or the common nested images/images/<id>.jpg)

``AVA.txt`` columns: row index, image id, the vote counts for the scores 1..10, two semantic tag
ids (0 = none), challenge id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from harness import hookimpl
from harness.data.disk import DiskDatasetSettings, dataset_root
from harness.data.parsing import (
    metrics_note,
    parse_int_table,
    read_lines,
    require_file,
    summarise_rows,
)
from harness.data.records import AVA_LABELS, Dataset, Records
from harness.data.sampling import carve
from harness.data.scan import FolderIndex, missing_note
from harness.errors import DataError
from harness.types import DatasetSpec

AVA_TXT = "AVA.txt"
TEST_LIST = "aesthetics_image_lists/generic_test.jpgl"
N_COLUMNS = 15
SPLIT_NAMES = ("train", "val", "test")


class AvaSettings(DiskDatasetSettings):
    """Defaults: the standard partition of Murray et al. 2012 (test = ``generic_test.jpgl``,
    "19,930 (testing)" of its 20,000 ids have a row in ``AVA.txt``; train = every other row),
    validation = a seeded 5 % of train (``val_fraction``, ``split_seed``).

    Attributes:
        val_fraction: the seeded fraction of train that forms val where there is no val list
            (AVA has none; the runner's own fallback is also 5 %).
        split: ``standard``, or the path of a split file (absolute, or relative to ``root``)
            with one ``<image id>[.jpg] <train|val|test>`` per line (``#`` starts a comment).
            Images it does not list are left out; without ``val`` rows, val is carved from train.
        image_dir: the image folder, relative to ``root`` or absolute; empty = ``images/``, or
            ``images/images/`` where the archive unpacked into a nested folder.
        zero_votes: a row whose 10 vote counts are all 0 has no label. ``skip`` (default) leaves
            it out with a note naming the row; ``error`` stops with that line instead.
        binary_at_five: the binary label is ``mean > 5`` (Talebi & Milanfar 2018, the issue's
            rule). True uses ``mean >= 5`` ("no less than 5.0", Sheng et al. 2020 after Ma et
            al. 2017); they differ only on images whose mean is exactly 5.
    """

    val_fraction: float = Field(0.05, ge=0, lt=1)
    split: str = "standard"
    image_dir: str | None = None
    zero_votes: Literal["skip", "error"] = "skip"
    binary_at_five: bool = False


def read_ava_txt(path: Path, zero_votes: str = "skip") -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, list[str]]:
    """Parse ``AVA.txt`` into arrays.

    Returns:
        ids (N,) int64, votes (N, 10) float64, meta (N, 3) int64 (tag 1, tag 2, challenge),
        notes (skipped rows). Rows with zero votes (when ``zero_votes="skip"``) and repeated
        image ids (the first row wins) are left out.

    Raises:
        DataError: a row without 15 integers, a negative vote count, or (``zero_votes="error"``)
            a row with zero votes, naming file and line.
    """
    table = parse_int_table(path, N_COLUMNS, "AVA label file")  # (N, 15)
    lines = _LineNumbers(path)
    ids, votes, meta = table[:, 1], table[:, 2:12], table[:, 12:15]  # (N,), (N, 10), (N, 3)
    negative = np.flatnonzero((votes < 0).any(axis=1))
    if len(negative):
        raise DataError(f"{path}:{lines[negative[0]]}: vote counts must be >= 0")
    notes = []
    keep = np.ones(len(table), dtype=bool)
    empty = np.flatnonzero(votes.sum(axis=1) == 0)
    if len(empty):
        first = empty[0]
        if zero_votes == "error":
            raise DataError(f"{path}:{lines[first]}: image {ids[first]} has zero votes (all 10 "
                            f"counts are 0); set dataset.zero_votes=skip to leave such rows out")
        keep[empty] = False
        notes.append(f"{len(empty)} row(s) with zero votes have no label and were left out: "
                     f"{summarise_rows(path, lines[empty].tolist())}")
    _, first_seen = np.unique(ids, return_index=True)
    is_first = np.zeros(len(ids), dtype=bool)
    is_first[first_seen] = True
    repeated = np.flatnonzero(~is_first)
    if len(repeated):
        keep[repeated] = False
        notes.append(f"{len(repeated)} row(s) repeat an earlier image id and were left out: "
                     f"{summarise_rows(path, lines[repeated].tolist())}")
    return ids[keep], votes[keep].astype(np.float64), meta[keep], notes


class _LineNumbers:
    """The file line of each parsed row, counted only when a message needs one (blank lines,
    which the parser skips, shift the numbering)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: np.ndarray | None = None

    def __getitem__(self, index):
        if self._lines is None:
            self._lines = np.array([row for row, _ in read_lines(self.path, "AVA label file")])
        return self._lines[index]


def ava_records(ids: np.ndarray, votes: np.ndarray, meta: np.ndarray, paths: np.ndarray,
                binary_at_five: bool = False) -> Records:
    """Records with the 10-bin vote counts, the mean score (Murray et al. 2012, §3) and the
    binary label ``mean > 5`` (``>= 5`` with ``binary_at_five``)."""
    score = votes @ np.arange(1, 11, dtype=np.float64) / votes.sum(axis=1)  # (N,)
    high = score >= 5.0 if binary_at_five else score > AVA_LABELS.threshold
    return Records(image_id=np.asarray(ids).astype(str), path=paths, votes=votes, score=score,
                   binary=high.astype(np.int8),
                   extra={"tag1": meta[:, 0], "tag2": meta[:, 1], "challenge": meta[:, 2]})


def image_folder(root: Path, override: str | None) -> Path:
    """``image_dir`` if set, else ``images/`` or the nested ``images/images/``."""
    if override:
        folder = Path(override).expanduser()
        folder = folder if folder.is_absolute() else root / folder
        if not folder.is_dir():
            raise DataError(f"AVA image folder not found: expected {folder} (dataset.image_dir)")
        return folder
    flat, nested = root / "images", root / "images" / "images"
    if not flat.is_dir():
        raise DataError(f"AVA image folder not found: expected {flat}/<id>.jpg "
                        f"(or {nested}/<id>.jpg)")
    if nested.is_dir() and not _has_jpeg(flat):
        return nested
    return flat


def _has_jpeg(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(entry.name.lower().endswith(".jpg") for entry in entries)


def standard_split(root: Path, ids: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
    """Test = the ids of ``generic_test.jpgl`` that ``AVA.txt`` has; train = the other rows."""
    path = require_file(root / TEST_LIST, "AVA standard test list")
    listed = np.unique(parse_int_table(path, 1, "AVA standard test list")[:, 0])
    is_test = np.isin(ids, listed)
    notes = []
    absent = len(listed) - int(is_test.sum())
    if absent:
        notes.append(f"{absent} of the {len(listed)} ids in {path.name} have no labelled row in "
                     f"{AVA_TXT}; the test split has {int(is_test.sum())} images")
    return {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}, notes


def split_file(path: Path, ids: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
    """Read a user split file: ``<image id>[.jpg] <train|val|test>`` per line."""
    position = {int(image_id): k for k, image_id in enumerate(ids)}
    chosen: dict[int, tuple[str, int]] = {}
    unknown = 0
    for row, line in read_lines(path, "AVA split file"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        name = fields[0].removesuffix(".jpg")
        if len(fields) != 2 or not name.isdigit() or fields[1] not in SPLIT_NAMES:
            raise DataError(f"{path}:{row}: expected '<image id> <train|val|test>', got {line!r}")
        image_id, split = int(name), fields[1]
        if image_id in chosen and chosen[image_id][0] != split:
            raise DataError(f"{path}:{row}: image {image_id} is already in {chosen[image_id][0]} "
                            f"(line {chosen[image_id][1]})")
        chosen[image_id] = (split, row)
        unknown += image_id not in position
    splits = {name: np.array(sorted(position[i] for i, (s, _) in chosen.items()
                                    if s == name and i in position), dtype=np.int64)
              for name in SPLIT_NAMES}
    if not len(splits["test"]):
        raise DataError(f"{path}: no 'test' rows with a labelled image in {AVA_TXT}")
    notes = [f"split file {path}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())]
    if unknown:
        notes.append(f"{unknown} ids in {path.name} have no labelled row in {AVA_TXT}; left out")
    return {k: v for k, v in splits.items() if len(v)}, notes


def _split_path(root: Path, split: str) -> Path:
    path = Path(split).expanduser()
    if not path.is_absolute() and not path.is_file():
        path = root / path
    return require_file(path, "AVA split file (dataset.split)")


def load(settings: AvaSettings, purpose: str) -> Dataset:
    """The AVA dataset (the same records for ``labelled`` and ``pretrain``)."""
    root = dataset_root(settings, "ava", "dataset.root=/data/AVA")
    txt = require_file(root / AVA_TXT, "AVA label file")
    ids, votes, meta, notes = read_ava_txt(txt, settings.zero_votes)
    if settings.split == "standard":
        splits, split_notes = standard_split(root, ids)
    else:
        splits, split_notes = split_file(_split_path(root, settings.split), ids)
    notes += split_notes
    if "val" not in splits and "train" in splits and settings.val_fraction > 0:
        splits["train"], splits["val"] = carve(splits["train"], settings.val_fraction,
                                               settings.split_seed)
        notes.append(f"val: a seeded {settings.val_fraction:.0%} of train "
                     f"(split_seed {settings.split_seed}, {len(splits['val'])} images)")
    folder = image_folder(root, settings.image_dir)
    image_ids = ids.astype(str)
    names = np.strings.add(image_ids, ".jpg")  # (N,) "<id>.jpg"
    if settings.check_files:
        paths, found = FolderIndex(folder).resolve(names)
        note = missing_note("ava", folder, txt.name, names[~found].tolist(), len(names))
        notes += [note] if note else []
    else:
        paths = np.strings.add(f"{folder}{os.sep}", names)
    records = ava_records(image_ids, votes, meta, paths, settings.binary_at_five)
    notes.append(metrics_note("AVA", AVA_LABELS))
    return Dataset("ava", AVA_LABELS, records, splits, root=folder, notes=notes)


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="ava", summary="AVA (255k photos, 10-bin vote histograms) from AVA.txt + images/, "
                            "standard generic_test split",
        references=("Murray, Marchesotti & Perronnin, AVA: A large-scale database for aesthetic "
                    "visual analysis, CVPR 2012",),
        version="1", defaults=AvaSettings, factory=load, synthetic_format="ava")]
