"""The sweep's status file, ``<sweep>/status.json``, rewritten atomically on every change.

::

    {"sweep": {"name", "config", "out", "launcher", "jobs", "pid", "host", "started",
               "updated", "finished"},          # finished: null while running or interrupted
     "cells": {"<key>": {"state", "pretext", "head", "dataset", "eval", "backbone", "seed",
                         "label_fraction", "groups", "run_dir", "cache_key", "leader",
                         "pretrained", "error", "wall_seconds", "started", "ended",
                         "attempts", "job"}}}

``state`` is pending, cached (its pretraining is in the cache), running, done or failed;
``pretrained`` is true for the cell that filled the pretraining cache entry; ``error`` is one
line. Read it with pandas::

    pd.DataFrame.from_dict(json.load(open("sweeps/quick/status.json"))["cells"], orient="index")
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from harness.io import read_json, write_json
from harness.sweep.plan import Plan

STATES = ("pending", "cached", "running", "done", "failed")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_status(out: Path) -> dict[str, Any] | None:
    path = Path(out) / "status.json"
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


class Status:
    """The in-memory status of one sweep invocation, mirrored to ``status.json``."""

    def __init__(self, plan: Plan, launcher: str, jobs: int | None) -> None:
        self.path = plan.out / "status.json"
        previous = read_status(plan.out) or {}
        old_cells = previous.get("cells") or {}
        self.sweep = {"name": plan.name, "config": str(plan.path), "out": str(plan.out),
                      "launcher": launcher, "jobs": jobs, "pid": os.getpid(),
                      "host": socket.gethostname(), "started": now(), "updated": now(),
                      "finished": None}
        self.cells: dict[str, dict[str, Any]] = {}
        for cell, state in zip(plan.cells, plan.states().values()):
            old = old_cells.get(cell.key) or {}
            self.cells[cell.key] = {
                "state": state, **cell.describe(), "run_dir": str(cell.run_dir),
                "cache_key": cell.cache_key, "leader": None,
                "pretrained": old.get("pretrained") if state == "done" else None,
                "error": None,
                "wall_seconds": old.get("wall_seconds") if state == "done" else None,
                "started": None, "ended": None, "attempts": old.get("attempts", 0), "job": None}
        self.write()

    def set(self, key: str, **fields: Any) -> None:
        self.cells[key].update(fields)
        self.write()

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for cell in self.cells.values():
            counts[cell["state"]] += 1
        return counts

    def finish(self) -> None:
        self.sweep["finished"] = now()
        self.write()

    def write(self) -> None:
        self.sweep["updated"] = now()
        write_json(self.path, {"sweep": self.sweep, "cells": self.cells})
