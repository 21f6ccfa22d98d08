"""Where a sweep's cells run: local worker processes, or submitit jobs (Slurm, or submitit's local
executor, which runs the same code path on this machine).

The sweep's scheduler (:mod:`harness.sweep.execute`) decides *what* runs when; a launcher only
starts cells and says which have ended. Each cell writes its own outcome file
(:func:`harness.sweep.cell.run_cell`), so a launcher reports only why a cell ended when no outcome
was written (killed, out of memory, cancelled).
"""

from __future__ import annotations

import abc
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from harness.errors import UsageError
from harness.sweep.spec import SlurmSpec
from harness.sweep.worker import PARENT_ENV

LAUNCHERS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class Task:
    """One cell to start: its key, its cell file and the log file for its output."""

    key: str
    cell_file: Path
    log_file: Path


@dataclass(frozen=True)
class Ended:
    """A cell whose process or job ended; ``detail`` says how, when it did not exit cleanly."""

    key: str
    detail: str | None


def threads_per_cell(jobs: int) -> int:
    """Torch CPU threads for each of ``jobs`` concurrent cells on this machine: its cores, shared."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


class Launcher(abc.ABC):
    name: str
    #: How many cells run at once at most; None: as many as the cluster schedules.
    parallel: int | None
    #: Torch CPU threads per cell (``run.threads``); 0: torch's default.
    threads: int = 0

    @abc.abstractmethod
    def free(self) -> int:
        """How many more cells may start now."""

    @abc.abstractmethod
    def start(self, tasks: list[Task]) -> dict[str, str]:
        """Start the cells; returns key -> job id (a pid, or a scheduler's job id)."""

    @abc.abstractmethod
    def poll(self) -> list[Ended]:
        """The started cells that ended since the last call."""

    def stop(self) -> None:
        """Called when the sweep is interrupted."""


class LocalLauncher(Launcher):
    """Up to ``jobs`` worker processes (``python -m harness.sweep.worker CELL_FILE``), each with
    its output in its log file. Workers die with the sweep (Linux: PR_SET_PDEATHSIG)."""

    name = "local"

    def __init__(self, jobs: int) -> None:
        self.parallel = jobs
        self.threads = threads_per_cell(jobs)
        self.procs: dict[str, tuple[subprocess.Popen, Task]] = {}

    def free(self) -> int:
        return self.parallel - len(self.procs)

    def start(self, tasks: list[Task]) -> dict[str, str]:
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        ids = {}
        for task in tasks:
            task.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(task.log_file, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "harness.sweep.worker", str(task.cell_file)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            self.procs[task.key] = (proc, task)
            ids[task.key] = str(proc.pid)
        return ids

    def poll(self) -> list[Ended]:
        ended = []
        for key, (proc, task) in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.procs[key]
            ended.append(Ended(key, None if code == 0 else exit_detail(code, task.log_file)))
        return ended

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            proc.terminate()
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def exit_detail(code: int, log_file: Path) -> str:
    """Why a worker ended: its ``error:`` line, the signal that killed it, or its exit code."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker was killed by {name} (out of memory?); see {log_file}"
    try:
        lines = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    return f"the worker exited with code {code}" + (f": {lines[-1]}" if lines else "")


class CellJob(submitit.helpers.Checkpointable):
    """The callable a submitit job runs: one cell, in the job's process.

    On preemption or timeout submitit calls :meth:`checkpoint` (inherited): it returns a
    ``DelayedSubmission`` of this same callable, so the requeued job runs the same cell again,
    and the runner resumes it from its run directory (``head_resume.pt``) and the pretraining
    cache (``resume.pt``).
    """

    def __init__(self, cell_file: str) -> None:
        self.cell_file = cell_file

    def __call__(self) -> dict[str, Any]:
        from harness.progress import setup_logging
        from harness.sweep.cell import run_cell

        setup_logging()
        return run_cell(Path(self.cell_file))


class SubmititLauncher(Launcher):
    """Cells as submitit jobs; the cells that become ready together go in one job array.

    ``cluster="slurm"`` submits to Slurm with the sweep's ``[launcher.slurm]`` parameters (at
    most ``array_parallelism`` jobs at once if set; each cell uses ``cpus_per_task`` threads);
    ``cluster="local"`` uses submitit's local executor (the tests, and trying a cluster setup on
    one machine), at most ``parallel`` jobs at once.
    """

    def __init__(self, folder: Path, cluster: str, slurm: SlurmSpec, parallel: int | None,
                 name: str) -> None:
        missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
        if cluster == "slurm" and missing:
            raise UsageError(f"--launcher slurm: {' and '.join(missing)} not on PATH; run the "
                             f"sweep on the cluster's login node (--launcher submitit-local tries "
                             f"the same path on this machine)")
        self.name = "slurm" if cluster == "slurm" else "submitit-local"
        self.cluster = cluster
        self.parallel = parallel if cluster == "local" else slurm.array_parallelism
        self.threads = threads_per_cell(parallel or 1) if cluster == "local" else (
            slurm.cpus_per_task or 0)
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster,
                                              slurm_max_num_timeout=slurm.max_requeues,
                                              local_max_num_timeout=slurm.max_requeues)
        self.executor.update_parameters(**executor_parameters(slurm, name))
        self.jobs: dict[str, submitit.Job] = {}

    def free(self) -> int:
        if self.parallel is None:
            return 1_000_000
        return self.parallel - len(self.jobs)

    def start(self, tasks: list[Task]) -> dict[str, str]:
        if not tasks:
            return {}
        with self.executor.batch():
            jobs = [self.executor.submit(CellJob(str(task.cell_file))) for task in tasks]
        ids = {}
        for task, job in zip(tasks, jobs):
            self.jobs[task.key] = job
            ids[task.key] = str(job.job_id)
        return ids

    def poll(self) -> list[Ended]:
        ended = []
        for key, job in list(self.jobs.items()):
            if not job.done():
                continue
            del self.jobs[key]
            detail = None
            try:
                error = job.exception()
            except Exception as problem:  # the scheduler lost the job's files
                error = problem
            if error is not None:
                lines = [line for line in str(error).strip().splitlines() if line.strip()]
                detail = f"job {job.job_id}: {lines[-1] if lines else type(error).__name__}"
            ended.append(Ended(key, detail))
        return ended

    def stop(self) -> None:
        if self.cluster == "local":  # local jobs are this machine's processes: stop them
            for job in self.jobs.values():
                job.cancel(check=False)


def executor_parameters(slurm: SlurmSpec, name: str) -> dict[str, Any]:
    """``[launcher.slurm]`` as submitit AutoExecutor parameters (None = the scheduler's default)."""
    return {"name": f"sweep-{name}", "timeout_min": slurm.timeout_min,
            "gpus_per_node": slurm.gpus_per_node, "cpus_per_task": slurm.cpus_per_task,
            "mem_gb": slurm.mem_gb, "slurm_partition": slurm.partition,
            "slurm_array_parallelism": slurm.array_parallelism,
            "slurm_setup": list(slurm.setup) or None,
            "slurm_additional_parameters": dict(slurm.additional) or None}


def make_launcher(kind: str, jobs: int, folder: Path, slurm: SlurmSpec, name: str) -> Launcher:
    """The launcher ``--launcher KIND`` names."""
    if kind == "local":
        return LocalLauncher(jobs)
    if kind in ("slurm", "submitit-local"):
        cluster = "slurm" if kind == "slurm" else "local"
        return SubmititLauncher(folder, cluster, slurm, jobs if cluster == "local" else None,
                                name)
    raise UsageError(f"--launcher {kind}: choose one of {', '.join(LAUNCHERS)}")
