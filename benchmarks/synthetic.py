"""Throughput of the synthetic renderer (harness.synthetic.render) at a few image sizes.

Run:  PYTHONPATH=. python benchmarks/synthetic.py [--images 24] [--repeats 3]

For each size it renders the same images at quality 1 (clean: the scene only), at qualities drawn
uniformly from [0, 1] (a dataset-like mix of degradations) and at quality 0 (every planted
degradation at full strength), and prints milliseconds per image and images per second. Each
image is timed ``--repeats`` times and its fastest run kept, so that other processes on a shared
machine inflate the numbers less; process CPU time is printed alongside wall time for the same
reason. Targets (on a 2-core CPU): <= 5 ms at 128x192, <= 30 ms at 512x768.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from harness.synthetic.render import render

SIZES = ((64, 96), (128, 192), (256, 384), (512, 768))
TARGET_MS = {(128, 192): 5.0, (512, 768): 30.0}


def time_one(seed: int, index: int, quality: float, height: int, width: int,
             repeats: int) -> tuple[float, float]:
    """Fastest (wall, cpu) seconds of ``repeats`` renders of one image."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        render(seed, index, quality, height, width)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24, help="images per size and setting")
    parser.add_argument("--repeats", type=int, default=3, help="timed renders per image")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"synthetic renderer: {args.images} images x {args.repeats} repeats per cell, "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"{'size':>9} {'quality':>8} {'ms/img wall':>12} {'ms/img cpu':>11} {'img/s':>8} "
          f"{'target ms':>10}")
    mixed = np.random.default_rng(args.seed).random(args.images)
    for height, width in SIZES:
        render(args.seed, 0, 0.5, height, width)  # warm-up: imports, caches
        for label, qualities in (("1", np.ones(args.images)), ("U[0,1]", mixed),
                                 ("0", np.zeros(args.images))):
            times = np.array([time_one(args.seed, i, float(q), height, width, args.repeats)
                              for i, q in enumerate(qualities)])
            wall, cpu = times.mean(axis=0) * 1e3
            target = TARGET_MS.get((height, width))
            print(f"{height:>4}x{width:<4} {label:>8} {wall:>12.1f} {cpu:>11.1f} "
                  f"{1e3 / wall:>8.0f} {'' if target is None else f'{target:.0f}':>10}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at end (above the CPU count, expect inflated times)")


if __name__ == "__main__":
    main()
