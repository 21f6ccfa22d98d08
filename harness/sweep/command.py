"""``harness sweep CONFIG``: load, expand, print the plan (``--dry-run``) or run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.registry import Registry
from harness.sweep.plan import Plan, expand
from harness.sweep.spec import read_spec
from harness.sweep.status import Status


def load_plan(path: Path, registry: Registry, out: Path | None = None,
              overrides: dict[str, Any] | None = None) -> Plan:
    """Read, validate and expand a sweep file (every cell resolved: names and settings checked)."""
    return expand(read_spec(Path(path)), registry, Path(path), out, overrides)


def plan_table(plan: Plan, states: dict[str, str]) -> Table:
    """One row per cell: its state on disk, its coordinates (the columns that vary; the constant
    ones go in the title) and its id (the config hash in its key and run directory's name)."""
    rows = []
    for cell in plan.cells:
        d = cell.describe()
        rows.append({"state": states[cell.key], "pretext": d["pretext"], "head": d["head"],
                     "dataset": d["dataset"], "eval": d["eval"] or "-",
                     "backbone": d["backbone"], "seed": str(d["seed"]),
                     "labels": f"{d['label_fraction']:g}", "group": ", ".join(d["groups"]),
                     "id": cell.key[-8:]})
    always = ("state", "pretext", "head", "id")
    columns = [k for k in rows[0] if k in always or len({r[k] for r in rows}) > 1]
    constant = [f"{k} {rows[0][k]}" for k in rows[0] if k not in columns]
    table = Table(title=f"sweep {plan.name} ({plan.path}) → {plan.out}"
                        + (f"\nall cells: {', '.join(constant)}" if constant else ""),
                  title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(row[k] for k in columns))
    return table


def print_plan(plan: Plan, out: Console) -> None:
    """The ``--dry-run`` report: cells and their states, and the pretraining runs to do."""
    states = plan.states()
    out.print(plan_table(plan, states))
    counts = {s: sum(v == s for v in states.values()) for s in ("done", "cached", "pending")}
    out.print(f"{len(plan.cells)} cells: {counts['done']} finished, {counts['cached']} with "
              f"their pretraining cached, {counts['pending']} pending", highlight=False)
    todo = plan.pretraining_to_do(states)
    trains = {k: cells for k, cells in todo.items() if cells[0].trains}
    inits = len(todo) - len(trains)
    out.print(f"pretraining runs to do: {len(trains)}"
              + (f" (+ {inits} initialisations without training)" if inits else ""),
              highlight=False)
    for key, cells in trains.items():
        c = cells[0].config
        out.print(f"  {c.pretext.name} on {c.pretrain.name} ({c.backbone.name}, seed {c.seed}), "
                  f"cache {key[:12]}, for {len(cells)} cell{'s' * (len(cells) != 1)}",
                  highlight=False)
    for warning in plan.warnings:
        out.print(f"warning: {warning}", highlight=False, markup=False)


def summary_lines(plan: Plan, status: Status) -> list[str]:
    """What the sweep ended with: counts, the failed cells with their errors, the leaderboards."""
    counts = status.counts()
    lines = [f"sweep {plan.name}: {counts['done']} done, {counts['failed']} failed of "
             f"{len(plan.cells)} cells; status in {status.path}"]
    for key, cell in status.cells.items():
        if cell["state"] == "failed":
            lines.append(f"  failed {key}: {cell['error']}")
    for path in status.sweep.get("published") or []:
        lines.append(f"wrote {path}")
    for problem in status.sweep.get("publish_errors") or []:
        lines.append(f"publish failed: {problem}")
    return lines
