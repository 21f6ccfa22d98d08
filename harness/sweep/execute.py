"""Running a planned sweep: the scheduler, the resume rule, and publishing at the end.

Pretraining once: the cells that share a pretraining cache key form a group. A cell whose cache
entry is not complete is started only while no other cell of its group runs (it becomes the
group's *leader* and fills the cache); the others wait in the queue until the entry is complete,
and meanwhile the free workers take other work. Leaders start first (pretraining is the long
pole and unblocks the rest). If a leader fails before its cache entry is complete, the other
cells of its group are marked failed with the leader's error instead of each repeating it.

The rest is on disk: a finished cell has ``metrics.json`` and is skipped; an unfinished run
directory resumes through the runner; a half-trained cache entry resumes from ``resume.pt``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from harness.errors import HarnessError, UsageError
from harness.launchers import Launcher, Task
from harness.sweep.cell import outcome_path, write_cell_file
from harness.sweep.live import Display, duration, progress_line
from harness.sweep.plan import Cell, Plan
from harness.sweep.status import Status, read_status

log = logging.getLogger(__name__)


def check_resumable(plan: Plan, resume: bool) -> None:
    """An interrupted sweep (status without ``finished``) continues only with ``--resume``."""
    previous = read_status(plan.out)
    if previous is None or resume:
        return
    if previous.get("sweep", {}).get("finished") is None:
        cells = previous.get("cells") or {}
        done = sum(c.get("state") == "done" for c in cells.values())
        raise UsageError(f"{plan.out} holds an interrupted sweep ({done} of {len(cells)} cells "
                         f"done); pass --resume to finish it, or delete the folder to start over")


class Scheduler:
    """Starts cells on a launcher as they become ready, and records every change in the status.

    Args:
        plan: the sweep.
        launcher: where cells run.
        status: the status file.
        threads: torch CPU threads per cell (``run.threads``, unless the sweep sets it; 0:
            leave torch's default).
        strict: pass ``--strict-plugins`` on to the cells.
        poll_seconds: how often to look at the running cells.
    """

    def __init__(self, plan: Plan, launcher: Launcher, status: Status, threads: int,
                 strict: bool = False, poll_seconds: float = 0.5) -> None:
        self.plan, self.launcher, self.status = plan, launcher, status
        self.poll_seconds = poll_seconds
        self.cells = {cell.key: cell for cell in plan.cells}
        self.cell_dir = plan.out / "cells"
        self.log_dir = plan.out / "logs"
        self.queue = [key for key, cell in status.cells.items() if cell["state"] != "done"]
        self.running: dict[str, float] = {}  # key -> start time
        self.pretraining: dict[str, str] = {}  # cache key -> the leader running for it
        self.complete = {c.cache_key for c in plan.cells
                         if status.cells[c.key]["state"] == "cached"}
        run = {"progress": False}
        for key in self.queue:
            cell = self.cells[key]
            extra = {**run, **({} if (cell.raw.get("run") or {}).get("threads") or not threads
                               else {"threads": threads})}
            write_cell_file(cell, self.cell_dir, extra, strict)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, on_change: Callable[[], None] = lambda: None) -> None:
        """Run until every cell is done or failed."""
        while self.queue or self.running:
            self._collect()
            self._start()
            on_change()
            if self.queue or self.running:
                time.sleep(self.poll_seconds)

    def _ready(self) -> list[Cell]:
        """The queued cells that may start now, leaders first, at most ``launcher.free()``."""
        free = self.launcher.free()
        leaders, followers, claimed = [], [], set(self.pretraining)
        for key in self.queue:
            cell = self.cells[key]
            if self._is_complete(cell):
                followers.append(cell)
            elif cell.cache_key not in claimed:
                claimed.add(cell.cache_key)
                leaders.append(cell)
        return (leaders + followers)[:max(0, free)]

    def _is_complete(self, cell: Cell) -> bool:
        if cell.cache_key not in self.complete and cell.cache_key not in self.pretraining \
                and cell.cached():  # e.g. filled by another sweep sharing the cache
            self.complete.add(cell.cache_key)
        return cell.cache_key in self.complete

    def _start(self) -> bool:
        cells = self._ready()
        if not cells:
            return False
        tasks = []
        for cell in cells:
            outcome_path(self.cell_dir, cell.key).unlink(missing_ok=True)
            leader = not self._is_complete(cell)
            if leader:
                self.pretraining[cell.cache_key] = cell.key
            tasks.append(Task(cell.key, self.cell_dir / f"{cell.key}.json",
                              self.log_dir / f"{cell.key}.log"))
            self.queue.remove(cell.key)
            self.running[cell.key] = time.time()
            self.status.cells[cell.key].update(
                state="running", leader=leader, error=None, started=_now(), ended=None,
                attempts=self.status.cells[cell.key]["attempts"] + 1)
        ids = self.launcher.start(tasks)
        for key, job in ids.items():
            self.status.cells[key]["job"] = job
        self.status.write()
        return True

    def _collect(self) -> bool:
        ended = self.launcher.poll()
        for end in ended:
            cell = self.cells[end.key]
            started = self.running.pop(end.key)
            outcome = _read_outcome(outcome_path(self.cell_dir, end.key))
            if outcome is None:
                outcome = {"state": "failed", "error": end.detail or "the cell ended without an "
                           "outcome", "pretrained": False}
            state = "done" if outcome["state"] == "done" else "failed"
            self.status.cells[end.key].update(
                state=state, error=outcome.get("error"), pretrained=outcome.get("pretrained"),
                wall_seconds=round(time.time() - started, 3), ended=_now())
            if self.pretraining.get(cell.cache_key) == end.key:
                del self.pretraining[cell.cache_key]
                if cell.cached():
                    self.complete.add(cell.cache_key)
                    self._mark_cached(cell.cache_key)
                elif state == "failed":
                    self._fail_group(cell, outcome.get("error"))
            log.info("%s %s: %s (%s)%s", progress_line(self.status, self.launcher.parallel),
                     state, cell.label(), duration(time.time() - started),
                     f" — {outcome.get('error')}" if state == "failed" else "")
        if ended:
            self.status.write()
        return bool(ended)

    def _mark_cached(self, cache_key: str) -> None:
        for key in self.queue:
            if self.cells[key].cache_key == cache_key:
                self.status.cells[key]["state"] = "cached"

    def _fail_group(self, leader: Cell, error: str | None) -> None:
        for key in [k for k in self.queue if self.cells[k].cache_key == leader.cache_key]:
            self.queue.remove(key)
            self.status.cells[key].update(
                state="failed", ended=_now(),
                error=f"not run: its pretraining failed in cell {leader.key}: {error}")


def _read_outcome(path: Path) -> dict[str, Any] | None:
    from harness.io import read_json

    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _now() -> str:
    from harness.sweep.status import now

    return now()


def run_sweep(plan: Plan, launcher: Launcher, *, resume: bool, publish: bool = True,
              strict: bool = False, live: bool = True, poll_seconds: float = 0.5) -> Status:
    """Run every unfinished cell of ``plan`` on ``launcher``, then publish its leaderboards.

    Raises:
        UsageError: another sweep runs in the same folder, or it holds an interrupted sweep and
            ``resume`` is False.
    """
    plan.out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(plan.out / ".sweep.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(f"{plan.out}: another `harness sweep` is running in this folder; wait "
                         f"for it, or give this one another --out") from None
    try:
        check_resumable(plan, resume)
        status = Status(plan, launcher.name, launcher.parallel)
        scheduler = Scheduler(plan, launcher, status, launcher.threads, strict, poll_seconds)
        display = Display(plan, status, launcher.parallel, enabled=live)
        try:
            with display:
                scheduler.run(on_change=display.refresh)
        except BaseException:
            launcher.stop()
            raise
        status.finish()
        if publish and plan.spec.publish.enabled:
            status.sweep["published"] = [str(p) for p in publish_groups(plan, status)]
            status.write()
        return status
    finally:
        lock.release()


def publish_groups(plan: Plan, status: Status) -> list[Path]:
    """``harness publish`` on the sweep's finished cells, one leaderboard folder per group.

    Each group is published from a view folder (``<sweep>/publish/<group>/<key>/``) of links
    to its cells' result files, so a cell shared by two groups is run once and appears in both.
    A group that cannot be published is logged and the others go on.
    """
    from harness.leaderboard import Options
    from harness.publish import publish

    spec = plan.spec.publish
    options = Options(baseline=spec.baseline, decide=spec.decide, correction=spec.correction,
                      alpha=spec.alpha, n_resamples=spec.resamples,
                      bootstrap_seed=spec.bootstrap_seed)
    root = Path(spec.out or Path("leaderboards") / plan.name)
    groups = plan.groups
    written: list[Path] = []
    for group in groups:
        view = plan.out / "publish" / group
        shutil.rmtree(view, ignore_errors=True)
        cells = [c for c in plan.cells
                 if group in c.groups and status.cells[c.key]["state"] == "done"]
        if not cells:
            log.warning("group %s: no finished cell to publish", group)
            continue
        for cell in cells:
            link_results(cell.run_dir, view / cell.key)
        target = root if len(groups) == 1 else root / group
        try:
            result = publish(view, target, options, draw=spec.plots)
        except HarnessError as error:
            log.error("publishing %s failed: %s", group, error)
            status.sweep.setdefault("publish_errors", []).append(f"{group}: {error}")
            continue
        written += result.files
        log.info("published %s: %s", group, ", ".join(str(p) for p in result.files))
    return written


def link_results(run_dir: Path, view: Path) -> None:
    """Link (or, where links are not allowed, copy) a run's JSON and CSV files into ``view``."""
    view.mkdir(parents=True, exist_ok=True)
    for path in sorted(run_dir.iterdir()):
        if path.suffix not in (".json", ".csv") or not path.is_file():
            continue
        try:
            (view / path.name).symlink_to(path.resolve())
        except OSError:
            shutil.copy2(path, view / path.name)
