"""The trivial predictor of every leaderboard table: the training labels' mean score, prior
distribution and majority class for every test image.

Its statistics come from ``metrics.json`` ``train_label_stats``, which the runner records from
the training images the head used (:func:`harness.runner.train_label_stats`); for runs written
before that existed, from the test labels themselves — an optimistic "oracle" constant, labelled
as such. Its metrics are computed like every other row's, from a predictions table, by
:mod:`harness.metrics`. On AVA's official test split it scores MAE 0.578 and accuracy 0.703
(``docs/statistics.md`` § 6).
"""

from __future__ import annotations

import math

import pandas as pd

from harness.rundirs import Run

#: Correlations: undefined for a constant prediction (computed anyway, they would rank the
#: last-bit rounding noise of its identical rows).
CORRELATIONS = ("srcc", "plcc", "std_srcc", "std_plcc")


def constant_frames(runs: list[Run], reference: pd.DataFrame) -> tuple[str, list[pd.DataFrame]]:
    """Prediction tables of the constant predictor: one per distinct training-label statistics
    of the runs (the training mean score, prior distribution and majority class); the test
    targets' own statistics ("oracle") if any run lacks them."""
    targets = reference[[c for c in reference if c.startswith("target_")]]
    dist = [c for c in targets if c.startswith("target_p")]
    if all(r.train_label_stats for r in runs):
        role, found = "constant", [r.train_label_stats for r in runs]
    else:
        role = "oracle constant"
        found = [{"score_mean": targets["target_mean"].mean() if "target_mean" in targets else None,
                  "binary_rate": targets["target_binary"].mean() if "target_binary" in targets
                  else None, "prior": targets[dist].mean().tolist() if dist else None}]
    unique = list({repr(sorted(s.items())): s for s in found}.values())
    frames = []
    for stat in unique:
        frame = targets.copy()
        frame["pred_mean"] = stat.get("score_mean", math.nan)
        if "target_binary" in frame and stat.get("binary_rate") is not None:
            frame["pred_binary"] = int(stat["binary_rate"] >= 0.5)  # a tie picks the positive class
        if dist and stat.get("prior") is not None and len(stat["prior"]) == len(dist):
            for m, p in enumerate(stat["prior"]):
                frame[f"pred_p{m + 1}"] = p
        frames.append(frame.reset_index())
    return role, frames
