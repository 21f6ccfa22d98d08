"""Throughput of a pretext training step, and how much of it is spent waiting for data.

Builds the same pieces ``harness run`` uses (registry -> pretext on a backbone -> the pretraining
dataset -> the runner's loader) and times N training steps, splitting each step into the time
spent waiting for the next batch and the time spent computing (on CUDA, with a synchronize so the
split is honest). Runs on the CPU and, when one is present, on the GPU, in one process.

    python benchmarks/pretrain_throughput.py --pretext ranking_regr --steps 6 --workers 2

The last line is ``input_stall_fraction <value>`` (the fraction of step time spent waiting for
data, on the fastest device measured).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from harness.config import resolve
from harness.data.loading import EpochBatchSampler, Samples, SkipLog, make_loader
from harness.registry import build_registry
from harness.runner import load_dataset
from harness.training import StepContext, step_generator


def measure(pretext: str, backbone: str, device: torch.device, steps: int, workers: int,
            profile: str, sets: dict) -> dict[str, float]:
    registry = build_registry()
    raw = {"pretext": {"name": pretext, **sets.get("pretext", {})}, "head": {"name": "nima"},
           "backbone": {"name": backbone}, "profile": profile,
           "pretrain": {"dataset": "synthetic", **sets.get("pretrain", {})}}
    config = resolve(registry, raw)
    task = config.pretext.spec.factory(
        config.backbone.spec.factory(config.backbone.settings), config.pretext.settings)
    dataset = load_dataset(config.pretrain, "pretrain")
    train = dataset.split("train")
    sampler = EpochBatchSampler(len(train), config.pretext.settings.batch_size, seed=0)
    loader = make_loader(Samples(dataset, train, task.sample_transform(), labels=False, seed=0),
                         sampler, workers, pin=device.type == "cuda", seed=0)
    task.to(device).train()
    if device.type == "cuda":
        task.to(memory_format=torch.channels_last)
    optimization = task.configure_optimizers()
    skips = SkipLog("benchmark", None)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    waits, computes, images = [], [], []
    sampler.set_epoch(0)
    iterator = iter(loader)
    for step in range(steps + 1):  # step 0 warms up (worker start, kernels, allocator)
        started = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            sampler.set_epoch(step)
            iterator = iter(loader)
            batch = next(iterator)
        skips.record(batch)
        batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else
                     [x.to(device, non_blocking=True) for x in v] if isinstance(v, list) else v)
                 for k, v in batch.items() if k != "skipped"}
        sync()
        loaded = time.perf_counter()
        ctx = StepContext(0, step, step_generator(device, 0, 0, step), device, True)
        optimization.optimizer.zero_grad(set_to_none=True)
        with amp:
            out = task.training_step(batch, ctx)
        out.loss.backward()
        optimization.optimizer.step()
        sync()
        done = time.perf_counter()
        if step:
            waits.append(loaded - started)
            computes.append(done - loaded)
            images.append(out.n)
    wait, compute = float(np.sum(waits)), float(np.sum(computes))
    return {"images_per_s": float(np.sum(images)) / (wait + compute),
            "step_s": (wait + compute) / steps, "stall": wait / (wait + compute),
            "images_per_step": float(np.mean(images))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretext", default="ranking_regr")
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="quick", choices=["quick", "paper"])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="base images per batch (default: the profile's)")
    args = parser.parse_args()
    sets: dict = {"pretrain": {"n_images": 400}}
    if args.batch_size:
        sets["pretext"] = {"batch_size": args.batch_size}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"pretext {args.pretext}, backbone {args.backbone}, profile {args.profile}, "
          f"{args.workers} loader workers, {args.steps} timed steps")
    print(f"{'device':8} {'images/step':>12} {'s/step':>8} {'images/s':>10} {'stall':>7}")
    results = {}
    for device in devices:
        r = measure(args.pretext, args.backbone, device, args.steps, args.workers, args.profile,
                    sets)
        results[device.type] = r
        print(f"{device.type:8} {r['images_per_step']:12.0f} {r['step_s']:8.3f} "
              f"{r['images_per_s']:10.1f} {r['stall']:7.3f}")
    fastest = max(results.values(), key=lambda r: r["images_per_s"])
    print(f"input_stall_fraction {fastest['stall']:.4f}")


if __name__ == "__main__":
    main()
