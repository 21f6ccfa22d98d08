"""``harness publish``: the golden leaderboard of a fixed set of run directories, and the parts
behind it checked against independent computations (scipy, statsmodels, plain loops)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from harness import comparisons as cmp
from harness import metrics, stats
from harness.data.records import AVA_LABELS, Dataset, LabelSpec, Records
from harness.errors import DataError
from harness.leaderboard import CONSTANT, Options, Section, build, sections
from harness.leaderboard_csv import csv_frame
from harness.publish import publish
from harness.rundirs import scan
from harness.runner import train_label_stats
from tests.test_cli import invoke

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "publish"
RUNS, EXPECTED = FIXTURE / "rundirs", FIXTURE / "expected"
BINS = np.arange(1, 11, dtype=float)


def write_run(root: Path, name: str, pretext: str, seed: int, ids, target, pred, *,
              head: str = "nima", fraction: float = 1.0, stats_: dict | None = None,
              binary: bool = True) -> Path:
    """A minimal run directory (the fields publish reads) with score (and binary) columns."""
    out = root / name
    out.mkdir(parents=True)
    config = {"seed": seed, "pretext": {"name": pretext},
              "head": {"name": head, "label_fraction": fraction},
              "dataset": {"name": "toy"}, "backbone": {"name": "tiny"}}
    kinds = ["binary", "score"] if binary else ["score"]
    m = {"dataset": "toy", "epochs": 3, "labels": {"kinds": kinds, "threshold": 5.0},
         "pretext_budget": {"images_seen": 10 * seed, "wall_seconds": 60.0}}
    if stats_ is not None:
        m["train_label_stats"] = stats_
    (out / "config.json").write_text(json.dumps(config))
    (out / "metrics.json").write_text(json.dumps(m))
    frame = pd.DataFrame({"image_id": ids, "target_mean": target, "pred_mean": pred})
    if binary:
        frame["target_binary"] = (np.asarray(target) > 5).astype(int)
        frame["pred_binary"] = (np.asarray(pred) > 5).astype(int)
    frame.to_csv(out / "predictions.csv", index=False)
    return out


def toy(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.normal(5.4, 0.7, n)
    ids = [f"img{i:03d}" for i in range(n)]
    return rng, ids, y


def table_of(root: Path, options: Options | None = None, index: int = 0):
    runs, _ = scan(root)
    options = options or Options(baseline="base")
    section = sections(runs)[index]
    members = [r for r in runs if r.dataset == section.dataset
               and r.label_fraction == section.label_fraction]
    return build(section, members, options)


# ------------------------------------------------------------------------------------------
# The golden leaderboard
# ------------------------------------------------------------------------------------------


def test_publish_renders_the_golden_markdown(capsys, tmp_path):
    """Byte-for-byte. Regenerate: HARNESS_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py -k
    golden (after python tests/fixtures/make_publish_fixture.py if the runs changed)."""
    out = tmp_path / "leaderboards"
    code, stdout, _ = invoke(capsys, "publish", "--runs", str(RUNS), "--out", str(out))
    assert code == 0, stdout
    written = sorted(p.name for p in out.iterdir())
    assert written == ["cuhkpq.csv", "cuhkpq.md", "synthetic.csv", "synthetic.md",
                       "synthetic_blocks.png", "synthetic_label_efficiency.png",
                       "synthetic_to_tid2013.csv", "synthetic_to_tid2013.md"]
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        EXPECTED.mkdir(parents=True, exist_ok=True)
        for md in out.glob("*.md"):
            (EXPECTED / md.name).write_bytes(md.read_bytes())
        pytest.skip("golden files rewritten")
    for md in sorted(out.glob("*.md")):
        assert md.read_bytes() == (EXPECTED / md.name).read_bytes(), md.name
    text = (out / "synthetic.md").read_text()
    assert str(tmp_path) not in text and str(RUNS) not in text  # no absolute paths


def test_golden_marks_follow_the_planted_differences():
    """The fixture plants rotnet ≫ imagenet > random on synthetic: rotnet gets †, random not."""
    table = table_of(RUNS, Options(), index=1)  # synthetic, all labels
    assert table.marked == {("rotnet", "nima", "tiny")}
    assert table.tiers[("rotnet", "nima", "tiny")] == 1
    assert table.tiers[("random", "nima", "tiny")] > table.tiers[("imagenet", "nima", "tiny")]
    assert table.missing == {"synthetic/rotnet_nima_f1_s1": 2}
    assert table.n_images == 46


# ------------------------------------------------------------------------------------------
# Statistics wiring, against independent computations
# ------------------------------------------------------------------------------------------


def test_single_seed_tests_equal_paired_bootstrap_and_scipy_wilcoxon(tmp_path):
    rng, ids, y = toy()
    a, b = y + rng.normal(0, 0.3, y.size), y + rng.normal(0, 0.5, y.size)
    write_run(tmp_path, "a", "good", 0, ids, y, a)
    write_run(tmp_path, "b", "base", 0, ids, y, b)
    options = Options(baseline="base", n_resamples=2000, bootstrap_seed=3)
    table = table_of(tmp_path, options)
    by = {(t.test, t.metric): t for t in table.tests}
    expected = stats.paired_bootstrap_many(y, {"a": a}, b, ["srcc", "plcc", "mae"], 2000, 3)["a"]
    for metric in ("srcc", "plcc", "mae"):
        got = by[("bootstrap", metric)]
        assert got.delta == pytest.approx(expected[metric].delta, abs=1e-12)
        assert (got.ci_low, got.ci_high) == pytest.approx(
            (expected[metric].ci_low, expected[metric].ci_high), abs=1e-12)
        assert got.p_value == pytest.approx(expected[metric].p_value, abs=1e-12)
    acc = stats.paired_bootstrap(y > 5, a > 5, b > 5, "acc", 2000, 3)
    assert by[("bootstrap", "acc")].p_value == pytest.approx(acc.p_value, abs=1e-12)
    wilcoxon = scipy.stats.wilcoxon(np.abs(a - y) - np.abs(b - y), alternative="less").pvalue
    assert by[("wilcoxon", "mae")].p_value == pytest.approx(wilcoxon, rel=1e-9)
    raw = [t.p_value for t in table.tests]
    holm = multipletests(raw, alpha=0.01, method="holm")[1]
    assert [t.p_adjusted for t in table.tests] == pytest.approx(holm)


def test_several_seeds_test_the_seed_averaged_errors_and_metrics(tmp_path):
    rng, ids, y = toy(60, 1)
    a = [y + rng.normal(0, 0.35, y.size) for _ in range(3)]
    b = [y + rng.normal(0, 0.45, y.size) for _ in range(2)]
    for s, pred in enumerate(a):
        write_run(tmp_path, f"a{s}", "good", s, ids, y, pred)
    for s, pred in enumerate(b):
        write_run(tmp_path, f"b{s}", "base", s, ids, y, pred)
    table = table_of(tmp_path, Options(baseline="base", n_resamples=300, bootstrap_seed=1))
    by = {(t.test, t.metric): t for t in table.tests}
    err_a = np.mean([np.abs(p - y) for p in a], axis=0)
    err_b = np.mean([np.abs(p - y) for p in b], axis=0)
    expected = scipy.stats.wilcoxon(err_a - err_b, alternative="less").pvalue
    assert by[("wilcoxon", "mae")].p_value == pytest.approx(expected, rel=1e-9)
    # The bootstrap: a plain loop over the same resamples, scipy on every seed.
    idx = np.concatenate(list(stats.bootstrap_indices(y.size, 300, 1)))
    loop = np.array([np.mean([scipy.stats.spearmanr(y[i], p[i]).statistic for p in a])
                     - np.mean([scipy.stats.spearmanr(y[i], p[i]).statistic for p in b])
                     for i in idx])
    srcc = by[("bootstrap", "srcc")]
    point = (np.mean([metrics.srcc(y, p) for p in a]) - np.mean([metrics.srcc(y, p) for p in b]))
    assert srcc.delta == pytest.approx(point, abs=1e-12)
    assert (srcc.ci_low, srcc.ci_high) == pytest.approx(tuple(np.quantile(loop, [0.025, 0.975])),
                                                        abs=1e-9)
    assert srcc.p_value == pytest.approx(stats.bootstrap_p_value(loop), abs=1e-12)
    # Seed level: 3 vs 2 seeds, so no Welch test (needs 3 on both sides).
    assert table.seed_tests == []


def test_seed_level_welch_test_on_the_decision_metric(tmp_path):
    rng, ids, y = toy(60, 2)
    values = {"good": [], "base": []}
    for pretext, sd in (("good", 0.3), ("base", 0.5)):
        for s in range(3):
            pred = y + rng.normal(0, sd, y.size)
            values[pretext].append(metrics.mae(y, pred))
            write_run(tmp_path, f"{pretext}{s}", pretext, s, ids, y, pred)
    table = table_of(tmp_path, Options(baseline="base", n_resamples=200))
    (welch,) = table.seed_tests
    expected = scipy.stats.ttest_ind(values["good"], values["base"], equal_var=False,
                                     alternative="less").pvalue
    assert welch.p_value == pytest.approx(expected, rel=1e-9)
    assert welch.significant == (expected < 0.01)


def test_images_are_paired_by_id_and_missing_ones_reported(tmp_path):
    rng, ids, y = toy(50, 3)
    a, b = y + rng.normal(0, 0.3, y.size), y + rng.normal(0, 0.5, y.size)
    order = rng.permutation(y.size)[:-3]  # shuffled, three images missing
    write_run(tmp_path, "a", "good", 0, np.array(ids)[order], y[order], a[order])
    write_run(tmp_path, "b", "base", 0, ids, y, b)
    table = table_of(tmp_path, Options(baseline="base", n_resamples=200))
    keep = np.sort(order)
    assert table.n_images == 47 and table.missing == {"a": 3}
    rows = {r.key[0]: r for r in table.rows}
    assert rows["good"].values["srcc"][0] == pytest.approx(metrics.srcc(y[keep], a[keep]))
    assert rows["base"].values["mae"][0] == pytest.approx(metrics.mae(y[keep], b[keep]))


def test_different_targets_for_the_same_image_are_an_error(tmp_path):
    _, ids, y = toy(20, 4)
    write_run(tmp_path, "a", "good", 0, ids, y, y + 0.1)
    write_run(tmp_path, "b", "base", 0, ids, y + 0.5, y)
    with pytest.raises(DataError, match="different target_mean"):
        table_of(tmp_path)


def test_duplicate_entry_and_seed_is_an_error_naming_both(tmp_path):
    _, ids, y = toy(20, 5)
    write_run(tmp_path, "x/a", "good", 0, ids, y, y + 0.1)
    write_run(tmp_path, "y/a", "good", 0, ids, y, y + 0.2)
    with pytest.raises(DataError, match="x/a and y/a"):
        scan(tmp_path)


def test_tiers_group_entries_not_significantly_worse_than_the_best(tmp_path):
    rng, ids, y = toy(300, 6)
    noise = rng.normal(0, 0.3, y.size)
    write_run(tmp_path, "a", "best", 0, ids, y, y + noise)
    write_run(tmp_path, "b", "twin", 0, ids, y, y - noise)  # the same absolute errors
    write_run(tmp_path, "c", "base", 0, ids, y, y + rng.normal(0, 0.9, y.size))
    table = table_of(tmp_path, Options(baseline="base", n_resamples=200))
    tiers = {k[0]: t for k, t in table.tiers.items()}
    # The constant (MAE ≈ 0.56) lies between the twins (≈ 0.24) and the baseline (≈ 0.72).
    assert tiers["best"] == tiers["twin"] == 1 and tiers["constant"] == 2 and tiers["base"] == 3
    assert [r.key[0] for r in table.rows][:2] == ["best", "twin"]
    assert table.marked == {("best", "nima", "tiny"), ("twin", "nima", "tiny")}


def test_heads_without_scores_are_tested_on_accuracy_only_and_get_no_wilcoxon_tier(tmp_path):
    """A classification probe writes no pred_mean: its rows have ACC only; in a table decided
    by the Wilcoxon test they get no tier and no mark, and their family holds the ACC test."""
    rng, ids, y = toy(120, 10)
    for pretext, sd in (("good", 0.2), ("base", 0.8)):
        write_run(tmp_path, f"nima_{pretext}", pretext, 0, ids, y, y + rng.normal(0, sd, y.size))
        probe = write_run(tmp_path, f"probe_{pretext}", pretext, 0, ids, y,
                          y + rng.normal(0, sd, y.size), head="probe")
        frame = pd.read_csv(probe / "predictions.csv")
        frame["pred_mean"] = np.nan
        frame.to_csv(probe / "predictions.csv", index=False)
    table = table_of(tmp_path, Options(baseline="base", n_resamples=300))
    assert table.n_images == 120 and table.decision == cmp.WILCOXON
    good_probe = ("good", "probe", "tiny")
    assert {(t.test, t.metric) for t in table.tests if t.entry == good_probe} == {
        ("bootstrap", "acc")}
    assert good_probe not in table.tiers and ("good", "nima", "tiny") in table.tiers
    row = next(r for r in table.rows if r.key == good_probe)
    expected = pd.read_csv(tmp_path / "probe_good" / "predictions.csv")
    assert row.values["acc"][0] == pytest.approx(
        np.mean(expected["pred_binary"] == expected["target_binary"]))
    assert math.isnan(row.mean_std("mae")[0])


def test_seed_level_test_skips_heads_without_the_decision_metric(tmp_path):
    """Three seeds of a classification probe (no pred_mean, so no MAE) next to three of NIMA:
    the Welch test runs for NIMA only (found in the quick sweep, where it raised)."""
    rng, ids, y = toy(60, 11)
    for pretext, sd in (("good", 0.3), ("base", 0.5)):
        for s in range(3):
            write_run(tmp_path, f"nima_{pretext}{s}", pretext, s, ids, y,
                      y + rng.normal(0, sd, y.size))
            probe = write_run(tmp_path, f"probe_{pretext}{s}", pretext, s, ids, y,
                              y + rng.normal(0, sd, y.size), head="probe")
            frame = pd.read_csv(probe / "predictions.csv")
            frame["pred_mean"] = np.nan
            frame.to_csv(probe / "predictions.csv", index=False)
    table = table_of(tmp_path, Options(baseline="base", n_resamples=200))
    assert [(t.entry, t.test) for t in table.seed_tests] == [(("good", "nima", "tiny"), "welch")]


# ------------------------------------------------------------------------------------------
# The constant baseline and the train-label statistics the runner records
# ------------------------------------------------------------------------------------------


def test_constant_row_from_train_label_stats(tmp_path):
    _, ids, y = toy(40, 7)
    train = {"n": 100, "score_mean": 5.25, "binary_rate": 0.3}
    write_run(tmp_path, "a", "good", 0, ids, y, y + 0.2, stats_=train)
    table = table_of(tmp_path)
    row = next(r for r in table.rows if r.key == CONSTANT)
    assert row.role == "constant"
    assert row.values["mae"][0] == pytest.approx(np.mean(np.abs(y - 5.25)))
    # binary_rate 0.3: the majority class is "low", so ACC is the fraction of low test images.
    assert row.values["acc"][0] == pytest.approx(np.mean(y <= 5))
    assert math.isnan(row.mean_std("srcc")[0])


def test_constant_row_falls_back_to_the_oracle_test_mean(tmp_path):
    _, ids, y = toy(40, 8)
    write_run(tmp_path, "a", "good", 0, ids, y, y + 0.2)  # no train_label_stats
    table = table_of(tmp_path)
    row = next(r for r in table.rows if r.key == CONSTANT)
    assert row.role == "oracle constant"
    assert row.values["mae"][0] == pytest.approx(np.mean(np.abs(y - y.mean())))
    assert "oracle" in "\n".join(csv_frame([table])["role"].unique())


def test_train_label_stats_match_the_training_records():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 20, (30, 10)).astype(float)
    votes[3] = 0  # a row without votes is left out of the prior
    records = Records(np.array([f"i{i}" for i in range(30)]), np.array([""] * 30), votes=votes,
                      binary=(rng.random(30) > 0.4).astype(np.int8))
    dataset = Dataset("toy", AVA_LABELS, records, {"train": np.arange(30)})
    index = np.arange(0, 30, 2)
    got = train_label_stats(dataset, index)
    dist = votes[index] / np.maximum(votes[index].sum(axis=1, keepdims=True), 1)
    assert got["n"] == 15
    assert got["score_mean"] == pytest.approx(np.mean(dist @ BINS))
    assert got["binary_rate"] == pytest.approx(records.binary[index].mean())
    rows = dist[votes[index].sum(axis=1) > 0]
    assert got["prior"] == pytest.approx(rows.mean(axis=0).tolist())
    binary_only = Dataset("pq", LabelSpec(frozenset({"binary"}), (0, 1), 0.5),
                          Records(records.image_id, records.path, binary=records.binary),
                          {"train": np.arange(30)})
    assert set(train_label_stats(binary_only, index)) == {"n", "binary_rate"}


# ------------------------------------------------------------------------------------------
# Decisions, baselines, skipped runs, the CSV
# ------------------------------------------------------------------------------------------


def test_binary_only_tables_decide_by_the_accuracy_bootstrap():
    table = table_of(RUNS, Options(), index=0)  # cuhkpq
    assert table.section == Section("cuhkpq", 1.0)
    assert table.decision == cmp.Decision("bootstrap", "acc")
    forced = table_of(RUNS, Options(decide="wilcoxon"), index=0)
    assert forced.decision == cmp.Decision("bootstrap", "acc")
    assert "does not apply" in forced.notes[0]


def test_cross_dataset_tables_use_the_correlations_only():
    runs, _ = scan(RUNS)
    cross = [s for s in sections(runs) if s.eval_dataset]
    assert cross == [Section("synthetic", 1.0, "tid2013")]
    members = [r for r in runs if "tid2013" in r.cross]
    table = build(cross[0], members, Options())
    assert table.metrics == ["srcc", "plcc"] and table.decision.metric == "srcc"
    assert {t.test for t in table.tests} == {"bootstrap"}
    assert all(r.key != CONSTANT for r in table.rows)


def test_missing_default_baseline_is_one_line_and_explicit_one_an_error(capsys, tmp_path):
    _, ids, y = toy(30, 9)
    write_run(tmp_path / "runs", "a", "good", 0, ids, y, y + 0.2)
    write_run(tmp_path / "runs", "b", "other", 0, ids, y, y + 0.4)
    code, _, _ = invoke(capsys, "publish", "--runs", str(tmp_path / "runs"), "--out",
                        str(tmp_path / "lb"), "--no-plots")
    assert code == 0
    text = (tmp_path / "lb" / "toy.md").read_text()
    assert "No baseline: no run of pretext `imagenet`" in text and "†" not in text
    code, _, err = invoke(capsys, "publish", "--runs", str(tmp_path / "runs"), "--baseline",
                          "simclr", "--out", str(tmp_path / "lb"))
    assert code == 2 and "--baseline simclr: no run" in err and "good, other" in err


def test_runs_without_predictions_are_listed_and_skipped():
    runs, skipped = scan(RUNS)
    assert [(s.name, s.reason) for s in skipped] == [
        ("synthetic/rotnet_nima_unfinished", "unfinished (no metrics.json)")]
    assert len(runs) == 18


def test_csv_has_one_structured_row_per_entry_and_metric(tmp_path):
    publish(RUNS, tmp_path, Options(), draw=False)
    frame = pd.read_csv(tmp_path / "synthetic.csv")
    keys = ["label_fraction", "pretext", "head", "backbone", "metric"]
    assert not frame.duplicated(keys).any()
    row = frame.query("pretext == 'rotnet' and head == 'nima' and label_fraction == 1.0 "
                      "and metric == 'srcc'").iloc[0]
    assert row["n_seeds"] == 3 and row["marked"] and row["tier"] == 1 and row["best"]
    # Means recomputed with harness.metrics on the 46 common images of the table.
    seeds = []
    common = None
    for s in range(3):
        p = pd.read_csv(RUNS / f"synthetic/rotnet_nima_f1_s{s}/predictions.csv")
        seeds.append(p.set_index("image_id"))
        common = set(p.image_id) if common is None else common & set(p.image_id)
    common = sorted(common)
    values = [metrics.srcc(f.loc[common, "target_mean"], f.loc[common, "pred_mean"])
              for f in seeds]
    assert row["mean"] == pytest.approx(np.mean(values), abs=1e-12)
    assert row["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    wil = frame.query("pretext == 'rotnet' and head == 'nima' and label_fraction == 1.0 "
                      "and metric == 'mae'").iloc[0]
    assert wil["p_wilcoxon_adjusted"] < 0.01 and math.isnan(
        frame.query("metric == 'srcc'")["p_wilcoxon"].iloc[0])


# ------------------------------------------------------------------------------------------
# End to end: real runs on the synthetic dataset
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_publish_real_runs_of_two_pretexts_with_three_seeds(capsys, tmp_path, registry):
    """``harness run`` × (random, imagenet from a local tiny state dict) × 3 seeds, then
    ``harness publish``: a table with ± over seeds, a tier per row, the footnote and the CSV."""
    import torch

    spec = registry.get("backbone", "tiny")
    torch.manual_seed(0)
    weights = tmp_path / "tiny_imagenet.pt"
    torch.save(spec.factory(spec.settings()).state_dict(), weights)
    head = ["--head", "nima", "--backbone", "tiny", "--set", "dataset.n_images=60", "--set",
            "head.image_size=32", "--set", "head.resize=36", "--set", "head.epochs=1", "--set",
            "head.batch_size=16", "--set", "run.progress=false"]
    for pretext, extra in (("random", []), ("imagenet", ["--set", f"pretext.weights={weights}"])):
        for seed in range(3):
            code, _, err = invoke(capsys, "run", "--pretext", pretext, "--seed", str(seed),
                                    "--out", str(tmp_path / "runs" / f"{pretext}{seed}"),
                                    *head, *extra)
            assert code == 0, err
    code, _, err = invoke(capsys, "publish", "--runs", str(tmp_path / "runs"), "--out",
                            str(tmp_path / "lb"), "--resamples", "500")
    assert code == 0, err
    text = (tmp_path / "lb" / "synthetic.md").read_text()
    assert "| random | nima | tiny | 3 |" in text.replace(" †", "").replace("‡", "")
    assert "imagenet (baseline)" in text and "constant (train labels)" in text
    assert "one-sided Wilcoxon signed-rank test on per-image absolute errors" in text
    assert " ± " in text and "Seeds per entry: 3." in text
    frame = pd.read_csv(tmp_path / "lb" / "synthetic.csv")
    assert set(frame["role"]) == {"entry", "baseline", "constant"}
    assert frame["tier"].notna().all()
    assert frame.query("role == 'entry' and metric == 'mae'")["p_wilcoxon"].notna().all()
