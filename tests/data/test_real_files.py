"""The loaders on the real label and split files in ``../shared/datasets`` (skipped without them).

Nothing from ``../shared`` is copied into the repository: the tests read it in place, or link it
into a temporary dataset root next to generated stand-ins for the parts that are not shared
(AVA.txt's vote counts, the images).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.parsing import parse_int_table, parse_name_value
from harness_plugins.dataset_aadb import read_mat
from harness_plugins.dataset_tid2013 import read_labels


@pytest.fixture
def datasets(shared):
    return shared / "datasets"


def test_ava_standard_split_gives_19930_test_images(datasets, tmp_path, load):
    lists = datasets / "AVA" / "aesthetics_image_lists"
    test_ids = parse_int_table(lists / "generic_test.jpgl", 1, "list")[:, 0]
    assert len(test_ids) == len(np.unique(test_ids)) == 20_000
    all_ids = parse_int_table(datasets / "AVA" / "derived_all_image_ids_from_ILGnet_255529.txt",
                              1, "ids")[:, 0]
    assert len(np.intersect1d(test_ids, all_ids)) == 19_930
    # the loader itself: a stand-in AVA.txt with the real id column, the real test list
    root = tmp_path / "AVA"
    (root / "images").mkdir(parents=True)
    (root / "aesthetics_image_lists").symlink_to(lists)
    votes = np.random.default_rng(0).integers(0, 40, size=(len(all_ids), 10))
    votes[:, 4] += 1  # no zero-vote rows
    table = np.column_stack([np.arange(1, len(all_ids) + 1), all_ids, votes,
                             np.zeros((len(all_ids), 3), dtype=np.int64)])
    (root / "AVA.txt").write_text("\n".join(" ".join(map(str, row)) for row in table) + "\n")
    data = load("ava", root=str(root), check_files=False)
    assert len(data.split("test")) == 19_930
    assert len(data.split("train")) + len(data.split("val")) == 255_529 - 19_930
    assert any("70 of the 20000 ids in generic_test.jpgl have no labelled row" in note
               for note in data.notes)
    absent = parse_int_table(datasets / "AVA" / "derived_generic_test_ids_not_in_AVA_idlist_70.txt",
                             1, "ids")[:, 0]
    assert not np.isin(absent, data.records.image_id[data.split("test")].astype(int)).any()


def test_every_ava_list_parses(datasets):
    sizes = {path.name: len(parse_int_table(path, 1, "list"))
             for path in (datasets / "AVA" / "aesthetics_image_lists").glob("*.jpgl")}
    assert sizes["generic_ls_train.jpgl"] == 20_000 and sizes["generic_ss_train.jpgl"] == 2_500
    assert sizes["animal_test.jpgl"] == 2_500 and len(sizes) == 19


def test_tid2013_labels_and_case_insensitive_names(datasets, tmp_path, load):
    tid = datasets / "TID2013"
    assert b"\r\n" in (tid / "mos_with_names.txt").read_bytes()
    names, mos, parts, std, notes = read_labels(tid)
    assert len(names) == 3000 and notes == []
    assert mos.min() == 0.24242 and mos.max() == 7.21429
    assert names[mos.argmin()] == "i09_24_5.bmp" and names[mos.argmax()] == "i04_17_4.bmp"
    assert len(std) == 3000 and (std == 0).sum() == 2
    assert sum(name != name.lower() for name in names) == 75
    assert len(np.unique(parts[:, 0])) == 25
    # resolve all 3,000 names against files whose names use the other case
    root = tmp_path / "tid2013"
    (root / "distorted_images").mkdir(parents=True)
    for name in names:
        (root / "distorted_images" / name.swapcase()).write_bytes(b"")
    for file in ("mos_with_names.txt", "mos_std.txt"):
        (root / file).symlink_to(tid / file)
    data = load("tid2013", root=str(root))
    assert not any("missing" in note for note in data.notes)
    assert [p.rsplit("/", 1)[1] for p in data.records.path] == [n.swapcase() for n in names]
    assert [len(data.split(k)) for k in ("train", "val", "test", "all")] == [2160, 240, 600, 3000]


def test_aadb_info_mat(datasets, tmp_path, load):
    aadb = datasets / "AADB"
    parts = read_mat(aadb / "AADBinfo.mat")
    (train_names, train_score), (test_names, test_score) = parts["train"], parts["test"]
    assert len(train_names) == 8_458 and len(test_names) == 1_000
    for score in (train_score, test_score):
        assert score.min() >= 0 and score.max() <= 1
    assert (train_score == 0).sum() == 84 and not set(train_names) & set(test_names)
    # the text-list parser reads the same rows from the derived plain-text dumps
    names, scores, _ = parse_name_value(aadb / "derived_AADBinfo_train_score.txt", "list",
                                        value_first=False)
    assert names.tolist() == train_names.tolist()
    np.testing.assert_allclose(scores, train_score)
    # the loader with only AADBinfo.mat: val is a seeded 500 of train
    root = tmp_path / "AADB"
    (root / "datasetImages_originalSize").mkdir(parents=True)
    (root / "AADBinfo.mat").symlink_to(aadb / "AADBinfo.mat")
    data = load("aadb", root=str(root), check_files=False)
    assert [len(data.split(k)) for k in ("train", "val", "test")] == [7_958, 500, 1_000]
    dropped = load("aadb", root=str(root), check_files=False, drop_zero_scores=True)
    zero_in_train = int((data.records.score[data.split("train")] == 0).sum())
    assert len(dropped.split("train")) == 7_958 - zero_in_train and zero_in_train > 0
