"""Running one cell, wherever it runs: a local worker process (:mod:`harness.sweep.worker`) or a
submitit job (:class:`harness.launchers.CellJob`).

A cell file (``<sweep>/cells/<key>.json``) holds what the worker needs: the raw configuration,
its expected hash, the run directory and where to write the outcome. The worker holds the cell's
file lock (``<run dir>/.lock``) for the whole run, so two workers never run the same cell: the
second waits, then finds ``metrics.json`` and returns at once. The runner does the rest: it
reuses the cached pretraining or fills the cache under the cache entry's own lock, and resumes
an unfinished run directory.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.errors import HarnessError
from harness.io import read_json, write_json
from harness.sweep.plan import Cell

log = logging.getLogger(__name__)


def write_cell_file(cell: Cell, folder: Path, run: dict[str, Any], strict: bool) -> Path:
    """Write ``<folder>/<key>.json``; ``run`` adds operational settings (threads, progress).
    Paths are absolute: a cluster job may start in another folder."""
    raw = {**cell.raw, "run": {**(cell.raw.get("run") or {}), **run}}
    return write_json(folder / f"{cell.key}.json", {
        "key": cell.key, "raw": raw, "hash": cell.config.hash, "out": str(cell.run_dir.resolve()),
        "outcome": str(outcome_path(folder, cell.key).resolve()), "strict_plugins": strict})


def outcome_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.outcome.json"


def run_cell(cell_file: Path) -> dict[str, Any]:
    """Run the cell described by ``cell_file``; write and return its outcome.

    The outcome is ``{"state": "done" | "failed", "error": one line or None, "pretrained": did
    this run fill the pretraining cache, "resumed", "wall_seconds", "host", "pid"}``. Errors of
    the run become a failed outcome; only interruptions (KeyboardInterrupt, SystemExit — e.g. a
    submitit preemption) propagate.
    """
    from harness.config import resolve
    from harness.registry import build_registry
    from harness.runner import Runner

    data = read_json(cell_file)
    out, target = Path(data["out"]), Path(data["outcome"])
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    outcome: dict[str, Any] = {"state": "failed", "error": None, "pretrained": False,
                               "resumed": False, "host": socket.gethostname(), "pid": os.getpid()}
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".lock")):
        try:
            registry = build_registry(strict=bool(data.get("strict_plugins")))
            config = resolve(registry, data["raw"])
            if config.hash != data["hash"]:
                raise HarnessError(f"cell {data['key']} resolves to another configuration "
                                   f"(hash {config.hash[:8]}) than when the sweep was planned; "
                                   f"a plugin's defaults changed: run the sweep again to re-plan")
            result = Runner(config, registry, out).run()
            outcome.update(state="done", pretrained=not result.pretrain_cached,
                           resumed=result.resumed)
        except HarnessError as error:
            outcome["error"] = one_line(str(error))
        except Exception as error:  # a plugin's bug: keep the traceback in the log
            log.error("cell %s failed:\n%s", data["key"], traceback.format_exc())
            outcome["error"] = one_line(f"{type(error).__name__}: {error}")
    outcome["wall_seconds"] = time.perf_counter() - started
    write_json(target, outcome)
    return outcome


def one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed without a message"
