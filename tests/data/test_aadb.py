"""The AADB loader: text lists, the AADBinfo.mat fallback, test-image lookup, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from harness.errors import DataError
from harness.synthetic.dataset import latent_quality, split_indices, vote_histograms
from harness.synthetic.layouts import FRACTIONS, aadb_name, aadb_score
from tests.data.conftest import N

SPLIT = split_indices(0, N, FRACTIONS)


def builtin_scores() -> np.ndarray:
    votes = vote_histograms(0, latent_quality(0, N))
    return aadb_score(votes @ np.arange(1, 11) / votes.sum(axis=1))


def test_aadb_score_mapping_by_hand():
    np.testing.assert_allclose(aadb_score(np.array([1.0, 10.0, 5.5, 5.4, 3.0])),
                               [0.0, 1.0, 0.5, 0.5, 0.2])  # 4.4/9 = 0.489 -> 0.5; 2/9 -> 0.2


def test_reads_the_official_lists(layout, load):
    root = layout("aadb")
    data = load("aadb", root=str(root))
    score = builtin_scores()
    for split in ("train", "val", "test"):
        expected = [aadb_name(0, i) for i in SPLIT[split]]
        assert data.records.image_id[data.split(split)].tolist() == expected
        np.testing.assert_allclose(data.records.score[data.split(split)], score[SPLIT[split]])
    np.testing.assert_array_equal(data.records.binary, data.records.score > 0.5)
    assert data.labels.kinds == {"score", "binary"} and data.labels.scale == (0.0, 1.0)


def test_test_images_are_looked_up_in_the_new_test_folder_first(layout, load):
    root = layout("aadb")
    data = load("aadb", root=str(root))
    stale = aadb_name(0, SPLIT["test"][1])  # also in datasetImages_originalSize (a stale copy)
    k = int(np.flatnonzero(data.records.image_id == stale)[0])
    assert data.records.path[k] == str(root / "AADB_newtest_originalSize" / stale)
    train = aadb_name(0, SPLIT["train"][2])
    k = int(np.flatnonzero(data.records.image_id == train)[0])
    assert data.records.path[k] == str(root / "datasetImages_originalSize" / train)
    image = data.load_image(int(data.split("test")[1]))
    assert image.size == Image.open(root / "AADB_newtest_originalSize" / stale).size


def test_mat_fallback_carves_val_from_train(layout, load):
    root = layout("aadb", quirks=False)
    shutil.rmtree(root / "imgListFiles_label")
    data = load("aadb", root=str(root))
    assert len(data.split("test")) == len(SPLIT["test"])
    train_names = {aadb_name(0, i) for i in SPLIT["train"]}
    val = data.records.image_id[data.split("val")]
    assert len(val) == -(-len(SPLIT["train"]) // 10)  # min(500, a tenth of train)
    assert set(val) <= train_names
    assert len(data.split("train")) + len(val) == len(SPLIT["train"])
    assert any("no validation list" in note for note in data.notes)
    again = load("aadb", root=str(root))
    np.testing.assert_array_equal(again.split("val"), data.split("val"))


def test_drop_zero_scores_only_touches_train(layout, load):
    root = layout("aadb", quirks=False)
    lists = root / "imgListFiles_label"
    for file in lists.iterdir():
        rows = file.read_text().splitlines()
        rows[0] = rows[0].split()[0] + " 0"
        file.write_text("\n".join(rows) + "\n")
    kept = load("aadb", root=str(root))
    dropped = load("aadb", root=str(root), drop_zero_scores=True)
    assert len(dropped.split("train")) == len(kept.split("train")) - 1
    assert len(dropped.split("test")) == len(kept.split("test"))


def test_bad_input_is_named(layout, load):
    root = layout("aadb", quirks=False)
    lists = root / "imgListFiles_label"
    rows = (lists / "imgListTrainRegression_score.txt").read_text().splitlines()
    rows[4] = rows[4].split()[0] + " 1.5"
    (lists / "imgListTrainRegression_score.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"imgListTrainRegression_score.txt:5: score 1.5 is "
                                        r"outside \[0, 1\]"):
        load("aadb", root=str(root))
    root = layout("aadb", quirks=False)
    lists = root / "imgListFiles_label"
    (lists / "imgListValidationRegression_score.txt").unlink()
    with pytest.raises(DataError, match="AADB val list not found: expected "
                                        f"{lists}/imgListValidationRegression_score.txt"):
        load("aadb", root=str(root))
    shutil.rmtree(lists)
    (root / "AADBinfo.mat").unlink()
    with pytest.raises(DataError, match="AADB labels not found: expected"):
        load("aadb", root=str(root))


def test_an_image_in_two_splits_is_named(layout, load):
    root = layout("aadb", quirks=False)
    lists = root / "imgListFiles_label"
    first = (lists / "imgListTrainRegression_score.txt").read_text().splitlines()[0]
    with open(lists / "imgListTestNewRegression_score.txt", "a") as handle:
        handle.write(first + "\n")
    with pytest.raises(DataError, match=f"AADB: image '{first.split()[0]}' is listed in both the "
                                        f"train and the test split"):
        load("aadb", root=str(root))


def test_missing_image_folder_is_named(layout, load):
    root = layout("aadb", quirks=False)
    shutil.rmtree(root / "datasetImages_originalSize")
    with pytest.raises(DataError, match="AADB image folder not found: expected the folder "
                                        f"{root}/datasetImages_originalSize"):
        load("aadb", root=str(root))
