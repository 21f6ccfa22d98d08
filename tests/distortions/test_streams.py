"""Parallel random blocks: a partition of the batch, independent of the thread count."""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module

import numpy as np
import pytest
import torch
from scipy import stats

from harness.distortions import _streams, apply


@pytest.mark.parametrize(
    ("batch", "per_image", "block"),
    [(5, 3, 7), (5, 7, 7), (3, 20, 7), (1, 1, 7), (4, 2**18 + 1, 2**18), (64, 150528, 2**18)],
)
def test_blocks_cover_every_element_once(batch, per_image, block):
    seen = np.zeros((batch, per_image), int)
    for rows, columns in _streams.blocks(batch, per_image, block):
        assert (rows.stop - rows.start) * (columns.stop - columns.start) <= max(block, per_image)
        seen[rows, columns] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise"])
def test_output_does_not_depend_on_the_thread_count(name):
    x = torch.rand(3, 3, 300, 320, generator=torch.Generator().manual_seed(0))  # 2 blocks each
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = apply(x, name, [1, 5, 3], torch.Generator().manual_seed(4))
        torch.set_num_threads(2)
        two = apply(x, name, [1, 5, 3], torch.Generator().manual_seed(4))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_uniform16_is_uniform_and_streams_differ():
    a = _streams.uniform16(10**5 + 3, seed=1)
    assert a.dtype == torch.int16 and a.numel() == 10**5 + 3
    # Kolmogorov-Smirnov against the discrete uniform on [-32768, 32767] (continuous to 2^-16).
    result = stats.kstest((a.double().numpy() + 32768.5) / 65536, "uniform")
    assert result.pvalue > 1e-3
    assert not torch.equal(a[:1000], _streams.uniform16(1000, seed=2))


def test_stream_seeds_take_one_draw_and_are_distinct():
    g, h = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    seeds = _streams.stream_seeds(100, g)
    torch.randint(0, 2**62, (1,), generator=h)
    assert len(set(seeds)) == 100 and torch.equal(g.get_state(), h.get_state())


def test_a_failing_block_raises_in_the_caller():
    def kernel(seed, out, x, rows):
        raise RuntimeError("block failed")

    with pytest.raises(RuntimeError, match="block failed"):
        _streams.run_blocks(torch.zeros(4, 2**17), None, kernel)


def test_gaussian_noise_on_an_image_split_in_parts_has_the_right_sigma():
    grey = torch.full((1, 3, 400, 400), 0.5)  # 480,000 elements: 2 blocks
    residual = apply(grey, "gaussian_noise", 2, torch.Generator().manual_seed(0)) - grey
    halves = residual.view(-1).split(240_000)
    for half in halves:  # each part drew its own numbers at the same sigma
        assert half.std().item() == pytest.approx(0.12, rel=0.01)
    assert not torch.equal(halves[0], halves[1])


_BLOCKS = torch.zeros(4, 2**17)  # made before any fork: a child's first OpenMP region may hang


def _seed_kernel(seed, out, x, rows) -> None:
    out.numpy()[:] = seed % 1000  # NumPy only: torch's OpenMP is not fork-safe


def _blocks_in_child(queue) -> None:
    torch.set_num_threads(2)  # so that run_blocks uses its thread pool
    result = _streams.run_blocks(_BLOCKS, torch.Generator().manual_seed(1), _seed_kernel)
    queue.put(result.numpy().copy())  # a tensor would travel by a file descriptor


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_wait_on_the_parents_pool():
    # After a parallel call here, the parent's pool exists; a forked child inherits the object
    # but not its threads, so work submitted to it would never run.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = _streams.run_blocks(_BLOCKS, torch.Generator().manual_seed(1), _seed_kernel)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_blocks_in_child, args=(queue,))
        child.start()
        try:
            got = queue.get(timeout=30)  # before join: a queue's pipe holds only 64 KiB
        except queue_module.Empty:
            got = None
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
        assert got is not None, "the forked child hung on the parent's pool"
        assert np.array_equal(got, expected.numpy())
    finally:
        torch.set_num_threads(threads)
