"""The AVA loader on a generated AVA layout (with its quirks) and on hand-made defects."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from harness.errors import DataError
from harness.synthetic.dataset import latent_quality, split_indices, vote_histograms
from harness.synthetic.layouts import FRACTIONS
from harness_plugins.dataset_ava import read_ava_txt
from tests.data.conftest import N

SPLIT = split_indices(0, N, FRACTIONS)
#: The quirks write_layout plants: ids of the truncated, zero-vote and missing images.
TRUNCATED, ZERO, MISSING = SPLIT["train"][0] + 1, SPLIT["train"][1] + 1, SPLIT["test"][0] + 1


def test_reads_the_generated_layout_with_the_builtin_labels(layout, load):
    root = layout("ava")
    data = load("ava", root=str(root))
    votes = vote_histograms(0, latent_quality(0, N))
    ids = data.records.image_id.astype(int)
    # the zero-vote quirk row is left out; every other row keeps its votes
    assert ZERO not in ids and len(ids) == N - 1
    np.testing.assert_array_equal(data.records.votes, votes[ids - 1])
    mean = votes[ids - 1] @ np.arange(1, 11) / votes[ids - 1].sum(axis=1)
    np.testing.assert_allclose(data.records.score, mean)
    np.testing.assert_array_equal(data.records.binary, mean > 5)
    # test = the synthetic test split (the two extra ids of generic_test.jpgl have no row)
    test_ids = np.sort(SPLIT["test"] + 1)
    np.testing.assert_array_equal(np.sort(ids[data.split("test")]), test_ids)
    train, val = data.split("train"), data.split("val")
    assert len(val) == round(0.05 * (len(train) + len(val)))
    assert len(train) + len(val) + len(test_ids) == N - 1
    assert not set(train) & set(val)
    # the nested images/images/ folder is found
    assert data.records.path[0].startswith(str(root / "images" / "images") + "/")
    notes = " | ".join(data.notes)
    assert f"1 row(s) with zero votes have no label and were left out: AVA.txt:{ZERO}" in notes
    assert "2 of the 10 ids in generic_test.jpgl have no labelled row in AVA.txt" in notes
    assert "1 of 39 images listed in AVA.txt are missing" in notes


def test_unreadable_images_are_skipped_when_read(layout, load):
    from harness.data.loading import Samples, collate
    from harness.errors import ImageReadError

    data = load("ava", root=str(layout("ava")))
    samples = Samples(data, np.arange(len(data.records)), lambda image: 0, labels=False)
    batch = collate([samples[k] for k in range(len(samples))])
    reasons = {image_id: reason for image_id, _, reason in batch["skipped"]}
    assert set(reasons) == {str(TRUNCATED), str(MISSING)}
    assert "truncated" in reasons[str(TRUNCATED)] and reasons[str(MISSING)] == "file not found"
    assert TRUNCATED - 1 in SPLIT["train"] and MISSING - 1 in SPLIT["test"]
    with pytest.raises(ImageReadError):
        data.load_image(int(np.flatnonzero(data.records.image_id == str(TRUNCATED))[0]))


def test_clean_layout_has_flat_images_and_every_row(layout, load):
    data = load("ava", root=str(layout("ava", quirks=False)))
    assert len(data.records) == N and "/images/images/" not in data.records.path[0]
    assert not any("missing" in note or "zero votes" in note for note in data.notes)


def test_zero_votes_can_stop_the_run(layout, load):
    root = layout("ava")
    with pytest.raises(DataError) as error:
        load("ava", root=str(root), zero_votes="error")
    assert str(error.value).startswith(f"{root}/AVA.txt:{ZERO}: image {ZERO} has zero votes")


def test_a_malformed_row_is_named(layout, load):
    root = layout("ava")
    lines = (root / "AVA.txt").read_text().splitlines()
    lines[33] = " ".join(lines[33].split()[:-1])
    (root / "AVA.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"^{root}/AVA.txt:34: expected 15 integers, got 14$"):
        load("ava", root=str(root))


def test_missing_files_and_folders_are_named(layout, load, tmp_path):
    root = layout("ava")
    (root / "aesthetics_image_lists" / "generic_test.jpgl").unlink()
    with pytest.raises(DataError, match="AVA standard test list not found: expected "
                                        f"{root}/aesthetics_image_lists/generic_test.jpgl"):
        load("ava", root=str(root))
    root = layout("ava", quirks=False)
    shutil.rmtree(root / "images")
    with pytest.raises(DataError, match=f"AVA image folder not found: expected {root}/images/"):
        load("ava", root=str(root))
    with pytest.raises(DataError, match="needs its folder: pass --set dataset.root=/data/AVA"):
        load("ava")
    with pytest.raises(DataError, match="AVA label file not found"):
        load("ava", root=str(tmp_path))


def test_many_missing_images_fail_fast_naming_the_folder(layout, load):
    root = layout("ava", quirks=False)
    for path in sorted((root / "images").iterdir())[:3]:  # 3 of 40: above 1 % of 200
        path.unlink()
    with pytest.raises(DataError, match=f"ava: 3 of 40 images listed in AVA.txt are missing "
                                        f"from {root}/images"):
        load("ava", root=str(root))
    assert len(load("ava", root=str(root), check_files=False).records) == 40


def test_user_split_file(layout, load):
    root = layout("ava", quirks=False)
    (root / "my_split.txt").write_text("# id split\n3.jpg train\n5 train\n6 val\n7 test\n"
                                       "8 test  # comment\n999999 test\n")
    data = load("ava", root=str(root), split="my_split.txt")
    ids = data.records.image_id
    assert ids[data.split("train")].tolist() == ["3", "5"]
    assert ids[data.split("val")].tolist() == ["6"]
    assert ids[data.split("test")].tolist() == ["7", "8"]
    assert any("1 ids in my_split.txt have no labelled row" in note for note in data.notes)
    (root / "bad_split.txt").write_text("3 train\n4 holdout\n")
    with pytest.raises(DataError,
                       match=r"bad_split.txt:2: expected '<image id> <train\|val\|test>'"):
        load("ava", root=str(root), split=str(root / "bad_split.txt"))
    (root / "twice.txt").write_text("3 train\n3 test\n")
    with pytest.raises(DataError, match="twice.txt:2: image 3 is already in train"):
        load("ava", root=str(root), split="twice.txt")
    with pytest.raises(DataError, match="AVA split file .dataset.split. not found: expected"):
        load("ava", root=str(root), split="nope.txt")


def test_repeated_ids_and_the_binary_rule(tmp_path):
    path = tmp_path / "AVA.txt"
    rows = ["1 10 0 0 0 0 2 0 0 0 0 0 0 0 1",     # mean exactly 5
            "2 11 0 0 0 0 0 0 0 0 0 3 1 2 3",     # mean 10
            "3 10 1 0 0 0 0 0 0 0 0 0 0 0 1"]     # repeats id 10
    path.write_text("\n".join(rows) + "\n")
    ids, votes, meta, notes = read_ava_txt(path)
    assert ids.tolist() == [10, 11] and meta[1].tolist() == [1, 2, 3]
    assert notes == ["1 row(s) repeat an earlier image id and were left out: AVA.txt:3"]
    from harness_plugins.dataset_ava import ava_records

    paths = np.array(["a", "b"])
    assert ava_records(ids, votes, meta, paths).binary.tolist() == [0, 1]
    assert ava_records(ids, votes, meta, paths, binary_at_five=True).binary.tolist() == [1, 1]
    path.write_text("1 10 0 0 -1 0 2 0 0 0 0 0 0 0 1\n")
    with pytest.raises(DataError, match="AVA.txt:1: vote counts must be >= 0"):
        read_ava_txt(path)
