"""The sweep's live view: a rich table of the cells' states with an ETA (in a terminal), and
the same numbers as log lines otherwise. It reads the status the scheduler writes."""

from __future__ import annotations

import time
from datetime import datetime

from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.progress import console
from harness.sweep.plan import Plan
from harness.sweep.status import STATES, Status

STYLE = {"pending": "dim", "cached": "cyan", "running": "yellow", "done": "green",
         "failed": "red"}
#: Row order: what needs attention first.
ORDER = {"running": 0, "failed": 1, "cached": 2, "pending": 3, "done": 4}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _elapsed(started: str | None) -> float | None:
    if not started:
        return None
    return time.time() - datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def eta_seconds(status: Status, parallel: int | None) -> float | None:
    """Time left: the mean wall time of this invocation's finished cells (leaders and the others
    apart: a leader also pretrains) times the cells left, spread over ``parallel`` workers (None:
    all at once)."""
    walls: dict[bool, list[float]] = {True: [], False: []}
    for cell in status.cells.values():
        if cell["state"] == "done" and cell["started"] and cell["wall_seconds"] is not None:
            walls[bool(cell["leader"])].append(cell["wall_seconds"])
    if not walls[True] and not walls[False]:
        return None
    every = walls[True] + walls[False]
    mean = {k: sum(v) / len(v) if v else sum(every) / len(every) for k, v in walls.items()}
    left, n = 0.0, 0
    for cell in status.cells.values():
        if cell["state"] in ("pending", "cached"):
            left += mean[cell["state"] == "pending"]
            n += 1
        elif cell["state"] == "running":
            left += max(0.0, mean[bool(cell["leader"])] - (_elapsed(cell["started"]) or 0.0))
            n += 1
    return left / min(parallel or n, n) if n else None


def progress_line(status: Status, parallel: int | None) -> str:
    counts = status.counts()
    eta = eta_seconds(status, parallel)
    return (f"[{counts['done'] + counts['failed']}/{len(status.cells)}"
            f"{', ' + str(counts['failed']) + ' failed' if counts['failed'] else ''}"
            f"{', eta ' + duration(eta) if eta is not None else ''}]")


def short_labels(plan: Plan) -> dict[str, str]:
    """Each cell's coordinates that vary across the sweep: ``rotnet × nima · seed 1 · 20%``."""
    coords = {cell.key: cell.describe() for cell in plan.cells}
    shown = [k for k in ("dataset", "eval", "backbone", "seed", "label_fraction")
             if len({str(c[k]) for c in coords.values()}) > 1]
    text = {"dataset": str, "eval": lambda v: f"→ {v or '-'}", "backbone": str,
            "seed": lambda v: f"seed {v}", "label_fraction": lambda v: f"{v:.0%}"}
    return {key: " · ".join([f"{c['pretext']} × {c['head']}"] + [text[k](c[k]) for k in shown])
            for key, c in coords.items()}


class Display:
    """A rich Live table while the sweep runs (only on a terminal, and when ``enabled``)."""

    def __init__(self, plan: Plan, status: Status, parallel: int | None,
                 enabled: bool = True) -> None:
        self.plan, self.status, self.parallel = plan, status, parallel
        self.labels = short_labels(plan)
        self.live = (Live(console=console, refresh_per_second=2, transient=False)
                     if enabled and console.is_terminal else None)

    def __enter__(self) -> Display:
        if self.live is not None:
            self.live.__enter__()
            self.refresh()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.refresh()
            self.live.__exit__(*exc)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Table:
        counts = self.status.counts()
        eta = eta_seconds(self.status, self.parallel)
        summary = "  ".join(f"{state} {counts[state]}" for state in STATES)
        table = Table(title=f"sweep {self.plan.name}: {summary}"
                            f"{'  eta ' + duration(eta) if eta is not None else ''}",
                      title_justify="left", expand=False)
        table.add_column("state", no_wrap=True, min_width=19)
        table.add_column("cell", no_wrap=True, overflow="ellipsis",
                         min_width=min(60, max(map(len, self.labels.values()), default=4)))
        table.add_column("time", no_wrap=True, min_width=12, justify="right")
        table.add_column("error", no_wrap=True, overflow="ellipsis", ratio=1)
        rows = sorted(self.status.cells.items(), key=lambda kv: ORDER[kv[1]["state"]])
        room = max(3, console.height - 8)
        for key, cell in rows[:room]:
            state = cell["state"]
            seconds = (_elapsed(cell["started"]) if state == "running" else cell["wall_seconds"])
            table.add_row(Text(state + (" (pretrains)" if state == "running" and cell["leader"]
                                        else ""), style=STYLE[state]),
                          self.labels[key], duration(seconds), cell["error"] or "")
        if len(rows) > room:
            table.caption = f"… and {len(rows) - room} more (all in {self.status.path})"
        return table
