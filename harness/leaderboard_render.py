"""Rendering leaderboard tables (:mod:`harness.leaderboard`) as markdown and as a tidy CSV.

The markdown is deterministic — fixed formats, run directories named relative to ``--runs``, no
timestamps — so a fixed set of runs always renders the same bytes (the golden test relies on it).
"""

from __future__ import annotations

import math

from harness.comparisons import CI_LEVEL, Test
from harness.leaderboard import CONSTANT, DIGITS, Row, Table
from harness.metrics import METRICS
from harness.rundirs import Skipped

CORRECTIONS = {"holm": "Holm", "bonferroni": "Bonferroni"}


def _num(value: float, sign: bool = False) -> str:
    if not math.isfinite(value):
        return "—"
    text = f"{value:+.{DIGITS}f}" if sign else f"{value:.{DIGITS}f}"
    return text.replace("-", "−")


def _p(p: float) -> str:
    return "—" if not math.isfinite(p) else "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _epochs(row: Row) -> str:
    values = sorted(r.epochs for r in row.runs if r.epochs is not None)
    if not values:
        return "—"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def _label(table: Table, row: Row) -> str:
    if row.key == CONSTANT:
        return ("constant (train labels)" if row.role == "constant"
                else "constant (test labels, oracle)")
    marks = ("†" if row.key in table.marked else "") + ("‡" if row.key in table.seed_marked else "")
    return row.key[0] + (" (baseline)" if row.role == "baseline" else "") + (
        f" {marks}" if marks else "")


def _cell(table: Table, row: Row, metric: str, best: set) -> str:
    mean, std = row.mean_std(metric)
    text = _num(mean)
    if len(row.seeds) > 1 and math.isfinite(std):
        text += f" ± {_num(std)}"
    return f"**{text}**" if row.key in best and math.isfinite(mean) else text


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _title(metric: str) -> str:
    return f"{METRICS[metric].title} {'↑' if METRICS[metric].higher_is_better else '↓'}"


def _grid(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def section_heading(table: Table) -> str:
    s = table.section
    labels = f"{s.label_fraction * 100:g} % of the training labels"
    if s.eval_dataset is None:
        return f"## {s.dataset}, {labels}"
    return f"## Trained on {s.dataset} ({labels}), tested on {s.eval_dataset}"


def leaderboard_table(table: Table) -> list[str]:
    best = {m: table.best(m) for m in table.metrics}
    header = ["pretext", "head", "backbone", "seeds", *map(_title, table.metrics), "epochs",
              "pretraining images", "pretraining time", "tier"]
    rows = []
    for row in table.rows:
        constant = row.key == CONSTANT
        images = row.budget("images_seen")
        rows.append([_label(table, row), row.key[1] or "—", row.key[2] or "—",
                     "—" if constant else str(len(row.seeds)),
                     *(_cell(table, row, m, best[m]) for m in table.metrics), _epochs(row),
                     "—" if not math.isfinite(images) else f"{images:,.0f}",
                     _duration(row.budget("wall_seconds")),
                     str(table.tiers[row.key]) if row.key in table.tiers else "—"])
    return _grid(header, rows, ["l"] * 3 + ["r"] * (len(header) - 3))


def footnotes(table: Table) -> list[str]:
    o, d = table.options, table.decision
    corr = CORRECTIONS[o.correction]
    seeds = sorted({len(r.seeds) for r in table.rows if r.key != CONSTANT})
    lines = [f"Test images: {table.n_images}, the images common to every run of this table."]
    if table.missing:
        listed = sorted(table.missing.items())
        shown = ", ".join(f"`{name}` lacks {k}" for name, k in listed[:5])
        more = f" and {len(listed) - 5} more runs" if len(listed) > 5 else ""
        lines.append(f"Some test images are missing from some runs (skipped as unreadable or "
                     f"without a finite prediction): {shown}{more}.")
    lines.append(f"Seeds per entry: {', '.join(map(str, seeds))}. Values: mean ± sample standard "
                 "deviation over seeds (a single value for one seed); ↑/↓: higher/lower is "
                 "better; **bold**: best in its column at the shown precision.")
    if d is None:
        lines.append("No metric this table has can decide significance; no entry is marked.")
        return lines + table.notes
    family = len(table.tests)
    if not any(r.role == "baseline" for r in table.rows):
        lines.append(f"No baseline: no run of pretext `{o.baseline}` in this table, so no entry "
                     "is marked (choose one with `--baseline`).")
    elif table.tests:
        kinds = sorted({(t.test, t.metric) for t in table.tests},
                       key=lambda k: (k[0] != "wilcoxon", list(METRICS).index(k[1])))
        named = ", ".join("Wilcoxon" if t == "wilcoxon" else f"bootstrap Δ{METRICS[m].title}"
                          for t, m in kinds)
        lines.append(f"† significantly better than the baseline `{o.baseline}` with the same head "
                     f"and backbone by the {d.describe()}; {corr} correction over the "
                     f"{_count(family, 'test')} against the baseline in this table ({named}); "
                     f"α = {o.alpha:g}.")
    tested = {t.entry for t in table.tests}
    untested = sorted({f"`{r.key[1]}`/`{r.key[2]}`" for r in table.rows
                       if r.role == "entry" and r.key not in tested})
    if untested and any(r.role == "baseline" for r in table.rows):
        lines.append(f"No `{o.baseline}` run with head/backbone {', '.join(untested)}: those "
                     "entries are not tested against a baseline.")
    if table.seed_tests:
        lines.append(f"‡ also significantly better at the seed level: one-sided Welch t-test on "
                     f"the per-seed {METRICS[d.metric].title}, {corr} correction over the "
                     f"{_count(len(table.seed_tests), 'entry', 'entries')} with ≥ 3 seeds on "
                     f"both sides; α = {o.alpha:g}.")
    elif table.tests:
        lines.append("No seed-level test: it needs ≥ 3 seeds for an entry and its baseline.")
    undecided = sorted({f"`{'/'.join(r.key)}`" for r in table.rows
                        if r.key != CONSTANT and r.key not in table.tiers})
    if undecided:
        lines.append(f"{', '.join(undecided)}: no {METRICS[d.metric].title} (no such "
                     "predictions), so no tier and no mark under this decision (`--decide acc` "
                     "decides by accuracy).")
    lines.append(f"Tier: the best entry by {METRICS[d.metric].title} and every entry not "
                 f"significantly worse than it by the same test ({corr} correction over that "
                 f"round's comparisons, α = {o.alpha:g}) share tier 1; the others are ranked "
                 "again for tier 2, and so on.")
    constant = next((r for r in table.rows if r.key == CONSTANT), None)
    if constant is not None:
        lines.append(_constant_note(table, constant.role))
    lines.append("Epochs: fine-tuning epochs run (range over seeds). Pretraining: images seen "
                 "and wall time of the pretraining (mean over seeds; 0 for initialisations "
                 "that do not train).")
    return lines + table.notes


def _constant_note(table: Table, role: str) -> str:
    """What the constant row predicts, in this table's terms."""
    parts = [what for what, metric in (("the mean score", "mae"), ("the prior distribution", "emd"),
                                       ("the majority class", "acc")) if metric in table.metrics]
    said = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    undefined = "; its correlations are undefined" if "srcc" in table.metrics else ""
    if role == "constant":
        return (f"constant: predicts for every test image {said} of the head's training "
                f"labels (a floor{undefined}).")
    return (f"constant (oracle): some runs lack `train_label_stats`, so it predicts {said} of "
            f"the *test* labels (optimistic{undefined}).")


def _delta(test: Test | None) -> str:
    if test is None:
        return "—"
    interval = (f" [{_num(test.ci_low, True)}, {_num(test.ci_high, True)}]"
                if math.isfinite(test.ci_low) else "")
    return f"{_num(test.delta, True)}{interval}, p {_p(test.p_adjusted)}"


def baseline_table(table: Table) -> list[str]:
    """Deltas against the baseline, 95 % intervals and adjusted p-values."""
    o = table.options
    columns = sorted({(t.test, t.metric) for t in table.tests},
                     key=lambda k: (k[0] == "wilcoxon", list(METRICS).index(k[1])))
    by = {(t.entry, t.test, t.metric): t for t in table.tests}
    header = ["pretext", "head", "backbone"] + [
        f"Wilcoxon Δ{METRICS[m].title}" if t == "wilcoxon" else f"Δ{METRICS[m].title}"
        for t, m in columns]
    entries = [r.key for r in table.rows if any(k[0] == r.key for k in by)]
    rows = [[k[0], k[1], k[2], *(_delta(by.get((k, t, m))) for t, m in columns)]
            for k in entries]
    note = (f"Δ = entry − baseline on the seed-averaged metric; bootstrap: "
            f"{o.n_resamples:,} paired resamples of the test images (seed {o.bootstrap_seed}), "
            f"percentile {CI_LEVEL * 100:g} % intervals (uncorrected), two-sided p; Wilcoxon: "
            f"one-sided p. Every p is {CORRECTIONS[o.correction]}-adjusted over the table.")
    return ["### Against the baseline", "", *_grid(header, rows, ["l"] * 3 + ["r"] * len(columns)),
            "", note]


def markdown(title: str, tables: list[Table], skipped: list[Skipped], plots: list[str]) -> str:
    """One leaderboard file: every table of one dataset (or train → eval pair)."""
    lines = [f"# Leaderboard: {title}", ""]
    for table in tables:
        lines += [section_heading(table), "", *leaderboard_table(table), ""]
        lines += [f"- {line}" for line in footnotes(table)] + [""]
        if table.tests:
            lines += [*baseline_table(table), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.rsplit('.', 1)[0]}]({p})" for p in plots] + [""]
    if skipped:
        lines += ["## Skipped run directories", ""]
        lines += [f"- `{s.name}`: {s.reason}" for s in sorted(skipped, key=lambda s: s.name)] + [""]
    return "\n".join(lines)
