"""Throughput of the paired bootstrap (harness.stats) on a leaderboard-sized table.

Run:  PYTHONPATH=. python benchmarks/stats.py [--entries 10] [--resamples 10000] [--images 20000]

Times 10,000 paired-bootstrap resamples of 10 entries against one baseline on 20,000 test
images (shared resample indices, as the leaderboard uses them), for SRCC alone, for the
moment-based metrics (PLCC, ACC, MAE, MSE) and for all five together, with the default threads
(every CPU) and with one thread. Then it times a plain Python loop, per resample scipy/numpy
calls (scipy.stats.spearmanr, scipy.stats.pearsonr, numpy means; the baseline's metrics once
per resample), on a smaller size in the same run (--loop-entries x --loop-resamples on the same
images) and prints the speed ratio per (entry x resample) of the single-threaded vectorised
all-metric run to the loop, in process CPU time (both single-threaded, and CPU time is not
inflated by other processes on a shared machine; the wall-time ratio is printed too).
Target (2-core CPU): <= 10 s wall for all five metrics. The last line is
``bootstrap_speedup <ratio>``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.stats

from harness import stats


def make_table(n_images: int, n_entries: int, seed: int):
    """AVA-like targets (mean 5.4, sd 0.75, rounded like mean vote scores) and predictions
    whose errors share a component, as real models' errors do."""
    rng = np.random.default_rng(seed)
    y = np.round(rng.normal(5.4, 0.75, n_images), 3)
    shared = rng.normal(0, 0.4, n_images)
    preds = {f"entry{i}": y + shared + rng.normal(0, 0.4 + 0.01 * i, n_images)
             for i in range(n_entries)}
    return y, preds, y + shared + rng.normal(0, 0.45, n_images)


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def loop_bootstrap(y, preds, baseline, n_resamples, seed, threshold=5.0):
    """The plain way: index each resample and call scipy/numpy per metric."""

    def metrics(t, p):
        return (scipy.stats.spearmanr(t, p).statistic, scipy.stats.pearsonr(t, p).statistic,
                np.mean((t > threshold) == (p > threshold)), np.mean(np.abs(p - t)),
                np.mean((p - t) ** 2))

    out = []
    for chunk in stats.bootstrap_indices(y.size, n_resamples, seed):
        for idx in chunk:
            t = y[idx]
            base = np.array(metrics(t, baseline[idx]))
            out.append([np.array(metrics(t, p[idx])) - base for p in preds.values()])
    return np.array(out)  # (B, entries, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--loop-entries", type=int, default=2)
    parser.add_argument("--loop-resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    y, preds, baseline = make_table(args.images, args.entries, args.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"paired bootstrap: {args.entries} entries x {args.resamples} resamples x "
          f"{args.images} images, {os.cpu_count()} CPUs, load average {load:.2f} at start")
    stats.bootstrap_deltas(y, preds, baseline, n_resamples=8)  # warm-up: imports, BLAS probe

    print(f"{'metrics':<24} {'threads':>7} {'wall s':>8} {'cpu s':>8}")
    times = {}
    for label, metrics in (("srcc", ["srcc"]), ("plcc acc mae mse", ["plcc", "acc", "mae", "mse"]),
                           ("all five", list(stats.METRICS))):
        for jobs in (None, 1):
            wall, cpu = timed(lambda m=metrics, j=jobs: stats.bootstrap_deltas(
                y, preds, baseline, m, args.resamples, args.seed, n_jobs=j))
            times[label, jobs] = wall, cpu
            threads = "all" if jobs is None else str(jobs)
            print(f"{label:<24} {threads:>7} {wall:>8.2f} {cpu:>8.2f}")
    print(f"bootstrap_seconds_all_metrics {times['all five', None][0]:.2f} (wall, all threads; "
          "target <= 10)")

    small = dict(list(preds.items())[: args.loop_entries])
    loop_wall, loop_cpu = timed(
        lambda: loop_bootstrap(y, small, baseline, args.loop_resamples, args.seed))
    units_loop = args.loop_entries * args.loop_resamples
    units_vec = args.entries * args.resamples
    vec_wall, vec_cpu = times["all five", 1]  # one thread, like the loop
    print(f"plain loop (scipy per resample): {args.loop_entries} entries x "
          f"{args.loop_resamples} resamples x {args.images} images: {loop_wall:.2f} s wall, "
          f"{loop_cpu:.2f} s cpu = {loop_cpu / units_loop * 1e3:.3f} ms cpu per entry-resample "
          f"(the full table would take {loop_cpu / units_loop * units_vec / 60:.0f} min)")
    print(f"vectorised, one thread: {vec_cpu / units_vec * 1e3:.4f} ms cpu per entry-resample; "
          f"wall-time ratio {(loop_wall / units_loop) / (vec_wall / units_vec):.0f}")
    # CPU time per (entry x resample), both single-threaded: robust to other processes' load
    print(f"bootstrap_speedup {(loop_cpu / units_loop) / (vec_cpu / units_vec):.0f}")


if __name__ == "__main__":
    main()
