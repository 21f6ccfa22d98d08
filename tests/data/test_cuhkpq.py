"""The CUHK-PQ loader: labels from folders, the seeded 50/50 and k-fold splits."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from harness.errors import DataError
from harness.synthetic.dataset import latent_quality, vote_histograms
from tests.data.conftest import N


def test_folder_is_the_label_and_matches_the_builtin_binary(layout, load):
    root = layout("cuhkpq")
    data = load("cuhkpq", root=str(root))
    assert len(data.records) == N  # Thumbs.db passed over, .JPG counted
    votes = vote_histograms(0, latent_quality(0, N))
    high = votes @ np.arange(1, 11) / votes.sum(axis=1) > 5
    index = np.array([int(name.rsplit("_", 1)[1].split(".")[0]) for name in data.records.image_id])
    np.testing.assert_array_equal(data.records.binary, high[index])
    assert all(p.startswith(("HighQuality/", "LowQuality/")) for p in data.records.image_id)
    assert (data.records.binary == 1).sum() == sum(p.startswith("High")
                                                   for p in data.records.image_id)
    assert any(p.endswith(".JPG") for p in data.records.image_id)
    assert any("files that are not images were passed over" in note for note in data.notes)
    assert data.labels.kinds == {"binary"}


def test_fifty_fifty_split_with_val_carved_from_train(layout, load):
    data = load("cuhkpq", root=str(layout("cuhkpq", quirks=False)))
    train, val, test = data.split("train"), data.split("val"), data.split("test")
    assert len(test) == N // 2 and len(train) + len(val) == N // 2
    assert len(val) == round(0.05 * N / 2)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(N))
    other = load("cuhkpq", root=str(layout("cuhkpq", quirks=False)), split_seed=1)
    assert not np.array_equal(other.split("test"), test)


def test_kfold_covers_every_image_once(layout, load):
    root = str(layout("cuhkpq", quirks=False))
    tests = [load("cuhkpq", root=root, folds=5, fold=k, val_fraction=0).split("test")
             for k in range(5)]
    assert sorted(np.concatenate(tests).tolist()) == list(range(N))
    assert [len(t) for t in tests] == [N // 5] * 5
    with pytest.raises(ValueError, match="fold must be below folds"):
        load("cuhkpq", root=root, folds=5, fold=5)


def test_nested_archive_folder_and_missing_class(layout, load, tmp_path):
    root = layout("cuhkpq", quirks=False)
    nested = tmp_path / "unpacked"
    shutil.copytree(root, nested / "PhotoQualityDataset")
    assert len(load("cuhkpq", root=str(nested)).records) == N
    shutil.rmtree(root / "LowQuality")
    with pytest.raises(DataError, match=f"CUHK-PQ class folder not found: expected the folder "
                                        f"{root}/LowQuality"):
        load("cuhkpq", root=str(root))
