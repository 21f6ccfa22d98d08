"""The metrics module against hand-computed values and scipy/sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error

from harness import metrics


def test_emd_hand_computed():
    # CDFs over 3 bins: t = [.5, 1, 1], p = [0, .5, 1] -> gaps .5, .5, 0
    # EMD_2 = sqrt((.25 + .25 + 0) / 3) = sqrt(1/6)
    t = np.array([[0.5, 0.5, 0.0]])
    p = np.array([[0.0, 0.5, 0.5]])
    assert metrics.emd_per_image(t, p)[0] == pytest.approx(np.sqrt(1 / 6))
    assert metrics.emd(t, t) == 0.0


def test_emd_is_per_image_then_mean():
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [0.0, 1.0]])
    # image 1: gaps [1, 0] -> sqrt(1/2); image 2: 0.  Mean of per-image values, not of squares.
    assert metrics.emd(t, p) == pytest.approx(np.sqrt(0.5) / 2)


def test_kl_hand_computed():
    t = np.array([[0.5, 0.5, 0.0]])
    p = np.array([[0.25, 0.25, 0.5]])
    assert metrics.kl_divergence(t, p) == pytest.approx(np.log(2))


def test_scores_against_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(5, 1, 200)
    p = y + rng.normal(0, 0.7, 200)
    assert metrics.srcc(y, p) == pytest.approx(stats.spearmanr(y, p)[0])
    assert metrics.plcc(y, p) == pytest.approx(np.corrcoef(y, p)[0, 1])
    assert metrics.mae(y, p) == pytest.approx(mean_absolute_error(y, p))
    assert metrics.mse(y, p) == pytest.approx(mean_squared_error(y, p))
    yb, pb = (y > 5).astype(int), (p > 5).astype(int)
    assert metrics.accuracy(yb, pb) == pytest.approx(accuracy_score(yb, pb))


def test_std_of_distribution():
    bins = np.arange(1, 4, dtype=float)
    assert metrics.dist_std(np.array([[0.5, 0.0, 0.5]]), bins)[0] == pytest.approx(1.0)


def test_compute_leaves_out_what_the_labels_cannot_support():
    frame = pd.DataFrame({"image_id": ["a", "b", "c"], "target_mean": np.nan,
                          "pred_mean": [0.2, 0.7, 0.9], "target_binary": [0, 1, 1],
                          "pred_binary": [0, 1, 0]})
    out = metrics.compute(frame, {"binary"})
    assert out == {"acc": pytest.approx(2 / 3), "n_test": 3}


def test_every_metric_declares_direction_and_needs():
    for metric in metrics.METRICS.values():
        assert isinstance(metric.higher_is_better, bool)
        assert metric.needs <= {"score", "binary", "distribution"}
