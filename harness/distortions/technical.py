"""Technical distortions of Pfister et al. [0] (imagenet-c [1] constants) as batched tensor ops.

Each function takes ``images`` ``(B, 3, H, W)`` float in [0, 1] and one parameter per sample, and
returns a new ``(B, 3, H, W)`` tensor. The formulas follow the ``imagecorruptions`` package
(``corruptions.py``), which the ``reference`` backend calls; where that code works on 8-bit values
(JPEG) the fast op does too.

[0] Pfister et al., CVPRW 2021, Table 1 (technical aspect); code ``train_pre/dataset.py``.
[1] Hendrycks & Dietterich, ICLR 2019: ``defocus_blur`` (``disk`` kernel), ``motion_blur``
    (``_motion_blur``: Gaussian-weighted shifted copies), ``gaussian_noise``, ``impulse_noise``
    (``skimage.util.random_noise(mode='s&p')``), ``jpeg_compression``.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from harness.distortions import _streams
from harness.distortions._batching import (
    conv2d,
    fft_correlate,
    fft_size,
    grouped,
    per_sample,
    rand,
    randn,
)
from harness.distortions.resample import box_pixelate


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] -> uint8 with rounding (how an 8-bit pipeline stores the image)."""
    return images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _jpeg_pil(images: torch.Tensor, quality: Sequence[int]) -> torch.Tensor:
    """Pillow (libjpeg-turbo), one image at a time: the reference's own codec calls."""
    codes = to_uint8(images).permute(0, 2, 3, 1).contiguous().numpy()  # (B, H, W, 3)
    out = torch.empty_like(images)
    for i, (code, q) in enumerate(zip(codes, quality)):
        buffer = io.BytesIO()
        Image.fromarray(code).save(buffer, "JPEG", quality=int(q))
        decoded = Image.open(buffer)
        array = np.array(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))
        out[i] = torch.from_numpy(array).permute(2, 0, 1)
    return out.div_(255.0)


def _jpeg_torchvision(images: torch.Tensor, quality: Sequence[int]) -> torch.Tensor:
    """torchvision's ``encode_jpeg`` / ``decode_jpeg``: one call per quality on a list of
    images (libjpeg-turbo on the CPU, byte-identical to Pillow's; nvjpeg on CUDA), the 8-bit
    conversions done once for the batch."""
    with warnings.catch_warnings():  # deprecated in torchvision 0.29 in favour of TorchCodec
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        codes = to_uint8(images)  # (B, 3, H, W)
        decoded = torch.empty_like(codes)
        for q in sorted(set(int(q) for q in quality)):
            rows = [i for i, p in enumerate(quality) if int(p) == q]
            encoded = encode_jpeg([codes[i] for i in rows], quality=q)  # batched nvjpeg on CUDA
            encoded = [e.cpu() for e in encoded]  # decode_jpeg reads its input from host memory
            for i, image in zip(rows, decode_jpeg(encoded, device=images.device)):
                decoded[i] = image
    return decoded.to(images.dtype).div_(255.0)


def jpeg(images: torch.Tensor, quality: Sequence[int], codec: str = "torchvision") -> torch.Tensor:
    """JPEG round trip at one quality per sample (imagenet-c ``jpeg_compression``).

    ``codec``: ``"torchvision"`` (``encode_jpeg`` / ``decode_jpeg``: libjpeg-turbo on the CPU,
    nvjpeg on CUDA) or ``"pil"`` (Pillow, the reference's codec, image by image). On the CPU
    both give the same bytes (tested); torchvision's list calls skip Pillow's per-image Python.
    """
    if codec == "pil":
        return _jpeg_pil(images.cpu(), quality).to(images.device)
    return _jpeg_torchvision(images, quality)


@lru_cache(maxsize=16)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """imagenet-c's ``disk``: a normalised binary disk on a grid of half-width max(8, radius),
    smoothed by ``cv2.GaussianBlur`` (3x3, or 5x5 for radius > 8; reflect-101 border)."""
    half, ksize = (8, 3) if radius <= 8 else (int(radius), 5)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.arange(ksize) - (ksize - 1) / 2
    gauss = np.exp(-(taps**2) / (2 * alias_blur**2))
    gauss /= gauss.sum()
    pad = ksize // 2
    padded = np.pad(disk, pad, mode="reflect")  # numpy 'reflect' == OpenCV BORDER_REFLECT_101
    rows = sum(g * padded[:, i : i + disk.shape[1]] for i, g in enumerate(gauss))
    out = sum(g * rows[i : i + disk.shape[0], :] for i, g in enumerate(gauss))
    out.setflags(write=False)
    return out


#: Blur kernels at least this wide are applied by FFT (:func:`fft_correlate`), narrower ones by
#: a direct depthwise conv2d. All of imagenet-c's defocus (17-21 px) and motion kernels are wider.
FFT_MIN_KERNEL = 8


def defocus_blur(images: torch.Tensor, params: Sequence[tuple[float, float]]) -> torch.Tensor:
    """imagenet-c ``defocus_blur``: correlate each channel with ``disk(radius, alias_blur)``.

    The image is reflect-101 padded (``cv2.filter2D``'s border) by the largest kernel's half-width
    and correlated with each sample's kernel, centred in that size: by FFT when it is at least
    :data:`FFT_MIN_KERNEL` px, else one grouped (depthwise) conv2d per kernel size.
    ``(B, 3, H, W) -> (B, 3, H, W)``.
    """
    sizes = [disk_kernel(*p).shape[0] for p in params]
    if len(set(sizes)) > 1 and max(sizes) < FFT_MIN_KERNEL:
        return grouped(
            images,
            sizes,
            lambda sub, size: _defocus(sub, [p for p, s in zip(params, sizes) if s == size]),
        )
    return _defocus(images, params)


def _defocus(images: torch.Tensor, params: Sequence[tuple[float, float]]) -> torch.Tensor:
    distinct = sorted(set(params))
    kernels = [disk_kernel(*p) for p in distinct]
    size = max(k.shape[0] for k in kernels)
    weight = np.zeros((len(kernels), size, size))
    for i, k in enumerate(kernels):
        o = (size - k.shape[0]) // 2
        weight[i, o : o + k.shape[0], o : o + k.shape[0]] = k
    batch, channels, height, width = images.shape
    weight = torch.as_tensor(weight, dtype=images.dtype, device=images.device)
    index = torch.tensor([distinct.index(p) for p in params], device=images.device)
    r = size // 2
    if size >= FFT_MIN_KERNEL:  # bottom/right padded further to fast FFT lengths (not read)
        bottom, right = fft_size(height + 2 * r) - height - r, fft_size(width + 2 * r) - width - r
        padded = F.pad(images, (r, right, r, bottom), mode="reflect")
        return fft_correlate(padded, weight, index)[..., :height, :width].clamp(0.0, 1.0)
    padded = F.pad(images, (r, r, r, r), mode="reflect")  # (B, 3, H + 2r, W + 2r)
    weight = weight.index_select(0, index).repeat_interleave(channels, 0).unsqueeze(1)
    padded = padded.reshape(1, batch * channels, height + 2 * r, width + 2 * r)
    out = conv2d(padded, weight, groups=batch * channels)  # (1, B*3, H, W)
    return out.view(batch, channels, height, width).clamp_(0.0, 1.0)


#: Motion-blur copies whose remaining (tail) weight is below this are dropped.
TAP_TOLERANCE = 1e-6


def motion_taps(
    angles_deg: Sequence[float], radius: int, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row offsets ``(B, n)``, column offsets ``(B, n)`` and weights ``(n,)`` of the shifted
    copies imagenet-c's motion blur adds, one row per angle.

    ``_motion_blur`` adds ``2 radius + 1`` copies shifted by ``dy = -ceil(i sin a - 0.5)``,
    ``dx = -ceil(i cos a - 0.5)`` (computed as ``i * (w sin a) / hypot - 0.5``, the same float
    arithmetic) with weights ``gauss(i; sigma)`` normalised; copy ``i`` reads pixel
    ``(y - dy, x - dx)`` with edge replication, so the offsets returned are ``-dy, -dx``. Copies
    carrying less than :data:`TAP_TOLERANCE` of the weight in all are dropped (outputs change by
    less than that), which shrinks the kernels of the narrow levels.
    """
    full = 2 * radius + 1
    weights = np.exp(-(np.arange(full) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    weights /= weights.sum()
    tail = np.cumsum(weights[::-1])[::-1]  # weight of copies i.. onwards
    n = int(np.searchsorted(-tail, -TAP_TOLERANCE, side="right")) or 1
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    sin, cos = full * np.sin(a), full * np.cos(a)  # (B,)
    hypot = np.array([math.hypot(p, q) for p, q in zip(sin, cos)])
    i = np.arange(n)[None, :]
    rows = np.ceil((i * sin[:, None]) / hypot[:, None] - 0.5).astype(np.int64)
    cols = np.ceil((i * cos[:, None]) / hypot[:, None] - 0.5).astype(np.int64)
    return rows, cols, weights[:n]


def motion_kernels(
    params: Sequence[tuple[int, float]], angles: Sequence[float], height: int, width: int
) -> tuple[np.ndarray, int]:
    """Each sample's shifted copies (:func:`motion_taps`) as a dense correlation kernel.

    Returns ``(kernels, top)``: ``kernels`` ``(B, kh, kw)`` with copy ``(u, v)``'s weight at
    ``[top + u, v]``, so ``out(y, x) = sum kernel[a, b] x(y + a - top, x + b)``. As the
    reference's ``break``, copies from the first one shifted by the image size on are left out.
    """
    taps = []
    for p in sorted(set(params)):
        index = [i for i, q in enumerate(params) if q == p]
        rows, cols, weights = motion_taps([angles[i] for i in index], int(p[0]), float(p[1]))
        kept = np.cumprod((np.abs(rows) < height) & (cols < width), axis=1).astype(bool)
        for j, i in enumerate(index):
            taps.append((i, rows[j][kept[j]], cols[j][kept[j]], weights[kept[j]]))
    top = max(0, -min(int(r.min()) for _, r, _, _ in taps))
    bottom = max(0, max(int(r.max()) for _, r, _, _ in taps))
    right = max(int(c.max()) for _, _, c, _ in taps)
    kernels = np.zeros((len(params), top + bottom + 1, right + 1))
    for i, rows, cols, weights in taps:
        np.add.at(kernels[i], (rows + top, cols), weights)
    return kernels, top


def motion_blur(
    images: torch.Tensor, params: Sequence[tuple[int, float]], angles: torch.Tensor
) -> torch.Tensor:
    """imagenet-c ``motion_blur`` with one (radius, sigma) and one angle (degrees) per sample.

    ``_motion_blur`` sums Gaussian-weighted copies shifted along the angle, reading outside the
    image as the nearest edge pixel. Here each sample's copies form a dense kernel
    (:func:`motion_kernels`); the batch is edge-replicated by the largest shifts and correlated
    with all kernels in one FFT (:func:`fft_correlate`). ``(B, 3, H, W) -> (B, 3, H, W)``.
    """
    height, width = images.shape[-2:]
    params = [(int(p[0]), float(p[1])) for p in params]
    kernels, top = motion_kernels(params, [float(a) for a in angles.tolist()], height, width)
    kh, kw = kernels.shape[-2:]
    bottom, right = fft_size(height + kh - 1) - height - top, fft_size(width + kw - 1) - width
    padded = F.pad(images, (0, right, top, bottom), mode="replicate")
    weight = torch.as_tensor(kernels, dtype=images.dtype, device=images.device)
    return fft_correlate(padded, weight)[..., :height, :width].clamp(0.0, 1.0)


def pixelate(images: torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """Pfister's pixelate (``train_pre/dataset.py``): Pillow ``BOX`` down to ``int(size * c)``
    and ``BOX`` back up; grouped by factor. (imagenet-c's own version upsamples with NEAREST.)"""
    return grouped(images, list(factors), lambda sub, c: box_pixelate(sub, float(c)).clamp_(0, 1))


#: NumPy dtypes of the float dtypes the fast ops compute in.
_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}


def _draws_on_cpu(images: torch.Tensor, generator: torch.Generator | None) -> bool:
    """Whether the random numbers come from a CPU generator (blocks of :mod:`._streams`)."""
    return (generator.device if generator is not None else images.device).type == "cpu"


def gaussian_noise(
    images: torch.Tensor, sigmas: Sequence[float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """imagenet-c ``gaussian_noise``: ``clip(x + sigma * N(0, 1))``, one sigma per sample.

    With a CPU generator the noise is drawn in parallel blocks (:func:`._streams.run_blocks`) and
    the result moved to the images' device; with a CUDA generator, in one call on the GPU.
    """
    if not _draws_on_cpu(images, generator):
        noise = randn(images.shape, images, generator)
        return noise.mul_(per_sample(sigmas, images)).add_(images).clamp_(0.0, 1.0)
    sigma = np.asarray(sigmas, dtype=_NUMPY[images.dtype]).reshape(-1, 1)

    def kernel(seed: int, out: torch.Tensor, x: torch.Tensor, rows: slice) -> None:
        o = _streams.normal_(out, seed).numpy()  # NumPy from here: one thread per block
        np.multiply(o, sigma[rows], out=o)
        np.add(o, x.numpy(), out=o)
        np.clip(o, 0.0, 1.0, out=o)

    return _streams.run_blocks(images.cpu(), generator, kernel).to(images.device)


#: Impulse-noise probabilities are resolved to multiples of 2^-16 (one 16-bit draw per element).
IMPULSE_RESOLUTION = 2**16


def impulse_noise(
    images: torch.Tensor, amounts: Sequence[float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """imagenet-c ``impulse_noise`` = ``skimage.util.random_noise(mode='s&p', amount=p)``.

    Each element is replaced with probability ``p``; a replaced element is salt (1) or pepper (0)
    with probability 1/2. One uniform ``u`` per element decides both: ``u < p/2`` -> 0,
    ``p/2 <= u < p`` -> 1, which has the same joint distribution as skimage's two Bernoullis.
    With a CPU generator ``u`` is a 16-bit integer (:func:`._streams.uniform16`), so ``p`` counts
    in steps of 2^-16, at most 1 - 2^-16 (0.03 becomes 0.029999); with a CUDA generator, a
    float32 uniform.
    """
    if not _draws_on_cpu(images, generator):
        u = rand(images.shape, images, generator)
        p = per_sample(amounts, images)
        return torch.where(u >= p, images, u >= p * 0.5)  # bool salt promotes to images' dtype
    # u16 < round(p 2^16) on u16 = s + 32768, s the int16 draw; thresholds kept in int16 range.
    scale = IMPULSE_RESOLUTION
    keep = [min(round(p * scale) - scale // 2, scale // 2 - 1) for p in amounts]
    salt = [min(round(p * scale / 2) - scale // 2, scale // 2 - 1) for p in amounts]
    keep_from = np.asarray(keep, dtype=np.int16).reshape(-1, 1)
    salt_from = np.asarray(salt, dtype=np.int16).reshape(-1, 1)

    def kernel(seed: int, out: torch.Tensor, x: torch.Tensor, rows: slice) -> None:
        s = _streams.uniform16(out.numel(), seed).numpy().reshape(out.shape)
        o = out.numpy()
        np.copyto(o, s >= salt_from[rows])  # 1 (salt) or 0 (pepper) ...
        np.copyto(o, x.numpy(), where=s >= keep_from[rows])  # ... where the pixel is not kept

    return _streams.run_blocks(images.cpu(), generator, kernel).to(images.device)
