"""``harness publish``: run directories -> ``leaderboards/<dataset>.md`` + ``.csv`` + plots.

One markdown and one CSV file per dataset, holding one table per label fraction (largest first),
and per (train dataset, evaluation dataset) for cross-dataset results
(``<train>_to_<eval>.md``). See ``docs/statistics.md`` § Leaderboards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from harness import plots
from harness.errors import UsageError
from harness.io import write_csv, write_text
from harness.leaderboard import Options, Section, Table, build, sections
from harness.leaderboard_csv import csv_frame
from harness.leaderboard_render import markdown
from harness.rundirs import Run, Skipped, scan

log = logging.getLogger(__name__)


@dataclass
class Published:
    """What a publish wrote, and what it skipped."""

    files: list[Path]
    tables: list[Table]
    skipped: list[Skipped]


def _members(section: Section, runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.dataset == section.dataset
            and r.label_fraction == section.label_fraction
            and (section.eval_dataset is None or section.eval_dataset in r.cross)]


def publish(runs_root: Path, out: Path, options: Options, *, explicit_baseline: bool = False,
            draw: bool = True) -> Published:
    """Read every run directory below ``runs_root`` and write the leaderboards into ``out``.

    Args:
        runs_root: the folder searched (recursively) for run directories.
        out: the leaderboard folder.
        options: baseline, decision, correction, α and bootstrap settings.
        explicit_baseline: the user named the baseline: an error if no run has that pretext
            (otherwise a missing baseline is one line under each table).
        draw: also write the plots.

    Raises:
        UsageError: an explicit baseline that no run has.
        DataError: unreadable or inconsistent run directories (named in the message).
    """
    runs, skipped = scan(runs_root)
    if not runs:
        raise UsageError(f"--runs {runs_root}: no finished run directory with predictions found"
                         + (f" ({len(skipped)} skipped)" if skipped else ""))
    pretexts = sorted({r.pretext for r in runs})
    if explicit_baseline and options.baseline not in pretexts:
        raise UsageError(f"--baseline {options.baseline}: no run under {runs_root} has that "
                         f"pretext; found {', '.join(pretexts)}")
    tables = [t for s in sections(runs) if (t := build(s, _members(s, runs), options))]
    stems = list(dict.fromkeys(t.section.stem for t in tables))
    files: list[Path] = []
    for stem in stems:
        group = [t for t in tables if t.section.stem == stem]
        section = group[0].section
        cross = section.eval_dataset is not None
        drawn = []
        if draw and not cross:
            for kind, draw_fn in (("label_efficiency", plots.label_efficiency),
                                  ("blocks", plots.blocks)):
                path = draw_fn(group, out / f"{stem}_{kind}.png")
                if path is not None:
                    drawn.append(path.name)
                    files.append(path)
        mine = [s for s in skipped if s.dataset == section.dataset] if not cross else []
        title = f"{section.dataset} → {section.eval_dataset}" if cross else stem
        files.append(write_text(out / f"{stem}.md", markdown(title, group, mine, drawn)))
        files.append(write_csv(out / f"{stem}.csv", csv_frame(group)))
    covered = {t.section.dataset for t in tables}
    for s in skipped:
        log.warning("skipped %s: %s", s.name, s.reason)
        if s.dataset not in covered:
            log.warning("  (no leaderboard for its dataset %r)", s.dataset)
    return Published(files, tables, skipped)
