"""``torchrun --nproc_per_node=2 -m harness run``: DDP on two CPU processes (gloo backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from harness import distributed

SETS = ["pretext.epochs=2", "pretext.max_images=64", "pretext.batch_size=16", "head.epochs=2",
        "dataset.n_images=120", "pretrain.n_images=120", "run.progress=false"]


def torchrun(out, cache, nproc=2):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "harness", "run", "--pretext", "rotnet",
               "--head", "nima", "--backbone", "tiny", "--device", "cpu", "--out", str(out)]
    for s in SETS:
        command += ["--set", s]
    env = {**os.environ, "HARNESS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.mark.slow
def test_two_gloo_processes_shard_pretraining_and_rank_0_writes(tmp_path):
    done = torchrun(tmp_path / "run", tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 reports, once

    info = json.loads((tmp_path / "run" / "pretext.json").read_text())
    budget = info["budget"]
    assert budget["world_size"] == 2
    # 64 images = 4 batches of 16 per epoch, 2 per rank; every image is seen in its 4 rotations,
    # and the count is summed over both ranks.
    assert budget["images_seen"] == 2 * 64 * 4
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert metrics["n_test"] == len(predictions) == predictions["image_id"].nunique()
    assert len(list((tmp_path / "cache").rglob("checkpoint.pt"))) == 1

    # The same command again reuses the cached pretraining and the finished run.
    again = torchrun(tmp_path / "run", tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics


def test_without_torchrun_everything_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.init_from_env("cpu")
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.sum_across({"a": 1.0}, None) == {"a": 1.0}
    assert distributed.broadcast("x") == "x"
