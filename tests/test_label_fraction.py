"""``head.label_fraction`` (Pfister et al. 2021, Fig. 3): a seeded, stratified fraction of the
training labels, for any head."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import resolve
from harness.data.records import Records
from harness.data.sampling import stratified_fraction
from harness.runner import Runner


def records(binary=None, score=None):
    n = len(binary if binary is not None else score)
    return Records(image_id=np.array([str(i) for i in range(n)]), path=np.full(n, ""),
                   score=None if score is None else np.asarray(score, dtype=float),
                   binary=None if binary is None else np.asarray(binary, dtype=np.int8))


def test_twenty_percent_keeps_the_class_balance():
    # 80 positives, 20 negatives, interleaved: 20 % is 16 positives and 4 negatives exactly.
    binary = np.array(([1] * 4 + [0]) * 20)
    index = np.arange(100) + 0
    chosen = stratified_fraction(records(binary=binary), index, 0.2, seed=3)
    assert len(chosen) == 20 and binary[chosen].sum() == 16
    assert np.all(np.diff(chosen) > 0) and set(chosen) <= set(index)


def test_the_subset_is_seeded():
    binary = np.array([1, 0] * 50)
    data, index = records(binary=binary), np.arange(100)
    a = stratified_fraction(data, index, 0.2, seed=1)
    np.testing.assert_array_equal(a, stratified_fraction(data, index, 0.2, seed=1))
    assert not np.array_equal(a, stratified_fraction(data, index, 0.2, seed=2))


def test_without_binary_labels_score_deciles_are_the_strata():
    score = np.arange(100, dtype=float)  # deciles 0-9, 10-19, ...: two of each
    chosen = stratified_fraction(records(score=score), np.arange(100), 0.2, seed=0)
    assert np.bincount((score[chosen] // 10).astype(int), minlength=10).tolist() == [2] * 10


def test_a_subset_of_a_split_indexes_the_records():
    binary = np.array([1, 1, 1, 0, 0] * 10)
    split = np.arange(10, 50)  # a split is a set of record indices, not 0..n-1
    chosen = stratified_fraction(records(binary=binary), split, 0.25, seed=0)
    assert set(chosen) <= set(split) and len(chosen) == 10
    assert binary[chosen].sum() == 6  # round(0.25 * 24) positives, round(0.25 * 16) negatives


@pytest.mark.parametrize("head", ["nima", "gaussian_mv"])
def test_any_head_trains_on_the_stratified_fraction(registry, tmp_path, head):
    raw = {"pretext": {"name": "random"}, "backbone": {"name": "tiny"},
           "dataset": {"name": "synthetic", "n_images": 80}, "run": {"progress": False},
           "head": {"name": head, "image_size": 32, "epochs": 1, "batch_size": 16,
                    "label_fraction": 0.2}}
    config = resolve(registry, raw)
    result = Runner(config, registry, tmp_path / head).run()
    dataset = config.dataset.spec.factory(config.dataset.settings, "labelled")
    train_binary = dataset.records.binary[dataset.split("train")]
    expected = round(0.2 * train_binary.sum()) + round(0.2 * (1 - train_binary).sum())
    assert result.metrics["train_images"] == expected < len(train_binary)
