"""AADB (Kong, Shen, Lin, Mech & Fowlkes, ECCV 2016) read from its distributed files.

Layout (``--set dataset.root=/data/AADB``)::

    imgListFiles_label/imgListTrainRegression_score.txt       <image name> <score in [0, 1]>
    imgListFiles_label/imgListValidationRegression_score.txt
    imgListFiles_label/imgListTestNewRegression_score.txt
    datasetImages_originalSize/<image name>                   train and val images
    AADB_newtest_originalSize/<image name>                    test images (looked up first)
    AADBinfo.mat                                              read when the lists are absent

``AADBinfo.mat`` (the authors' repository) holds ``trainNameList``/``trainScore`` (8,458) and
``testNameList``/``testScore`` (1,000) but no validation list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from harness import hookimpl
from harness.data.disk import DiskDatasetSettings, dataset_root
from harness.data.parsing import (
    check_range,
    metrics_note,
    parse_name_value,
    require_dir,
    unique_names,
)
from harness.data.records import Dataset, LabelSpec, Records
from harness.data.scan import FolderIndex, missing_note
from harness.errors import DataError
from harness.types import DatasetSpec

LIST_DIR = "imgListFiles_label"
LISTS = {"train": "imgListTrainRegression_score.txt",
         "val": "imgListValidationRegression_score.txt",
         "test": "imgListTestNewRegression_score.txt"}
MAT = "AADBinfo.mat"
MAIN_IMAGES, TEST_IMAGES = "datasetImages_originalSize", "AADB_newtest_originalSize"

#: Scores in [0, 1]; "we binarize the aesthetic ratings into two classes using a threshold of
#: 0.5" (Sheng et al., AAAI 2020, §4). No vote distribution is distributed.
AADB_LABELS = LabelSpec(kinds=frozenset({"score", "binary"}), scale=(0.0, 1.0), threshold=0.5)


class AadbSettings(DiskDatasetSettings):
    """Defaults: the authors' partition, "8500, 500, and 1000 images for training, validation,
    and testing" (Sheng et al. 2020, §4, following Kong et al. 2016).

    Attributes:
        val_size: when only ``AADBinfo.mat`` exists (no validation list), this many training
            images (seeded by ``split_seed``) form val: 500, the official validation count
            (at most a tenth of train, for small copies).
        drop_zero_scores: leave training images whose score is exactly 0 out of train, as Zeng
            et al. 2020's ``setup_AADB.m`` does (84 of the 8,458); off by default.
    """

    val_size: int = Field(500, ge=0)
    drop_zero_scores: bool = False


def read_lists(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three text lists: split -> (names, scores); each score must lie in [0, 1]."""
    out = {}
    for split, file in LISTS.items():
        path = folder / file
        names, scores, rows = parse_name_value(path, f"AADB {split} list", value_first=False)
        check_range(path, rows, scores, 0.0, 1.0, "score")
        unique_names(path, names, rows)
        out[split] = (names, scores)
    return out


def read_mat(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``AADBinfo.mat``: split -> (names, scores) for train and test."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, squeeze_me=True)
    except Exception as error:  # scipy raises several types for a damaged file
        raise DataError(f"{path}: not a readable MATLAB file ({error})") from None
    out = {}
    for split in ("train", "test"):
        keys = (f"{split}NameList", f"{split}Score")
        if any(key not in mat for key in keys):
            raise DataError(f"{path}: expected the variables {keys[0]} and {keys[1]}")
        names = np.array([str(name) for name in np.atleast_1d(mat[keys[0]])])
        scores = np.atleast_1d(np.asarray(mat[keys[1]], dtype=np.float64))
        if len(names) != len(scores):
            raise DataError(f"{path}: {keys[0]} has {len(names)} names but {keys[1]} has "
                            f"{len(scores)} scores")
        bad = np.flatnonzero(~((scores >= 0) & (scores <= 1)))
        if len(bad):
            raise DataError(f"{path}: {keys[1]}[{bad[0]}] = {scores[bad[0]]:g} is outside [0, 1]")
        out[split] = (names, scores)
    return out


def _labels(root: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    lists = root / LIST_DIR
    if lists.is_dir():
        return read_lists(lists), f"{LIST_DIR}/*Regression_score.txt"
    if (root / MAT).is_file():
        return read_mat(root / MAT), MAT
    raise DataError(f"AADB labels not found: expected {lists / LISTS['train']} (and the "
                    f"validation and test lists) or {root / MAT}")


def load(settings: AadbSettings, purpose: str) -> Dataset:
    """The AADB dataset (the same records for ``labelled`` and ``pretrain``)."""
    root = dataset_root(settings, "aadb", "dataset.root=/data/AADB")
    parts, source = _labels(root)
    notes = [f"labels from {root / source}"]
    names = np.concatenate([parts[s][0] for s in parts])
    scores = np.concatenate([parts[s][1] for s in parts])
    bounds = np.cumsum([0] + [len(parts[s][0]) for s in parts])
    splits = {s: np.arange(bounds[k], bounds[k + 1]) for k, s in enumerate(parts)}
    unique, counts = np.unique(names, return_counts=True)
    if (counts > 1).any():
        twice = str(unique[counts > 1][0])
        where = [s for s in parts if twice in set(parts[s][0].tolist())]
        raise DataError(f"AADB: image {twice!r} is listed in both the {where[0]} and the "
                        f"{where[-1]} split of {root / source}")
    if "val" not in splits:
        rng = np.random.default_rng([settings.split_seed, 500])
        take = np.zeros(len(splits["train"]), dtype=bool)
        size = min(settings.val_size, -(-len(take) // 10))
        take[rng.choice(len(take), size=size, replace=False)] = True
        splits["train"], splits["val"] = splits["train"][~take], splits["train"][take]
        notes.append(f"no validation list: val is a seeded {int(take.sum())} of the "
                     f"{len(take)} training images (split_seed {settings.split_seed})")
    if settings.drop_zero_scores:
        zero = scores[splits["train"]] == 0
        splits["train"] = splits["train"][~zero]
        notes.append(f"drop_zero_scores: {int(zero.sum())} training images with score 0 left out "
                     f"(Zeng et al. 2020)")
    main = require_dir(root / MAIN_IMAGES, "AADB image folder")
    paths, found = _image_paths(root, names, splits["test"], settings.check_files)
    if settings.check_files:
        where = f"{main}" + (f" and {root / TEST_IMAGES}" if (root / TEST_IMAGES).is_dir() else "")
        note = missing_note("aadb", where, source, list(names[~found]), len(names))
        notes += [note] if note else []
    records = Records(image_id=names, path=paths, score=scores,
                      binary=(scores > AADB_LABELS.threshold).astype(np.int8))
    notes.append(metrics_note("AADB", AADB_LABELS))
    return Dataset("aadb", AADB_LABELS, records, splits, root=main, notes=notes)


def _image_paths(root: Path, names: np.ndarray, test: np.ndarray, check: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Paths of every image: a test image in ``AADB_newtest_originalSize/`` if it is there,
    else in ``datasetImages_originalSize/``; (paths, found)."""
    main, newtest = root / MAIN_IMAGES, root / TEST_IMAGES
    if not check:
        paths = np.array([str(main / name) for name in names], dtype=object)
        if newtest.is_dir():
            paths[test] = [str(newtest / name) for name in names[test]]
        return paths.astype(str), np.ones(len(names), dtype=bool)
    paths, found = FolderIndex(main).resolve(names)
    paths = paths.astype(object)
    if newtest.is_dir():
        test_paths, in_newtest = FolderIndex(newtest).resolve(names[test])
        paths[test[in_newtest]] = test_paths[in_newtest]
        found[test[in_newtest]] = True
    return paths.astype(str), found


@hookimpl
def harness_datasets():
    return [DatasetSpec(
        name="aadb", summary="AADB (10k Flickr photos, scores in [0, 1]) from imgListFiles_label/ "
                             "or AADBinfo.mat, official train/val/test",
        references=("Kong, Shen, Lin, Mech & Fowlkes, Photo aesthetics ranking network with "
                    "attributes and content adaptation, ECCV 2016",),
        version="1", defaults=AadbSettings, factory=load, synthetic_format="aadb")]
