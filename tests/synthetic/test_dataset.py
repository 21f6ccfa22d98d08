"""The synthetic dataset: deterministic from its seed, AVA-like labels, disjoint pretraining scenes."""

from __future__ import annotations

import numpy as np

from harness.synthetic.dataset import SyntheticDataset, latent_quality, vote_histograms


def make(seed=0, purpose="labelled", n=40):
    return SyntheticDataset(n_images=n, seed=seed, min_side=48, max_side=72,
                            fractions=(0.6, 0.2, 0.2), purpose=purpose)


def pixels(dataset, i):
    return np.asarray(dataset.load_image(i))


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make(0), make(0), make(1)
    np.testing.assert_array_equal(a.records.votes, b.records.votes)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.splits[split], b.splits[split])
    np.testing.assert_array_equal(pixels(a, 3), pixels(b, 3))
    assert not np.array_equal(a.records.votes, c.records.votes)
    assert pixels(a, 3).shape != pixels(c, 3).shape or not np.array_equal(pixels(a, 3),
                                                                            pixels(c, 3))


def test_labels_look_like_ava():
    quality = latent_quality(0, 5000)
    votes = vote_histograms(0, quality)
    n_votes = votes.sum(axis=1)
    mean = votes @ np.arange(1, 11) / n_votes
    assert 100 <= n_votes.min() and n_votes.max() <= 250
    assert 5.1 < mean.mean() < 5.7  # AVA: 5.38
    assert 0.6 < (mean > 5).mean() < 0.8  # AVA: about 0.70
    assert np.corrcoef(quality, mean)[0, 1] > 0.9  # quality drives the score


def test_records_and_splits():
    dataset = make(n=50)
    records = dataset.records
    assert set(dataset.labels.kinds) == {"distribution", "score", "binary"}
    np.testing.assert_allclose(records.score, records.dist @ np.arange(1, 11))
    np.testing.assert_array_equal(records.binary, records.score > 5)
    everything = np.concatenate(list(dataset.splits.values()))
    assert sorted(everything) == list(range(50))  # a partition
    assert [len(v) for v in dataset.splits.values()] == [30, 10, 10]


def test_pretraining_mode_serves_clean_disjoint_scenes():
    labelled, pretrain = make(), make(purpose="pretrain")
    assert pretrain.labels.kinds == frozenset()
    assert not set(labelled.records.image_id) & set(pretrain.records.image_id)
    image = pretrain.load_image(0)
    assert image.mode == "RGB" and max(image.size) <= 72
