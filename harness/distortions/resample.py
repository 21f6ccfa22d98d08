"""Resampling that reproduces Pillow's ``Image.resize`` arithmetic, as batched tensor ops.

Pfister et al. [0] resize, pixelate and letterbox with Pillow (``BOX`` and ``BILINEAR``
filters, through torchvision's ``Resize`` on PIL images). Pillow resamples each axis with a
filter whose support is widened by the downscale factor (``precompute_coeffs`` in
``libImaging/Resample.c``); :func:`pil_weights` rebuilds those coefficients so that a resize is one
matrix per axis. Upscaling and bilinear downscaling use ``torch.nn.functional.interpolate`` with
``antialias=True``, which implements the same filter.

[0] Pfister, Kobs, Hotho. Self-Supervised Multi-Task Pretraining Improves Image Aesthetic
    Assessment. CVPR Workshops 2021. Code: janpf/self-supervised-multi-task-aesthetic-pretraining.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


def _box(x: float) -> float:
    return 1.0 if -0.5 < x <= 0.5 else 0.0


def _bilinear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


_FILTERS = {"box": (_box, 0.5), "bilinear": (_bilinear, 1.0)}


@lru_cache(maxsize=256)
def pil_weights(in_size: int, out_size: int, kind: str = "bilinear") -> np.ndarray:
    """Pillow's resampling coefficients for one axis as a dense ``(out_size, in_size)`` matrix.

    Mirrors ``precompute_coeffs``: ``scale = in/out``, support = filter support × max(scale, 1),
    taps from ``int(center - support + 0.5)`` to ``int(center + support + 0.5)`` clipped to the
    image, each row normalised to sum 1.
    """
    fn, support = _FILTERS[kind]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    w = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        taps = [fn((x - center + 0.5) / filterscale) for x in range(xmin, xmax)]
        total = sum(taps)
        if total != 0.0:
            w[xx, xmin:xmax] = np.asarray(taps) / total
    w.setflags(write=False)
    return w


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """torchvision ``Resize(short)``: the short side becomes ``short``, the long side
    ``int(short * long / short_side)`` (floor), as ``_compute_resized_output_size`` does."""
    if width <= height:
        return int(short * height / width), short
    return short, int(short * width / height)


def center_crop_box(
    height: int, width: int, out_h: float, out_w: float
) -> tuple[int, int, int, int]:
    """torchvision ``CenterCrop`` on a PIL image: ``(top, left, crop_h, crop_w)`` in whole pixels.

    The offsets are ``int(round((size - crop) / 2))``; Pillow's ``crop`` then rounds the far
    corner, so the size is ``round(offset + crop) - offset``.
    """
    top = round((height - out_h) / 2.0)
    left = round((width - out_w) / 2.0)
    return top, left, round(top + out_h) - top, round(left + out_w) - left


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize with Pillow's antialiasing: ``(B, C, H, W) -> (B, C, height, width)``."""
    if images.shape[-2:] == (height, width):
        return images
    out = F.interpolate(
        images, size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return out.clamp_(0.0, 1.0)  # the weights are convex; this only removes rounding overshoot


def _box_down(images: torch.Tensor, small_h: int, small_w: int) -> torch.Tensor:
    """Pillow ``BOX`` downscale: ``avg_pool2d`` where a side divides evenly (Pillow's cells are
    then the pooling windows), else that side's :func:`pil_weights` matrix."""
    height, width = images.shape[-2:]
    even_h, even_w = height % small_h == 0, width % small_w == 0
    if even_h or even_w:
        kernel = (height // small_h if even_h else 1, width // small_w if even_w else 1)
        images = F.avg_pool2d(images, kernel) if kernel != (1, 1) else images
    dev, dt = images.device, images.dtype
    if not even_w:
        images = torch.matmul(
            images, torch.tensor(pil_weights(width, small_w, "box").T, dtype=dt, device=dev)
        )
    if not even_h:
        images = torch.matmul(
            torch.tensor(pil_weights(height, small_h, "box"), dtype=dt, device=dev), images
        )
    return images


@lru_cache(maxsize=256)
def _nearest_exact_matches(small: int, size: int, device_type: str) -> bool:
    """Whether ``interpolate(mode="nearest-exact")`` picks Pillow's upscale pixel
    ``floor((x + 0.5) small / size)`` at every ``x`` (float rounding could differ at a tie)."""
    pillow = (2 * np.arange(size) + 1) * small // (2 * size)
    source = torch.arange(small, dtype=torch.float32, device=device_type).view(1, 1, 1, small)
    picked = F.interpolate(source, size=(1, size), mode="nearest-exact").view(-1)
    return bool((picked.cpu().numpy() == pillow).all())


def box_pixelate(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Pfister's pixelate: ``BOX`` downscale to ``int(size * factor)``, ``BOX`` upscale back.

    Pillow's box filter averages the input pixels whose centres fall in each output cell
    (:func:`pil_weights`); upscaling with it picks one pixel, ``floor((x + 0.5) * small / size)``,
    which is torch's ``nearest-exact`` interpolation. ``(B, C, H, W) -> (B, C, H, W)``.
    """
    height, width = images.shape[-2:]
    small_h, small_w = max(int(height * factor), 1), max(int(width * factor), 1)
    small = _box_down(images, small_h, small_w)  # (B, C, h, w)
    kind = images.device.type
    if _nearest_exact_matches(small_h, height, kind) and _nearest_exact_matches(
        small_w, width, kind
    ):
        return F.interpolate(small, size=(height, width), mode="nearest-exact")
    rows = torch.from_numpy((2 * np.arange(height) + 1) * small_h // (2 * height))
    cols = torch.from_numpy((2 * np.arange(width) + 1) * small_w // (2 * width))
    return small.index_select(-2, rows.to(images.device)).index_select(-1, cols.to(images.device))


def letterbox(images: torch.Tensor, size: int) -> torch.Tensor:
    """Pfister's ``pad_square``: paste on a black square of the long side, resize to ``size``.

    The paste offset is ``int((long - side) / 2)`` as in the original code; the square is then
    resized with Pillow's antialiased bilinear filter. ``(B, C, H, W) -> (B, C, size, size)``.
    """
    height, width = images.shape[-2:]
    side = max(height, width, size)
    top, left = int((side - height) / 2), int((side - width) / 2)
    canvas = F.pad(images, (left, side - width - left, top, side - height - top))  # (B, C, L, L)
    return resize(canvas, size, size)


def rotated_rect_with_max_area(
    width: float, height: float, angle_deg: float
) -> tuple[float, float]:
    """Largest axis-aligned rectangle inside a ``width × height`` rectangle rotated by ``angle``.

    The closed form Pfister's ``train_pre/utils.py`` uses (``rotatedRectWithMaxArea``).
    """
    if width <= 0 or height <= 0:
        return 0.0, 0.0
    angle = math.radians(angle_deg)
    width_is_longer = width >= height
    side_long, side_short = (width, height) if width_is_longer else (height, width)
    sin_a, cos_a = abs(math.sin(angle)), abs(math.cos(angle))
    if side_short <= 2.0 * sin_a * cos_a * side_long or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * side_short
        return (x / sin_a, x / cos_a) if width_is_longer else (x / cos_a, x / sin_a)
    cos_2a = cos_a * cos_a - sin_a * sin_a
    return (width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a
