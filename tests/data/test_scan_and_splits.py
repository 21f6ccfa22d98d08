"""Listing image folders without decoding, and the seeded splits."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.scan import FolderIndex, image_files, missing_note
from harness.data.splits import group_split, kfold_split, random_split, stable_split, stable_unit
from harness.errors import DataError


def test_folder_index_resolves_case_insensitively(tmp_path):
    for name in ("i01_13_1.bmp", "I02.BMP", "a.jpg", "A.JPG"):
        (tmp_path / name).write_bytes(b"x")
    index = FolderIndex(tmp_path)
    paths, found = index.resolve(["I01_13_1.BMP", "i02.bmp", "A.JPG", "a.JPG", "gone.bmp"])
    assert found.tolist() == [True, True, True, True, False]
    assert [p.rsplit("/", 1)[1] for p in paths] == ["i01_13_1.bmp", "I02.BMP", "A.JPG",
                                                     "A.JPG", "gone.bmp"]
    assert paths[4] == f"{tmp_path}/gone.bmp"  # a missing file keeps its expected path


def test_missing_images_stop_above_one_percent(tmp_path):
    assert missing_note("ava", tmp_path, "AVA.txt", [], 1000) is None
    names = [f"{i}.jpg" for i in range(11)]
    note = missing_note("ava", tmp_path, "AVA.txt", names[:10], 1000)  # 1 % exactly: go on
    assert note.startswith(f"10 of 1000 images listed in AVA.txt are missing from {tmp_path} "
                           f"(0.jpg, 1.jpg, 2.jpg ...)")
    with pytest.raises(DataError, match=f"ava: 11 of 1000 images listed in AVA.txt are missing "
                                        f"from {tmp_path} "):
        missing_note("ava", tmp_path, "AVA.txt", names, 1000)
    # below 200 images, up to 2 may be missing (1 % of 200, as the loader's own count)
    assert missing_note("ava", tmp_path, "AVA.txt", names[:2], 40) is not None
    with pytest.raises(DataError, match="3 of 40 images"):
        missing_note("ava", tmp_path, "AVA.txt", names[:3], 40)


def test_image_files_walks_recursively_and_passes_over_the_rest(tmp_path):
    for name in ("b/x.JPG", "a/y.png", "a/deep/z.webp", "a/w.jpeg", "c.bmp", "notes.txt",
                 "a/._y.png", ".hidden/q.jpg", "noext", "Thumbs.db"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found, other = image_files(tmp_path)
    assert found == ["a/deep/z.webp", "a/w.jpeg", "a/y.png", "b/x.JPG", "c.bmp"]
    assert other == 4  # notes.txt, ._y.png, noext, Thumbs.db (hidden folders are not entered)


def test_random_split_is_a_seeded_partition():
    train, test = random_split(101, 0.5, seed=3)
    assert len(test) == 50 and len(train) == 51
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(101))
    again, _ = random_split(101, 0.5, seed=3)
    other, _ = random_split(101, 0.5, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)


def test_kfold_test_parts_cover_every_image_once():
    tests = [kfold_split(23, 5, k, seed=0) for k in range(5)]
    covered = np.concatenate([test for _, test in tests])
    assert sorted(covered.tolist()) == list(range(23))
    assert sorted(len(test) for _, test in tests) == [4, 4, 5, 5, 5]
    for train, test in tests:
        assert not set(train) & set(test) and len(train) + len(test) == 23
    with pytest.raises(ValueError):
        kfold_split(23, 5, 5, seed=0)


def test_group_split_keeps_groups_apart():
    groups = np.repeat(np.arange(1, 26), 120)  # TID2013: 25 references x 120 images
    parts = group_split(groups, 0.2, 0.1, seed=0)
    refs = {name: set(groups[index]) for name, index in parts.items()}
    assert [len(refs[k]) for k in ("train", "val", "test")] == [18, 2, 5]
    assert [len(parts[k]) for k in ("train", "val", "test")] == [2160, 240, 600]
    assert not (refs["train"] & refs["test"] or refs["val"] & refs["test"]
                or refs["train"] & refs["val"])


def test_stable_split_does_not_move_files_when_others_come_and_go():
    keys = [f"photos/{i}.jpg" for i in range(3000)]
    fractions = (100 / 130, 15 / 130, 15 / 130)
    parts = stable_split(keys, fractions, ("train", "val", "test"), salt=0)
    where = {keys[i]: name for name, index in parts.items() for i in index}
    assert abs(len(parts["train"]) / 3000 - 100 / 130) < 0.03
    fewer = keys[::2] + [f"new/{i}.jpg" for i in range(500)]
    moved = stable_split(fewer, fractions, ("train", "val", "test"), salt=0)
    for name, index in moved.items():
        assert all(where.get(fewer[i], name) == name for i in index)
    unit = stable_unit(keys, 0)
    assert unit.min() >= 0 and unit.max() < 1
