"""The command line: end-to-end runs on tiny synthetic settings, resume, caching, one-line errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.cli import main

HEAD = ["--backbone", "tiny", "--set", "dataset.n_images=80", "--set", "head.image_size=32",
        "--set", "head.resize=36", "--set", "head.epochs=2", "--set", "head.batch_size=16",
        "--set", "run.progress=false"]
TINY = [*HEAD, "--set", "pretext.max_images=32", "--set", "pretext.epochs=1",
        "--set", "pretext.image_size=32", "--set", "pretext.batch_size=8"]


def invoke(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``harness ARGS`` in-process; returns (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["harness", *args]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_writes_the_four_files_and_metrics_match_scipy(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = invoke(capsys, "run", "--pretext", "rotnet", "--head", "nima",
                                  "--out", str(out), *TINY)
    assert code == 0, stderr
    for name in ("config.json", "pretext.json", "predictions.csv", "metrics.json"):
        assert (out / name).is_file(), name
    assert "SRCC" in stdout and "run directory" in stdout
    frame = pd.read_csv(out / "predictions.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == len(frame) == 16
    assert metrics["srcc"] == pytest.approx(stats.spearmanr(frame.target_mean, frame.pred_mean)[0])
    assert metrics["plcc"] == pytest.approx(stats.pearsonr(frame.target_mean, frame.pred_mean)[0])
    assert metrics["mae"] == pytest.approx(np.abs(frame.target_mean - frame.pred_mean).mean())
    pred = frame[[f"pred_p{i}" for i in range(1, 11)]].to_numpy()
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert len(config["hash"]) == 64 and config["pretext"]["name"] == "rotnet"
    assert {"git", "packages", "plugins", "device", "seeds"} <= set(config["provenance"])
    pretext = json.loads((out / "pretext.json").read_text())
    assert 0 <= pretext["metrics"]["rotation_accuracy"] <= 1
    assert pretext["budget"]["images_seen"] == 32 * 4 and pretext["budget"]["epochs"] == 1
    assert not (out / "head_resume.pt").exists()


def test_rerun_reuses_the_cached_pretraining(capsys, tmp_path, caplog):
    first = tmp_path / "first"
    assert invoke(capsys, "run", "--pretext", "rotnet", "--head", "nima", "--out", str(first),
                  *TINY)[0] == 0
    second = tmp_path / "second"
    code, _, _ = invoke(capsys, "run", "--pretext", "rotnet", "--head", "nima", "--out",
                        str(second), *TINY, "--set", "head.epochs=1")
    assert code == 0
    assert "reusing the cached pretraining" in caplog.text
    a = json.loads((first / "pretext.json").read_text())
    b = json.loads((second / "pretext.json").read_text())
    assert a["cache_key"] == b["cache_key"]


def test_finished_run_is_not_run_again(capsys, tmp_path, caplog):
    out = tmp_path / "run"
    args = ["run", "--pretext", "random", "--head", "nima", "--out", str(out), *HEAD]
    assert invoke(capsys, *args)[0] == 0
    before = (out / "metrics.json").stat().st_mtime_ns
    assert invoke(capsys, *args)[0] == 0
    assert (out / "metrics.json").stat().st_mtime_ns == before
    assert "is finished" in caplog.text


def test_same_seed_same_predictions(capsys, tmp_path):
    for name in ("a", "b"):
        assert invoke(capsys, "run", "--pretext", "random", "--head", "nima", "--out",
                      str(tmp_path / name), *HEAD)[0] == 0
    a = pd.read_csv(tmp_path / "a" / "predictions.csv")
    b = pd.read_csv(tmp_path / "b" / "predictions.csv")
    pd.testing.assert_frame_equal(a, b)


def test_unknown_set_key_exits_2_with_a_suggestion(capsys):
    code, _, err = invoke(capsys, "run", "--pretext", "rotnet", "--head", "nima", "--set",
                          "head.lr_hed=0.1")
    assert code == 2
    assert "did you mean 'lr_head'" in err and len(err.strip().splitlines()) == 1


def test_unknown_plugin_exits_2_with_a_suggestion(capsys):
    code, _, err = invoke(capsys, "run", "--pretext", "rotnett", "--head", "nima")
    assert code == 2 and "did you mean 'rotnet'" in err


def test_unavailable_device_is_a_usage_error(capsys, tmp_path):
    code, _, err = invoke(capsys, "run", "--pretext", "random", "--head", "nima",
                          "--out", str(tmp_path / "x"), "--device", "cuda:7", *HEAD)
    assert code == 2 and "cuda" in err.lower()


def test_plugins_json_lists_every_builtin_with_references(capsys):
    code, out, _ = invoke(capsys, "plugins", "--json")
    assert code == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(out)["plugins"]}
    for key in [("pretext", "rotnet"), ("pretext", "random"), ("pretext", "imagenet"),
                ("head", "nima"), ("dataset", "synthetic"), ("backbone", "mobilenet_v2")]:
        assert key in rows
        assert rows[key]["module"].startswith("harness_plugins.")
        assert rows[key]["distribution"] == "aesthetic-pretext-harness"
    assert rows[("pretext", "rotnet")]["references"][0].startswith("Gidaris")


@pytest.mark.parametrize("name", ["rotnet", "nima", "tiny", "synthetic", "imagenet"])
def test_plugins_check_passes(capsys, name):
    code, out, _ = invoke(capsys, "plugins", "check", name)
    assert code == 0, out
    assert "FAIL" not in out and out.count("PASS") >= 2


def test_help_documents_every_run_option(capsys):
    code, out, _ = invoke(capsys, "run", "--help")
    assert code == 0
    for option in ("--pretext", "--head", "--dataset", "--backbone", "--seed", "--device",
                   "--out", "--config", "--set", "--profile"):
        assert option in out
