"""``harness run`` end to end on generated real layouts (with their quirks)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.synthetic.layouts import write_layout
from tests.test_cli import invoke

FAST = ["--backbone", "tiny", "--profile", "quick", "--set", "head.image_size=32",
        "--set", "head.resize=36", "--set", "head.epochs=2", "--set", "head.batch_size=16",
        "--set", "run.progress=false"]


@pytest.mark.slow
def test_ava_run_skips_and_lists_the_unreadable_images(capsys, tmp_path):
    root = tmp_path / "AVA"
    write_layout("ava", root, n_images=200, seed=0, min_side=40, max_side=56, quirks=True)
    out = tmp_path / "run"
    code, stdout, stderr = invoke(capsys, "run", "--pretext", "random", "--head", "nima",
                                  "--dataset", "ava", "--set", f"dataset.root={root}",
                                  "--out", str(out), *FAST)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(skipped.reason.str.split(" ").str[0]) == ["file", "unreadable"]
    assert metrics["skipped"] == 2 and metrics["dataset"] == "ava"
    assert metrics["n_test"] == len(pd.read_csv(out / "predictions.csv")) == 40 - 1
    assert {"emd", "acc", "srcc"} <= set(metrics)
    log = (out / "run.log").read_text()
    assert "AVA.txt:2" in log  # the zero-vote row is named once in the run log
    assert log.count("skipped unreadable image") == 2


@pytest.mark.slow
def test_tid2013_as_a_cross_dataset_evaluation(capsys, tmp_path):
    ava, tid = tmp_path / "AVA", tmp_path / "tid"
    write_layout("ava", ava, n_images=60, seed=0, min_side=40, max_side=56, quirks=False)
    write_layout("tid2013", tid, n_images=60, seed=1, min_side=40, max_side=56, quirks=True)
    out = tmp_path / "run"
    code, _, stderr = invoke(capsys, "run", "--pretext", "random", "--head", "nima",
                             "--dataset", "ava", "--set", f"dataset.root={ava}",
                             "--set", "eval.dataset=tid2013", "--set", f"eval.root={tid}",
                             "--set", "eval.use_split=all", "--out", str(out), *FAST)
    assert code == 0, stderr
    cross = json.loads((out / "metrics.json").read_text())["cross"]["tid2013"]
    assert cross["split"] == "all" and cross["n_test"] == 60 - 2 and cross["skipped"] == 2
    assert {"srcc", "plcc"} <= set(cross)


def test_a_score_only_dataset_is_refused_by_a_distribution_head(capsys, tmp_path):
    root = tmp_path / "tid"
    write_layout("tid2013", root, n_images=10, seed=0, min_side=32, max_side=40, quirks=False)
    code, _, stderr = invoke(capsys, "run", "--pretext", "random", "--head", "nima",
                             "--dataset", "tid2013", "--set", f"dataset.root={root}",
                             "--out", str(tmp_path / "run"), *FAST)
    assert code == 2 and "cannot train on dataset 'tid2013'" in stderr
