"""Helpers shared by the fast ops: per-sample parameters, grouping, and generator-bound randomness.

Randomness only ever comes from the ``torch.Generator`` the caller passes: random tensors are drawn
on the generator's device (so a CPU generator gives the same numbers whether the images live on
the CPU or a GPU) and then moved to the images' device. ``generator=None`` uses torch's global RNG.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import torch
import torch.nn.functional as F


def _device(images: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else images.device


def rand(
    shape: Sequence[int],
    images: torch.Tensor,
    generator: torch.Generator | None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, returned on ``images.device``."""
    out = torch.rand(
        tuple(shape),
        generator=generator,
        device=_device(images, generator),
        dtype=dtype or images.dtype,
    )
    return out.to(images.device)


def randn(
    shape: Sequence[int],
    images: torch.Tensor,
    generator: torch.Generator | None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Standard normal numbers drawn on the generator's device, returned on ``images.device``."""
    out = torch.randn(
        tuple(shape),
        generator=generator,
        device=_device(images, generator),
        dtype=dtype or images.dtype,
    )
    return out.to(images.device)


def seeds(count: int, generator: torch.Generator | None) -> list[int]:
    """``count`` 31-bit seeds from the generator, for the per-image NumPy reference code."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(0, 2**31 - 1, (count,), generator=generator, device=device).tolist()


def per_sample(values: Sequence[float], images: torch.Tensor) -> torch.Tensor:
    """A ``(B, 1, 1, 1)`` tensor of per-sample values on the images' device and dtype."""
    return torch.as_tensor(values, dtype=images.dtype).view(-1, 1, 1, 1).to(images.device)


#: On the CPU, deterministic ops run on chunks of at most this many elements (8 MB of float32):
#: their temporaries then stay in cache and in the allocator's reusable heap instead of being
#: fresh page-faulting allocations (3-4x faster for the Lab filters on a 2-core machine).
#: Results do not depend on the chunking; on CUDA the whole batch is one chunk.
CHUNK_ELEMENTS = 2**21


def chunked(
    images: torch.Tensor,
    fn: Callable[..., torch.Tensor],
    *per_sample: Sequence,
    limit: int = CHUNK_ELEMENTS,
    keys: Sequence[Hashable] | None = None,
) -> torch.Tensor:
    """``fn(images, *per_sample)`` evaluated on chunks of rows (CPU only), reassembled.

    ``per_sample`` are lists or tensors with one entry per image, sliced along with the images.
    With ``keys`` (one per image, e.g. the level) the rows are chunked in key order, so that a
    chunk holds one key where possible: ops that group by key (one FFT size, one resampling
    matrix per group) then see a few large groups instead of many small ones.
    """
    batch = images.shape[0]
    per_image = max(images[0].numel(), 1) if batch else 1
    step = max(1, limit // per_image)
    if images.is_cuda or batch <= step:
        return fn(images, *per_sample)
    order = list(range(batch))
    if keys is not None:
        order.sort(key=lambda i: repr(keys[i]))
    out = torch.empty_like(images)
    for start in range(0, batch, step):
        rows = order[start : start + step]
        contiguous = rows == list(range(rows[0], rows[0] + len(rows)))
        index = slice(rows[0], rows[0] + len(rows)) if contiguous else torch.tensor(rows)
        result = fn(
            images[index] if contiguous else images.index_select(0, index),
            *(
                v[index] if isinstance(v, torch.Tensor) else [v[i] for i in rows]
                for v in per_sample
            ),
        )
        if contiguous:
            out[index] = result
        else:
            out.index_copy_(0, index, result)
    return out


def grouped(
    images: torch.Tensor,
    keys: Sequence[Hashable],
    fn: Callable[..., torch.Tensor],
    with_rows: bool = False,
) -> torch.Tensor:
    """Apply ``fn(sub_batch, key)`` once per distinct key; ``key is None`` rows are copied.

    With ``with_rows`` the group's row indices (a list) are passed as a third argument. Groups run
    in sorted key order, so the random numbers a group draws do not depend on how the batch is
    ordered within it. ``(B, 3, H, W) -> (B, 3, H, W)``.
    """
    distinct = sorted({k for k in keys if k is not None}, key=repr)
    if len(distinct) == 1 and all(k is not None for k in keys):
        return (
            fn(images, distinct[0], list(range(len(keys))))
            if with_rows
            else fn(images, distinct[0])
        )
    out = torch.empty_like(images)
    kept = [i for i, k in enumerate(keys) if k is None]
    if kept:
        index = torch.tensor(kept, device=images.device)
        out.index_copy_(0, index, images.index_select(0, index))
    for key in distinct:
        rows = [i for i, k in enumerate(keys) if k == key]
        index = torch.tensor(rows, device=images.device)
        sub = images.index_select(0, index)
        out.index_copy_(0, index, fn(sub, key, rows) if with_rows else fn(sub, key))
    return out


def conv2d(x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``F.conv2d`` in full float32 precision: cuDNN would otherwise use TF32 on recent GPUs
    (its default), which alone breaks the 1e-4 CPU/CUDA agreement of the blurs."""
    if not x.is_cuda:
        return F.conv2d(x, weight, groups=groups)
    cudnn = torch.backends.cudnn
    with cudnn.flags(
        enabled=cudnn.enabled,
        benchmark=cudnn.benchmark,
        deterministic=cudnn.deterministic,
        allow_tf32=False,
    ):
        return F.conv2d(x, weight, groups=groups)


#: Odd parts of the FFT lengths :func:`fft_size` picks. MKL and cuFFT are fastest on powers of two
#: with small factors of 3 and 5: measured round trips (``rfft2`` + ``irfft2``, 13 x 3 images,
#: 2 CPU threads) take 6.5 ms at 256 and 240 but 7.9 ms at 250 = 2 x 5^3 and 12 ms at 243 = 3^5.
FFT_ODD_FACTORS = (1, 3, 5, 9, 15)


def fft_size(n: int) -> int:
    """The smallest ``m >= n`` of the form ``2^a k`` with ``k`` in :data:`FFT_ODD_FACTORS`."""
    n = max(n, 1)
    best = None
    for k in FFT_ODD_FACTORS:
        m = k
        while m < n:
            m *= 2
        best = m if best is None else min(best, m)
    return best


def fft_correlate(
    padded: torch.Tensor, kernels: torch.Tensor, index: torch.Tensor | None = None
) -> torch.Tensor:
    """Valid 2-D cross-correlation of each sample with its own kernel, via FFT.

    ``padded`` ``(B, C, P, Q)``, ``kernels`` ``(B, kh, kw)`` (one per sample, shared by the
    channels), or ``(K, kh, kw)`` distinct kernels with ``index`` ``(B,)`` choosing one per
    sample (each kernel is then transformed once). Returns a view ``(B, C, P - kh + 1,
    Q - kw + 1)`` with the values of ``conv2d(padded, kernel, groups=B*C)`` to float rounding:
    the circular correlation ``irfft2(rfft2(padded) * conj(rfft2(kernel)))`` at length ``(P, Q)``
    does not wrap there. O(P Q log PQ) whatever the kernel size; pad the input to
    :func:`fft_size` lengths (with the border rule's own values, the extra rows are ignored) for
    fast transforms.
    """
    height, width = padded.shape[-2:]
    kh, kw = kernels.shape[-2:]
    spectrum = torch.fft.rfft2(padded)  # (B, C, P, Q // 2 + 1)
    kernel_spectrum = torch.fft.rfft2(kernels, s=(height, width)).conj()  # correlation
    if index is not None:
        kernel_spectrum = kernel_spectrum.index_select(0, index)
    spectrum.mul_(kernel_spectrum.unsqueeze(1))
    out = torch.fft.irfft2(spectrum, s=(height, width))
    return out[..., : height - kh + 1, : width - kw + 1]
