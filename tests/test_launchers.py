"""Launchers: local worker processes, and submitit (its local executor stands in for Slurm),
including a preempted job that is requeued and resumes its cell."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.io import read_json, write_json
from harness.launchers import (CellJob, LocalLauncher, SubmititLauncher, Task, executor_parameters,
                               exit_detail, make_launcher)
from harness.sweep.command import load_plan
from harness.sweep.execute import run_sweep
from harness.sweep.spec import SlurmSpec, minutes

SWEEP = """
name = "s"
[axes]
pretexts = ["random", "rotnet"]
heads = ["nima"]
backbones = ["tiny"]
[settings.backbone.tiny]
width = 8
[settings.dataset.synthetic]
n_images = 60
min_side = 40
max_side = 48
[settings.pretext.rotnet]
image_size = 32
epochs = 3
batch_size = 16
max_images = 48
[settings.head.nima]
image_size = 32
resize = 36
epochs = 2
batch_size = 16
freeze_until_plateau = false
[launcher.slurm]
gpus_per_node = 0
time = "00:10:00"
"""


@pytest.mark.parametrize("value, expected", [(90, 90), ("04:00:00", 240), ("1-00:30", 1470),
                                             ("00:00:30", 1), ("2:05:10", 126)])
def test_slurm_time(value, expected):
    assert minutes(value) == expected


def test_slurm_parameters_reach_submitit():
    spec = SlurmSpec(partition="gpu", time="02:00:00", gpus_per_node=2, cpus_per_task=8,
                     mem_gb=64, array_parallelism=10, setup=["module load cuda"],
                     additional={"account": "iaa"})
    assert executor_parameters(spec, "quick") == {
        "name": "sweep-quick", "timeout_min": 120, "gpus_per_node": 2, "cpus_per_task": 8,
        "mem_gb": 64, "slurm_partition": "gpu", "slurm_array_parallelism": 10,
        "slurm_setup": ["module load cuda"], "slurm_additional_parameters": {"account": "iaa"}}


def test_slurm_cells_use_their_allocation(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    for command in ("sbatch", "srun"):  # stand-ins: nothing is submitted here
        path = tmp_path / "bin" / command
        path.write_text("#!/bin/sh\nexit 1\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    launcher = make_launcher("slurm", 4, tmp_path, SlurmSpec(cpus_per_task=8), "s")
    assert (launcher.name, launcher.parallel, launcher.threads) == ("slurm", None, 8)
    assert launcher.free() > 10_000  # the cluster queues: submit whatever is ready
    limited = make_launcher("slurm", 4, tmp_path, SlurmSpec(array_parallelism=3), "s")
    assert (limited.parallel, limited.free(), limited.threads) == (3, 3, 0)


def test_local_threads_share_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert [LocalLauncher(jobs).threads for jobs in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]


def test_slurm_without_sbatch_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="sbatch and srun not on PATH"):
        make_launcher("slurm", 1, tmp_path, SlurmSpec(), "s")


def test_cell_job_checkpoint_resubmits_itself():
    job = CellJob("/sweep/cells/x.json")
    delayed = job.checkpoint()
    assert delayed.function is job and delayed.args == () and delayed.kwargs == {}


@pytest.mark.parametrize("code, log, expected", [
    (1, "loading\nerror: dataset 'ava': the folder /x (root) does not exist\n",
     "dataset 'ava': the folder /x (root) does not exist"),
    (-9, "", "the worker was killed by SIGKILL"),
    (3, "Traceback ...\nRuntimeError: boom\n", "the worker exited with code 3: RuntimeError: boom"),
])
def test_exit_detail(tmp_path, code, log, expected):
    path = tmp_path / "cell.log"
    path.write_text(log)
    assert exit_detail(code, path).startswith(expected)


def test_local_workers_run_in_parallel_and_report_their_error(tmp_path):
    """Two workers at once; a cell whose configuration is broken fails with its one-line error."""
    launcher = LocalLauncher(jobs=2)
    tasks = []
    for name in ("a", "b"):
        cell = write_json(tmp_path / f"{name}.json", {
            "key": name, "raw": {"pretext": {"name": "random"}, "head": {"name": "nope"}},
            "hash": "", "out": str(tmp_path / "runs" / name),
            "outcome": str(tmp_path / f"{name}.outcome.json")})
        tasks.append(Task(name, cell, tmp_path / "logs" / f"{name}.log"))
    assert launcher.free() == 2
    ids = launcher.start(tasks)
    assert launcher.free() == 0 and len(set(ids.values())) == 2
    ended = []
    deadline = time.time() + 300
    while len(ended) < 2 and time.time() < deadline:
        ended += launcher.poll()
        time.sleep(0.1)
    assert sorted(e.key for e in ended) == ["a", "b"]
    for end in ended:
        assert end.detail.startswith("unknown head 'nope'")
        outcome = read_json(tmp_path / f"{end.key}.outcome.json")
        assert outcome["state"] == "failed" and outcome["error"] == end.detail


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the job's task in /proc")
def test_submitit_local_executor_runs_a_sweep_and_requeues_a_preempted_cell(tmp_path, monkeypatch):
    """The cells run as submitit jobs; the rotnet cell is preempted (SIGUSR2, as Slurm sends it)
    mid-run: submitit checkpoints CellJob, requeues it, and the cell resumes its run directory."""
    from harness.registry import build_registry

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(SWEEP)
    plan = load_plan(tmp_path / "s.toml", build_registry(), tmp_path / "sweep")
    launcher = make_launcher("submitit-local", 2, plan.out / "submitit", plan.spec.launcher.slurm,
                             plan.name)
    assert isinstance(launcher, SubmititLauncher)
    rotnet = next(c for c in plan.cells if c.config.pretext.name == "rotnet")
    preempted: list[int] = []

    def preempt():
        deadline = time.time() + 600
        while time.time() < deadline and not preempted:
            job = launcher.jobs.get(rotnet.key)
            if job is not None and (rotnet.run_dir / "config.json").is_file():
                for pid in _children(int(job.job_id)):
                    os.kill(pid, signal.SIGUSR2)
                    preempted.append(pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=preempt, daemon=True)
    watcher.start()
    status = run_sweep(plan, launcher, resume=False, publish=False, live=False, poll_seconds=0.2)
    watcher.join(timeout=5)
    assert preempted, "the rotnet cell was never seen running"
    assert {c["state"] for c in status.cells.values()} == {"done"}, status.cells
    logs = "".join(p.read_text(errors="replace") for p in (plan.out / "submitit").rglob("*")
                   if p.suffix in (".out", ".err"))
    assert "Requeued job" in logs  # submitit checkpointed CellJob and requeued it ...
    assert "resuming the unfinished run" in logs  # ... and the runner resumed the cell
    assert (rotnet.run_dir / "metrics.json").is_file()
