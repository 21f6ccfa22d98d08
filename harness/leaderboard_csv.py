"""A leaderboard's tables (:mod:`harness.leaderboard`) as one tidy CSV: structured rows, one per
(table, entry, metric), never keys encoded in strings — ``pandas.read_csv`` gives a frame ready
to filter and pivot."""

from __future__ import annotations

import math

import pandas as pd

from harness.leaderboard import Table
from harness.metrics import METRICS


def csv_frame(tables: list[Table]) -> pd.DataFrame:
    """One row per (table, entry, metric): the summary, marks, tier and the tests of that metric
    (the Wilcoxon test on absolute errors sits on the MAE row; the seed test on the decision
    metric's row)."""
    records = []
    for table in tables:
        s, o, d = table.section, table.options, table.decision
        tests = {(t.entry, t.test, t.metric): t for t in table.tests + table.seed_tests}
        for row in table.rows:
            images, wall = row.budget("images_seen"), row.budget("wall_seconds")
            epochs = [r.epochs for r in row.runs if r.epochs is not None]
            for metric in table.metrics:
                mean, std = row.mean_std(metric)
                boot = tests.get((row.key, "bootstrap", metric))
                wil = tests.get((row.key, "wilcoxon", metric))
                seed = tests.get((row.key, "welch", metric))
                records.append({
                    "dataset": s.dataset, "eval_dataset": s.eval_dataset,
                    "label_fraction": s.label_fraction, "pretext": row.key[0],
                    "head": row.key[1], "backbone": row.key[2], "role": row.role,
                    "metric": metric, "higher_is_better": METRICS[metric].higher_is_better,
                    "mean": mean, "std": std, "n_seeds": len(row.seeds),
                    "n_images": table.n_images, "best": row.key in table.best(metric),
                    "decision": d is not None and metric == d.metric,
                    "tier": table.tiers.get(row.key), "marked": row.key in table.marked,
                    "seed_marked": row.key in table.seed_marked,
                    "baseline": o.baseline if boot or wil else None,
                    "delta": boot.delta if boot else wil.delta if wil else math.nan,
                    "ci_low": boot.ci_low if boot else math.nan,
                    "ci_high": boot.ci_high if boot else math.nan,
                    "p_bootstrap": boot.p_value if boot else math.nan,
                    "p_bootstrap_adjusted": boot.p_adjusted if boot else math.nan,
                    "p_wilcoxon": wil.p_value if wil else math.nan,
                    "p_wilcoxon_adjusted": wil.p_adjusted if wil else math.nan,
                    "p_seed": seed.p_value if seed else math.nan,
                    "p_seed_adjusted": seed.p_adjusted if seed else math.nan,
                    "epochs_min": min(epochs) if epochs else None,
                    "epochs_max": max(epochs) if epochs else None,
                    "pretrain_images_seen": images, "pretrain_wall_seconds": wall,
                    "decision_test": d.test if d else None, "correction": o.correction,
                    "alpha": o.alpha})
    return pd.DataFrame.from_records(records)
