"""Tests for harness/stats.py: parity with scipy/statsmodels, exactness of the vectorised
bootstrap, and calibration (A/A negative control, planted-difference positive control, CI
coverage). Simulation sizes are modest and seeds fixed so the file runs in seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from harness import metrics, stats

#: Real AVA vote histograms (research-only; never copied into the repository).
AVA_TEST = (
    Path(__file__).resolve().parents[1].parent
    / "shared/datasets/AVA/third_party_splits/idealo_ava_labels_test.json"
)


def _ava_like(rng: np.random.Generator, n: int, rho: float = 0.5, mae=(0.5, 0.5)):
    """Targets with AVA's spread and two predictors with correlated Gaussian errors whose
    expected absolute errors are ``mae`` (E|N(0, s^2)| = s * sqrt(2 / pi))."""
    y = rng.normal(5.4, 0.75, n)
    z0 = rng.normal(size=n)
    preds = []
    for m in mae:
        s = m * math.sqrt(math.pi / 2)
        preds.append(y + s * (math.sqrt(rho) * z0 + math.sqrt(1 - rho) * rng.normal(size=n)))
    return y, preds[0], preds[1]


def _scipy_metric(metric: str, y: np.ndarray, p: np.ndarray, threshold: float = 5.0) -> float:
    if metric == "srcc":
        return scipy.stats.spearmanr(y, p).statistic
    if metric == "plcc":
        return scipy.stats.pearsonr(y, p).statistic
    if metric == "mae":
        return np.mean(np.abs(p - y))
    if metric == "mse":
        return np.mean((p - y) ** 2)
    yb = y if y.dtype == bool else y > threshold
    pb = p if p.dtype == bool else p > threshold
    return np.mean(yb == pb)


# ------------------------------------------------------------------------------------------
# Wilcoxon
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["less", "greater", "two-sided"])
@pytest.mark.parametrize("n", [30, 400])  # exact and normal-approximation branches of scipy
def test_wilcoxon_equals_scipy_on_abs_error_differences(alternative, n):
    rng = np.random.default_rng(n)
    y = np.round(rng.normal(5.4, 0.7, n), 1)
    a = np.round(y + rng.normal(0, 0.45, n), 1)  # rounding makes ties and zero differences
    b = np.round(y + rng.normal(0, 0.55, n), 1)
    expected = scipy.stats.wilcoxon(np.abs(a - y) - np.abs(b - y), alternative=alternative).pvalue
    assert stats.wilcoxon_abs_errors(y, a, b, alternative) == pytest.approx(expected, abs=0)


def test_wilcoxon_direction_is_a_better_than_b():
    rng = np.random.default_rng(0)
    y, a, b = _ava_like(rng, 2000, mae=(0.4, 0.6))
    assert stats.wilcoxon_abs_errors(y, a, b) < 1e-6  # default H1: a's errors are smaller
    assert stats.wilcoxon_abs_errors(y, b, a) > 0.99
    assert stats.wilcoxon_abs_errors(y, a, b, "greater") > 0.99


def test_wilcoxon_stacked_inputs_equal_one_call_per_row():
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(5.4, 0.7, (4, 60)), 1)
    a = np.round(y + rng.normal(0, 0.5, (4, 60)), 1)
    b = np.round(y + rng.normal(0, 0.5, (4, 60)), 1)
    b[2] = a[2]  # a row with every difference zero
    got = stats.wilcoxon_abs_errors(y, a, b)
    assert got.shape == (4,)
    expected = [stats.wilcoxon_abs_errors(y[i], a[i], b[i]) for i in range(4)]
    np.testing.assert_array_equal(got, expected)
    assert got[2] == 1.0


def test_wilcoxon_identical_predictions_give_p_one():
    y = np.arange(10.0)
    assert stats.wilcoxon_abs_errors(y, y + 1, y - 1) == 1.0


def test_wilcoxon_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="pair them"):
        stats.wilcoxon_abs_errors(np.zeros(5), np.zeros(5), np.zeros(4))


# ------------------------------------------------------------------------------------------
# Multiple comparisons
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_correct_equals_statsmodels(method):
    p = np.random.default_rng(1).uniform(0, 0.2, 17)
    expected = multipletests(p, alpha=0.05, method=method)[1]
    np.testing.assert_array_equal(stats.correct(p, method), expected)


def test_correct_holm_is_the_default_and_differs_from_bonferroni():
    p = [0.01, 0.02, 0.03]
    np.testing.assert_allclose(stats.correct(p), [0.03, 0.04, 0.04])
    np.testing.assert_allclose(stats.correct(p, "bonferroni"), [0.03, 0.06, 0.09])
    np.testing.assert_array_equal(stats.correct(p, "none"), p)


def test_correct_leaves_nan_out_of_the_family():
    out = stats.correct([0.01, math.nan, 0.04], "bonferroni")
    np.testing.assert_allclose(out, [0.02, math.nan, 0.08])


def test_correct_rejects_unknown_method_and_bad_p():
    with pytest.raises(ValueError, match="holm, bonferroni or none"):
        stats.correct([0.1], "fdr_bh")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.correct([1.5])


# ------------------------------------------------------------------------------------------
# The vectorised bootstrap is exact
# ------------------------------------------------------------------------------------------


def _loop_deltas(y, a, b, metric, n_resamples, seed, threshold=5.0):
    """Reference: scipy on each resample, with the module's own indices."""
    idx = np.concatenate(list(stats.bootstrap_indices(y.size, n_resamples, seed)))
    return np.array(
        [
            _scipy_metric(metric, y[r], a[r], threshold)
            - _scipy_metric(metric, y[r], b[r], threshold)
            for r in idx
        ]
    )


@pytest.mark.parametrize("metric", stats.METRICS)
def test_bootstrap_deltas_equal_scipy_per_resample(metric):
    rng = np.random.default_rng(7)
    n = 250
    y = np.round(rng.normal(5.4, 0.7, n), 1)  # tied targets
    preds = {
        "continuous": y + rng.normal(0, 0.5, n),
        "rounded": np.round(y + rng.normal(0, 0.5, n)),  # heavily tied predictions
        "binary": (y + rng.normal(0, 0.5, n) > 5.2).astype(float) * 2 + 4,  # two values
    }
    b = y + rng.normal(0, 0.6, n)
    got = stats.bootstrap_deltas(y, preds, b, [metric], n_resamples=37, seed=3, n_jobs=1)
    for name, a in preds.items():
        np.testing.assert_allclose(
            got[name][metric], _loop_deltas(y, a, b, metric, 37, 3), rtol=0, atol=1e-12
        )


def test_bootstrap_srcc_exact_with_two_lanes_per_word():
    # n >= 2**15 switches the packed counts from four uint16 to two uint32 lanes
    rng = np.random.default_rng(8)
    n = 33_000
    y = np.round(rng.normal(5.4, 0.7, n), 2)
    a, b = y + rng.normal(0, 0.5, n), np.round(y + rng.normal(0, 0.6, n), 1)
    got = stats.bootstrap_deltas(y, {"a": a}, b, ["srcc"], n_resamples=3, seed=1, n_jobs=1)
    np.testing.assert_allclose(got["a"]["srcc"], _loop_deltas(y, a, b, "srcc", 3, 1), atol=1e-12)


def test_bootstrap_does_not_depend_on_threads_and_spans_chunks(monkeypatch):
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 2_400)  # 12 resamples per chunk at n = 200
    monkeypatch.setattr(stats, "_SRCC_ELEMENTS", 800)  # SRCC in blocks of one 4-lane group
    rng = np.random.default_rng(9)
    y, a, b = _ava_like(rng, 200)
    one = stats.bootstrap_deltas(y, {"a": a}, b, n_resamples=55, seed=4, n_jobs=1)
    two = stats.bootstrap_deltas(y, {"a": a}, b, n_resamples=55, seed=4, n_jobs=2)
    assert [len(c) for c in stats.bootstrap_indices(200, 55, 4)] == [12, 12, 12, 12, 7]
    for metric in stats.METRICS:
        np.testing.assert_array_equal(one["a"][metric], two["a"][metric])
        np.testing.assert_allclose(
            one["a"][metric], _loop_deltas(y, a, b, metric, 55, 4), atol=1e-12
        )


def test_bootstrap_accepts_bool_labels_for_accuracy():
    y = np.array([True, False, True, True, False, False])
    a = np.array([True, False, True, False, False, False])  # 5/6 right
    b = np.array([False, False, True, False, True, False])  # 3/6 right
    res = stats.paired_bootstrap(y, a, b, "acc", n_resamples=200)
    assert res.delta == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="boolean"):
        stats.paired_bootstrap(y, a, b, "srcc")


def test_bootstrap_threshold_binarises_numeric_scores():
    y = np.array([4.0, 6.0, 7.0, 3.0])
    a = np.array([4.9, 5.1, 7.0, 3.0])  # all right at threshold 5
    b = np.array([5.5, 5.1, 7.0, 3.0])  # wrong on the first image at threshold 5
    assert stats.paired_bootstrap(y, a, b, "acc", 100).delta == pytest.approx(0.25)
    # at 5.6 both miss the second image and b also gets the first right
    assert stats.paired_bootstrap(y, a, b, "acc", 100, threshold=5.6).delta == pytest.approx(0)


def test_paired_bootstrap_many_shares_resamples_with_single_calls():
    rng = np.random.default_rng(10)
    y, a, b = _ava_like(rng, 300)
    c = y + rng.normal(0, 0.3, 300)
    many = stats.paired_bootstrap_many(y, {"a": a, "c": c}, b, n_resamples=500, seed=2)
    for name, pred in (("a", a), ("c", c)):
        for metric in stats.METRICS:
            single = stats.paired_bootstrap(y, pred, b, metric, n_resamples=500, seed=2)
            assert many[name][metric] == pytest.approx(single)
            assert single.delta == pytest.approx(
                _scipy_metric(metric, y, pred) - _scipy_metric(metric, y, b), abs=1e-12
            )
            if metric != "acc":  # harness.metrics takes binary labels for accuracy
                one_definition = getattr(metrics, metric)
                assert single.delta == pytest.approx(
                    one_definition(y, pred) - one_definition(y, b), abs=1e-12
                )


def test_paired_bootstrap_interval_and_p_come_from_the_deltas():
    rng = np.random.default_rng(11)
    y, a, b = _ava_like(rng, 300, mae=(0.45, 0.5))
    res = stats.paired_bootstrap(y, a, b, "mae", n_resamples=2000, seed=5, alpha=0.1)
    d = stats.bootstrap_deltas(y, {"a": a}, b, ["mae"], 2000, 5)["a"]["mae"]
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(np.quantile(d, [0.05, 0.95])))
    assert res.p_value == stats.bootstrap_p_value(d)
    assert res.ci_low < res.delta < res.ci_high


def test_bootstrap_p_value_formula():
    d = np.array([-0.2, -0.1, 0.0, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, math.nan])  # 9 finite
    # k_le = 3 (incl. the zero), k_ge = 7
    assert stats.bootstrap_p_value(d, "greater") == pytest.approx(4 / 10)
    assert stats.bootstrap_p_value(d, "less") == pytest.approx(8 / 10)
    assert stats.bootstrap_p_value(d) == pytest.approx(8 / 10)
    assert stats.bootstrap_p_value(np.ones(999)) == pytest.approx(2 / 1000)
    assert math.isnan(stats.bootstrap_p_value([math.nan]))


def test_bootstrap_rejects_unknown_metric_and_bad_input():
    y = np.arange(5.0)
    with pytest.raises(ValueError, match="srcc, plcc, acc, mae, mse"):
        stats.paired_bootstrap(y, y, y, "emd")
    with pytest.raises(ValueError, match="NaN"):
        stats.paired_bootstrap(y, np.array([1, 2, np.nan, 4, 5]), y, "mae")


# ------------------------------------------------------------------------------------------
# Calibration
# ------------------------------------------------------------------------------------------

#: A/A: 1,000 simulated comparisons of two predictors with exchangeable errors.
AA_SIMULATIONS = 1000


def test_negative_control_every_test_rejects_at_about_alpha():
    """Each test's A/A rejection rate at alpha = 0.05 lies in [0.025, 0.075] (1,000 runs).

    Each run draws fresh targets and two predictors whose errors come from the same
    distribution (correlation 0.5, MAE 0.5), so H0 holds for every metric. The bootstrap uses
    400 resamples per run on 120 images (a published table uses 10,000): the resample count
    only adds Monte-Carlo noise to each p-value (standard deviation ~0.011 at p = 0.05), which
    blurs decisions near alpha symmetrically and so hardly moves the rate; calibration itself
    is a property of the bootstrap distribution, which 400 resamples already estimate well.
    The seed-level tests get 3 per-seed values per entry from the same normal distribution.
    """
    rng = np.random.default_rng(2021)
    rejections = {f"bootstrap_{m}": 0 for m in stats.METRICS}
    ys, preds_a, preds_b = [], [], []
    for run in range(AA_SIMULATIONS):
        y, a, b = _ava_like(rng, 120)
        res = stats.paired_bootstrap_many(y, {"a": a}, b, n_resamples=400, seed=run, n_jobs=1)
        for metric, r in res["a"].items():
            rejections[f"bootstrap_{metric}"] += r.p_value < 0.05
        ys.append(y), preds_a.append(a), preds_b.append(b)
    rejections["wilcoxon"] = np.sum(stats.wilcoxon_abs_errors(ys, preds_a, preds_b) < 0.05)
    seeds_a, seeds_b = rng.normal(0.7, 0.01, (2, AA_SIMULATIONS, 3))  # 3 seeds per entry
    rejections["seed_welch"] = np.sum(stats.seed_test(seeds_a, seeds_b) < 0.05)
    rejections["seed_paired"] = np.sum(stats.seed_test(seeds_a, seeds_b, paired=True) < 0.05)
    rates = {k: float(v / AA_SIMULATIONS) for k, v in rejections.items()}
    print("A/A rejection rates:", rates)
    for name, rate in rates.items():
        assert 0.025 <= rate <= 0.075, f"{name}: A/A rejection rate {rate}"


def test_positive_control_wilcoxon_detects_a_realistic_mae_difference():
    """Planted ΔMAE = 0.01 on 20,000 images with AVA-sized errors (MAE 0.5 vs 0.51, error
    correlation 0.5 between the two models): the one-sided Wilcoxon rejects in >= 80 % of 100
    runs, and never when the roles are swapped."""
    rng = np.random.default_rng(6)
    runs = [_ava_like(rng, 20_000, mae=(0.5, 0.51)) for _ in range(100)]
    y, a, b = (np.stack(v) for v in zip(*runs, strict=True))  # (100, 20000) each
    power = np.mean(stats.wilcoxon_abs_errors(y, a, b) < 0.05)
    print("positive-control power:", power)
    assert power >= 0.8
    assert not np.any(stats.wilcoxon_abs_errors(y, b, a) < 0.05)


def test_bootstrap_interval_covers_the_true_difference_at_its_nominal_rate():
    """95 % intervals cover the population delta in about 95 % of 200 runs (n = 200 images).

    The two predictors' errors are correlated (0.5), as real models' errors are, so an unpaired
    bootstrap would give too-wide intervals and over-cover. Population values, from the
    bivariate normal (target, prediction) with correlation r: PLCC = r,
    SRCC = (6 / pi) arcsin(r / 2), MAE = s sqrt(2 / pi), MSE = s^2, and ACC from the
    orthant probabilities at the threshold.
    """
    rng = np.random.default_rng(12)
    mu, sd, thr = 5.4, 0.75, 5.0  # the targets of _ava_like
    mae_a, mae_b = 0.36, 0.48  # a clearly better than b

    def truth(mae):
        s = mae * math.sqrt(math.pi / 2)  # error standard deviation
        r = sd / math.hypot(sd, s)
        z_y, z_p = (thr - mu) / sd, (thr - mu) / math.hypot(sd, s)
        both_low = scipy.stats.multivariate_normal([0, 0], [[1, r], [r, 1]]).cdf([z_y, z_p])
        acc = 1 - scipy.stats.norm.cdf(z_y) - scipy.stats.norm.cdf(z_p) + 2 * both_low
        srcc = 6 / math.pi * math.asin(r / 2)
        return {"plcc": r, "srcc": srcc, "mae": mae, "mse": s * s, "acc": acc}

    t_a, t_b = truth(mae_a), truth(mae_b)
    runs = 200
    covered = {m: 0 for m in stats.METRICS}
    for run in range(runs):
        y, a, b = _ava_like(rng, 200, rho=0.5, mae=(mae_a, mae_b))
        res = stats.paired_bootstrap_many(y, {"a": a}, b, n_resamples=500, seed=run, n_jobs=1)
        for metric, r in res["a"].items():
            covered[metric] += r.ci_low <= t_a[metric] - t_b[metric] <= r.ci_high
    rates = {m: c / runs for m, c in covered.items()}
    print("95 % CI coverage:", rates)
    for metric, rate in rates.items():
        assert 0.90 <= rate <= 0.99, f"{metric}: coverage {rate}"


# ------------------------------------------------------------------------------------------
# Seed level
# ------------------------------------------------------------------------------------------


def test_mean_std_uses_the_sample_standard_deviation():
    assert stats.mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    mean, std = stats.mean_std([4.0])
    assert mean == 4.0 and math.isnan(std)


def test_seed_test_is_welch_by_default_and_paired_on_request():
    a, b = [0.71, 0.72, 0.74, 0.73], [0.70, 0.69, 0.71]
    assert stats.seed_test(a, b) == scipy.stats.ttest_ind(a, b, equal_var=False).pvalue
    assert stats.seed_test(a, b) != scipy.stats.ttest_ind(a, b, equal_var=True).pvalue
    a3 = a[:3]
    assert stats.seed_test(a3, b, paired=True) == scipy.stats.ttest_rel(a3, b).pvalue
    greater = stats.seed_test(a, b, alternative="greater")
    assert greater == scipy.stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue


def test_seed_test_tests_leading_axes_separately():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 5, 4))
    got = stats.seed_test(a, b)
    np.testing.assert_allclose(got, [stats.seed_test(a[i], b[i]) for i in range(5)], rtol=1e-12)


def test_seed_test_needs_three_seeds_and_matching_pairs():
    with pytest.raises(ValueError, match="at least 3 seeds"):
        stats.seed_test([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="matching seeds"):
        stats.seed_test([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3], paired=True)


# ------------------------------------------------------------------------------------------
# The comparison table
# ------------------------------------------------------------------------------------------


def test_compare_to_baseline_corrects_over_the_whole_table():
    rng = np.random.default_rng(13)
    y, good, base = _ava_like(rng, 3000, mae=(0.4, 0.5))
    same = y + (base - y)[rng.permutation(3000)]  # same error distribution as the baseline
    rows = stats.compare_to_baseline(
        y, {"base": base, "good": good, "same": same}, "base", ["srcc", "mae"], n_resamples=1000
    )
    assert [(r.entry, r.metric, r.test) for r in rows] == [
        ("good", "mae", "wilcoxon"),
        ("good", "srcc", "bootstrap"),
        ("good", "mae", "bootstrap"),
        ("same", "mae", "wilcoxon"),
        ("same", "srcc", "bootstrap"),
        ("same", "mae", "bootstrap"),
    ]
    raw = [r.p_value for r in rows]
    np.testing.assert_allclose([r.p_adjusted for r in rows], stats.correct(raw))
    assert rows[0].p_value == stats.wilcoxon_abs_errors(y, good, base)
    assert all(r.significant for r in rows[:3])
    assert rows[2].delta < 0 and rows[2].better  # lower MAE is better
    assert not any(r.significant for r in rows[3:])
    bonf = stats.compare_to_baseline(
        y, {"base": base, "good": good}, "base", ["mae"], correction="bonferroni", n_resamples=200
    )
    assert bonf[0].p_adjusted == pytest.approx(min(1, 2 * bonf[0].p_value))


def test_compare_to_baseline_names_a_missing_baseline_and_needs_scores():
    with pytest.raises(ValueError, match="'b' is not among the entries: a"):
        stats.compare_to_baseline(np.arange(5.0), {"a": np.arange(5.0)}, "b")
    labels = np.array([True, False, True, False])
    with pytest.raises(ValueError, match="Wilcoxon test on absolute errors needs numeric"):
        stats.compare_to_baseline(labels, {"a": labels, "b": labels}, "b", ["acc"])


# ------------------------------------------------------------------------------------------
# Trivial baselines
# ------------------------------------------------------------------------------------------


def test_constant_baseline_from_scores_and_from_votes():
    scores = stats.constant_baseline([4.0, 6.0, 8.0], 4)
    np.testing.assert_array_equal(scores.pred_mean, np.full(4, 6.0))
    assert scores.pred_dist is None

    votes = np.array([[0, 1, 3], [2, 2, 0]])  # means 2.75 and 1.5 on scores 1..3
    dist = stats.constant_baseline(votes, 2)
    np.testing.assert_allclose(dist.pred_dist, [[0.25, 0.375, 0.375]] * 2)
    np.testing.assert_allclose(dist.pred_mean, [(2.75 + 1.5) / 2] * 2)  # the mean of the means
    shifted = stats.constant_baseline(votes, 1, score_values=[0, 1, 2])
    assert shifted.pred_mean[0] == pytest.approx((2.75 + 1.5) / 2 - 1)
    with pytest.raises(ValueError, match="one per bin"):
        stats.constant_baseline(votes, 1, score_values=[1, 2])
    with pytest.raises(ValueError, match="non-negative with votes"):
        stats.constant_baseline(np.zeros((2, 3)), 1)


def test_majority_class_accuracy():
    assert stats.majority_class_accuracy([6, 7, 3], [6.5, 2.0, 9.0, 5.0]) == 0.5
    assert stats.majority_class_accuracy([True, False], [True, True, False]) == pytest.approx(2 / 3)
    assert stats.majority_class_accuracy([1.0, 2.0], [0.0, 3.0], threshold=1.5) == 0.5


@pytest.mark.skipif(not AVA_TEST.is_file(), reason=f"AVA vote histograms not found at {AVA_TEST}")
def test_constant_baseline_on_real_ava_votes():
    votes = np.array([r["label"] for r in json.loads(AVA_TEST.read_text())], dtype=float)
    assert votes.shape == (25_551, 10)
    means = votes @ np.arange(1, 11) / votes.sum(axis=1)
    pred = stats.constant_baseline(votes, len(votes)).pred_mean
    assert np.mean(np.abs(pred - means)) == pytest.approx(0.578, abs=5e-4)
    assert stats.majority_class_accuracy(means, means) == pytest.approx(0.703, abs=5e-4)
