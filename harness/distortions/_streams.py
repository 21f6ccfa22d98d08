"""Random distortions on the CPU: parallel blocks, each drawing from its own seeded stream.

torch's CPU generator is one Mersenne Twister behind a lock: a whole-batch ``torch.rand`` or
``torch.randn`` runs on one core at ~3 ns per number, more time than the arithmetic it feeds
(``benchmarks/distortions.py``). Here the batch is cut into blocks that depend only on its shape
(whole images up to :data:`BLOCK` elements, or parts of one larger image); block ``k`` gets seed
``k`` of a NumPy ``SeedSequence`` seeded by one draw of the caller's generator, and the blocks run
on torch's intra-op thread count. Each block draws its numbers and combines them with its pixels
while both are in cache, writing straight into the output; nothing batch-sized is allocated
besides the output. Kernels should do their arithmetic with NumPy (one thread, GIL released):
a torch op inside a block would start its own OpenMP team on every worker thread and
oversubscribe the cores. The result is a function of the generator's state and the batch alone, never
of the thread count or scheduling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

#: Elements per block (1 MiB of float32): small enough to stay in a core's L2 cache.
BLOCK = 2**18

#: ``kernel(seed, out, images, rows)``: fill ``out`` ``(k, L)`` from ``images`` ``(k, L)`` (the
#: same elements of ``k`` consecutive images, ``rows`` their batch indices) and stream ``seed``.
Kernel = Callable[[int, torch.Tensor, torch.Tensor, slice], None]


def blocks(batch: int, per_image: int, block: int = BLOCK) -> list[tuple[slice, slice]]:
    """The ``(rows, columns)`` of each block of a ``(batch, per_image)`` array: runs of whole
    images of at most ``block`` elements, or ``ceil(per_image / block)`` parts of each image."""
    if per_image >= block:
        parts = -(-per_image // block)
        step = -(-per_image // parts)
        return [
            (slice(i, i + 1), slice(j, min(j + step, per_image)))
            for i in range(batch)
            for j in range(0, per_image, step)
        ]
    rows = max(1, block // max(per_image, 1))
    return [(slice(i, min(i + rows, batch)), slice(0, per_image)) for i in range(0, batch, rows)]


def stream_seeds(count: int, generator: torch.Generator | None) -> list[int]:
    """``count`` independent 64-bit seeds from one draw of ``generator`` (``None``: torch's
    global CPU generator)."""
    device = generator.device if generator is not None else "cpu"
    root = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    return np.random.SeedSequence(root).generate_state(count, dtype=np.uint64).tolist()


@lru_cache(maxsize=4)
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """One pool per thread count and process: a forked child (e.g. a ``multiprocessing``
    worker) inherits the parent's pool object but not its threads, so it makes its own."""
    return ThreadPoolExecutor(threads, thread_name_prefix="harness-distortions")


def parallel(fn: Callable[[int], None], count: int) -> None:
    """``fn(0) ... fn(count - 1)`` on torch's intra-op thread count (torch and NumPy release
    the GIL in the work that matters)."""
    threads = min(torch.get_num_threads(), count)
    if threads <= 1:
        for k in range(count):
            fn(k)
        return
    pool = _pool(threads, os.getpid())
    for future in [pool.submit(fn, k) for k in range(count)]:
        future.result()  # re-raises a block's exception


def run_blocks(
    images: torch.Tensor, generator: torch.Generator | None, kernel: Kernel
) -> torch.Tensor:
    """Apply a random ``kernel`` to CPU ``images`` ``(B, ...)`` block by block, in parallel."""
    batch = images.shape[0]
    flat = images.contiguous().view(batch, -1)
    out = torch.empty_like(flat)
    cut = blocks(batch, flat.shape[1])
    seeds = stream_seeds(len(cut), generator)

    def one(k: int) -> None:
        rows, columns = cut[k]
        kernel(seeds[k], out[rows, columns], flat[rows, columns], rows)

    parallel(one, len(cut))
    return out.view(images.shape)


def normal_(out: torch.Tensor, seed: int) -> torch.Tensor:
    """Fill ``out`` with standard normal numbers from stream ``seed`` (torch's generator)."""
    return out.normal_(generator=torch.Generator().manual_seed(seed % 2**63))


def uniform16(count: int, seed: int) -> torch.Tensor:
    """``count`` int16 numbers uniform on [-32768, 32767] from stream ``seed``: 64-bit words of
    NumPy's SFC64 generator cut in four (~0.1 ns per number against torch's ~3 ns)."""
    words = np.random.SFC64(seed).random_raw(-(-count // 4))
    return torch.from_numpy(words.view(np.int16)[:count])
