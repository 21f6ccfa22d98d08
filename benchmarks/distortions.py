"""Throughput of the distortion bank: fast (batched tensor ops) vs reference (per-image originals).

Runs both backends of :func:`harness.distortions.apply` on the same 64 real 224 x 224 photographs
(crops of scikit-image's bundled photos; no download) in one process and prints, per distortion,
images/s of each and the ratio, then the geometric-mean ratio of the technical set. Each backend
is warmed up once (lazy imports, FFT plans), then both are timed alternately ``--repeats`` times
and each one's best call is kept. It also times
:func:`harness.distortions.pfister_batch` on 8 base images (1,392 variants) against one
MobileNetV2 training step on those variants (forward + backward + SGD step, in chunks). The last
line is ``geomean_speedup_technical <value>``.

    python benchmarks/distortions.py [--device cuda] [--threads N] [--skip-step]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import time
import warnings

import numpy as np
import torch
from PIL import Image

from harness.distortions import apply, catalogue, pfister_batch

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
)


def _photo(name: str) -> np.ndarray:
    import skimage.data

    return np.array(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))


def real_crops(count: int = 64, size: int = 224, seed: int = 0) -> torch.Tensor:
    """``count`` 224 x 224 crops of real photographs at random scales and positions."""
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(_photo(n)) for n in PHOTOS]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        short = int(rng.integers(size, max(size + 1, min(photo.size) // 1)))
        scale = short / min(photo.size)
        im = photo.resize(
            (max(size, round(photo.size[0] * scale)), max(size, round(photo.size[1] * scale))),
            Image.BILINEAR,
        )
        x, y = (
            int(rng.integers(0, im.size[0] - size + 1)),
            int(rng.integers(0, im.size[1] - size + 1)),
        )
        crops.append(np.asarray(im.crop((x, y, x + size, y + size))))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


#: ``wall`` (elapsed time) or ``cpu`` (this process's CPU time: robust to other jobs on a shared
#: machine, but it adds up threads, so use it with ``--threads 1``).
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def _time(fn) -> float:
    """Seconds one call of ``fn`` takes (on the chosen clock, CUDA work included)."""
    start = clock()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return clock() - start


def distortion_table(
    images: torch.Tensor, device: str, repeats: int, only: set[str] | None = None
) -> float:
    """Print the per-distortion table; return the technical set's geometric-mean speedup."""
    n = images.shape[0]
    print(
        f"{'distortion':<22}{'aspect':<13}{'fast img/s':>12}{'reference img/s':>17}{'speedup':>9}"
    )
    ratios = []
    for d in catalogue():
        if only and d.name not in only:
            continue
        x = images  # square crops, so Sheng's 90° rotations apply too
        levels = [d.levels[i % len(d.levels)] for i in range(n)]
        gen = torch.Generator(device=device).manual_seed(0)
        xd = x.to(device)
        # Warm both backends up (lazy imports, FFT plans, caches) before timing either.
        apply(xd, d.name, levels, gen)
        apply(x[:2], d.name, levels[:2], torch.Generator().manual_seed(0), backend="reference")
        fast_call = functools.partial(apply, xd, d.name, levels, gen)
        reference_call = functools.partial(
            apply, x, d.name, levels, torch.Generator().manual_seed(0), backend="reference"
        )
        # Alternate the backends and keep each one's best: a burst of load on this shared
        # machine then slows both rather than one.
        fast, reference = math.inf, math.inf
        for _ in range(repeats):
            fast = min(fast, _time(fast_call))
            reference = min(reference, _time(reference_call))
        ratio = reference / fast
        if d.family == "pfister2021" and d.aspect == "technical":
            ratios.append(ratio)
        print(f"{d.name:<22}{d.aspect:<13}{n / fast:>12.1f}{n / reference:>17.1f}{ratio:>9.2f}")
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else float("nan")


def pfister_vs_training_step(device: str, skip_step: bool) -> None:
    """Time pfister_batch on 8 base images and one MobileNetV2 step on the variants."""
    bases = [torch.from_numpy(_photo(n)).permute(2, 0, 1).float().div(255.0) for n in PHOTOS]
    bases.append(bases[2].flip(-1))  # 8 base images, 7 distinct sizes
    bases = [b.to(device) for b in bases]
    gen = torch.Generator(device=device).manual_seed(0)
    pfister_batch(bases[:1], generator=gen)  # warm-up
    start = clock()
    batch = pfister_batch(bases, generator=gen)
    if device == "cuda":
        torch.cuda.synchronize()
    generate = clock() - start
    print(f"pfister_batch_8_bases_rows {len(batch)}")
    print(f"pfister_batch_8_bases_seconds {generate:.2f}")
    if skip_step:
        return
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(weights=None, num_classes=1).to(device).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
    chunk = 128 if device == "cuda" else 48
    rows = len(batch) if device == "cuda" else 4 * chunk  # on CPU: time 4 chunks, extrapolate
    start = clock()
    optimiser.zero_grad()
    for i in range(0, rows, chunk):
        model(batch.images[i : i + chunk]).mean().backward()
    optimiser.step()
    if device == "cuda":
        torch.cuda.synchronize()
    step = (clock() - start) * len(batch) / rows
    note = "" if rows == len(batch) else f" (measured on {rows} rows, scaled to {len(batch)})"
    print(f"mobilenet_v2_step_{len(batch)}_rows_seconds {step:.2f}{note}")
    print(f"variants_per_step_ratio {step / generate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per backend, alternating (best kept)"
    )
    parser.add_argument("--skip-step", action="store_true", help="skip the MobileNetV2 comparison")
    parser.add_argument(
        "--only", default=None, help="comma-separated distortion names to time (default: all)"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCK),
        default="wall",
        help="wall time, or process CPU time (robust on a shared machine)",
    )
    args = parser.parse_args()
    global clock
    clock = CLOCK[args.clock]
    warnings.filterwarnings("ignore", message="pkg_resources")
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, clock {args.clock}, "
        f"load average {load:.1f} on {os.cpu_count()} cores, torch {torch.__version__}"
    )
    images = real_crops()
    only = set(args.only.split(",")) if args.only else None
    geomean = distortion_table(images, args.device, args.repeats, only)
    pfister_vs_training_step(args.device, args.skip_step)
    print(f"geomean_speedup_technical {geomean:.2f}")


if __name__ == "__main__":
    main()
