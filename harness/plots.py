"""Leaderboard plots (matplotlib's Agg renderer, PNG): label-efficiency curves and per-block
curves of probe heads.

Both read the built tables (:mod:`harness.leaderboard`), so a plot shows exactly the numbers of
the tables next to it: the label-efficiency curve of an entry is its row in each label-fraction
table (mean ± std over seeds on that table's common test images); the per-block curve is the mean
± std over seeds of ``metrics.json``'s ``blocks`` entries (computed by the runner with
:mod:`harness.metrics` on each run's test images — block predictions are not stored).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness import stats
from harness.leaderboard import CONSTANT, Table
from harness.metrics import METRICS
from harness.rundirs import EntryKey

#: Metrics drawn, where a table has them: a rank correlation, accuracy, absolute error.
CURVE_METRICS = ("srcc", "acc", "mae")
#: Per-block metrics drawn, where the blocks have them (the probes' accuracy first).
BLOCK_METRICS = ("acc", "srcc")


#: Horizontal offset factor between neighbouring curves on the log axis; marker cycle.
DODGE = 1.03
MARKERS = "osD^vP*X"


def _legend(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    columns = 1 if len(fig.axes) == 1 else min(len(labels), 3)  # one narrow panel: stack them
    fig.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize="small",
               frameon=False)


def _label(key: EntryKey) -> str:
    return " / ".join(k for k in key if k)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})  # no version string: reproducible
    return path


def _axes(n: int) -> tuple[Figure, list]:
    fig = Figure(figsize=(max(6.4, 4.2 * n), 3.6), layout="constrained")
    return fig, [fig.add_subplot(1, n, i + 1) for i in range(n)]


def label_efficiency(tables: list[Table], path: Path) -> Path | None:
    """Write :func:`label_efficiency_figure` to ``path`` (None: nothing to draw)."""
    fig = label_efficiency_figure(tables)
    return None if fig is None else _save(fig, path)


def blocks(tables: list[Table], path: Path) -> Path | None:
    """Write :func:`blocks_figure` to ``path`` (None: nothing to draw)."""
    fig = blocks_figure(tables)
    return None if fig is None else _save(fig, path)


def label_efficiency_figure(tables: list[Table]) -> Figure | None:
    """Metric vs. fraction of the training labels, one line per entry with ≥ 2 fractions.

    Args:
        tables: the main (not cross-dataset) tables of one dataset, one per label fraction.

    Returns:
        The figure (one panel per metric of :data:`CURVE_METRICS` the tables have), or None
        when no entry was run at two label fractions.
    """
    curves: dict[EntryKey, dict[float, dict[str, tuple[float, float]]]] = {}
    for table in tables:
        for row in table.rows:
            if row.key != CONSTANT:
                point = {m: row.mean_std(m) for m in table.metrics}
                curves.setdefault(row.key, {})[table.section.label_fraction] = point
    curves = {k: v for k, v in sorted(curves.items()) if len(v) >= 2}
    metrics = [m for m in CURVE_METRICS if any(m in t.metrics for t in tables)]
    if not curves or not metrics:
        return None
    fractions = sorted({f for c in curves.values() for f in c})
    fig, axes = _axes(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (key, points) in enumerate(curves.items()):
            xs = sorted(points)
            mean = np.array([points[x].get(metric, (math.nan,))[0] for x in xs])
            std = np.nan_to_num([points[x].get(metric, (0, math.nan))[1] for x in xs])
            dodge = DODGE ** (i - (len(curves) - 1) / 2)  # equal values stay visible side by side
            ax.errorbar(np.array(xs) * dodge, mean, yerr=std, marker=MARKERS[i % len(MARKERS)],
                        capsize=3, label=_label(key))
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f * 100:g} %" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("fraction of the training labels")
        arrow = "↑" if METRICS[metric].higher_is_better else "↓"
        ax.set_ylabel(f"{METRICS[metric].title} {arrow}")
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    fig.suptitle(f"{tables[0].section.dataset}: label efficiency (mean ± std over seeds)")
    return fig


def blocks_figure(tables: list[Table]) -> Figure | None:
    """Per-block test metric of probe heads (``metrics.json`` ``blocks``), one line per entry
    and label fraction, mean ± std over seeds.

    Returns:
        The figure (one panel per metric of :data:`BLOCK_METRICS` the blocks have), or None
        when no run has per-block results.
    """
    curves: dict[str, dict[str, list[float]]] = {}
    order: list[str] = []
    for table in tables:
        fraction = table.section.label_fraction
        suffix = "" if len(tables) == 1 else f", {fraction * 100:g} % labels"
        for row in table.rows:
            for run in row.runs:
                for block, values in (run.blocks or {}).items():
                    order += [block] if block not in order else []
                    for metric in BLOCK_METRICS:
                        if isinstance(values.get(metric), (int, float)):
                            curve = curves.setdefault(f"{_label(row.key)}{suffix}|{metric}", {})
                            curve.setdefault(block, []).append(float(values[metric]))
    metrics = [m for m in BLOCK_METRICS if any(k.endswith(f"|{m}") for k in curves)]
    if not metrics:
        return None
    fig, axes = _axes(len(metrics))
    x = np.arange(len(order))
    for ax, metric in zip(axes, metrics, strict=True):
        for name, curve in sorted(curves.items()):
            label, which = name.rsplit("|", 1)
            if which != metric:
                continue
            summary = [stats.mean_std(curve[b]) if b in curve else (math.nan, math.nan)
                       for b in order]
            mean = np.array([s[0] for s in summary])
            std = np.nan_to_num([s[1] for s in summary])
            ax.errorbar(x, mean, yerr=std, marker=MARKERS[len(ax.containers) % len(MARKERS)],
                        capsize=3, label=label)
        floor = next((r.mean_std(metric)[0] for r in tables[0].rows if r.key == CONSTANT), None)
        if floor is not None and math.isfinite(floor):  # the majority class, for accuracy
            ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="constant")
        ax.set_xticks(x, order, rotation=30, ha="right")
        arrow = "↑" if METRICS[metric].higher_is_better else "↓"
        ax.set_ylabel(f"test {METRICS[metric].title} {arrow}")
        ax.set_xlabel("probed block")
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    fig.suptitle(f"{tables[0].section.dataset}: linear probe per block (mean ± std over seeds)")
    return fig
