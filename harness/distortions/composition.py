"""Composition distortions of Pfister et al. [0]: shifted crops, rotations and stretches.

Their code (``train_pre/dataset.py``) works on two copies of each image: ``O`` resized to short
side 224 and a canvas ``C`` resized to short side 336. A crop is a window of ``O``'s size inside
``C`` (the centred window is the crop reference); a rotation rotates ``C`` with Pillow (bicubic,
``expand=True``), cuts the largest rectangle that fits a 10° rotation, resizes it to ``O``'s short
side and centre-crops ``O``'s size (the same pipeline at 0° is the rotate reference); ``ratio``
stretches ``O`` and centre-crops it back. The integer arithmetic below (Python ``round``,
torchvision's ``CenterCrop`` and ``Resize``) is theirs, so window positions match to the pixel.

[0] Pfister et al., CVPRW 2021, Table 1 (composition aspect).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.distortions._batching import grouped
from harness.distortions.resample import (
    center_crop_box,
    resize,
    rotated_rect_with_max_area,
    short_side_size,
)

#: The four crop distortions and how a level moves the window: (horizontal, vertical) move.
CROPS = {
    "hcrop": lambda k: (k, 0),
    "vcrop": lambda k: (0, k),
    "leftcornerscrop": lambda k: (-abs(k), k),
    "rightcornerscrop": lambda k: (abs(k), k),
}
#: Pfister's rotation bound: every rotation is cropped to the rectangle that fits 10°.
MAX_ROTATION = 10.0


def canvas_size(height: int, width: int) -> tuple[int, int]:
    """Size of the 1.5x canvas ``C`` for an ``O`` frame of ``height × width`` (336 for 224)."""
    return short_side_size(height, width, round(1.5 * min(height, width)))


def crop_origin(
    canvas_hw: tuple[int, int], frame_hw: tuple[int, int], name: str, level: int
) -> tuple[int, int]:
    """``(top, left)`` of the window of crop distortion ``name`` at ``level`` inside the canvas.

    Pfister's arithmetic: the centred window's corner ``round(C/2 - O/2)`` moves by
    ``round(corner * 0.2 * move)`` (positive vertical moves go up, positive horizontal right).
    """
    (ch, cw), (h, w) = canvas_hw, frame_hw
    h_move, v_move = CROPS[name](level)
    left, top = round(cw / 2 - w / 2), round(ch / 2 - h / 2)
    return top - round(top * (v_move * 0.2)), left - round(left * (-h_move * 0.2))


def crop(
    canvas: torch.Tensor, frame_hw: tuple[int, int], name: str, levels: Sequence[int]
) -> torch.Tensor:
    """Windows of size ``frame_hw`` at each sample's level; ``(B,3,hC,wC) -> (B,3,h,w)``."""
    h, w = frame_hw
    origins = [crop_origin(tuple(canvas.shape[-2:]), frame_hw, name, int(k)) for k in levels]
    # Rounding can put a border window one pixel outside the canvas; Pillow's crop fills black.
    hc, wc = canvas.shape[-2:]
    pad = max(
        0,
        *(-t for t, _ in origins),
        *(-left for _, left in origins),
        *(t + h - hc for t, _ in origins),
        *(left + w - wc for _, left in origins),
    )
    if pad:
        canvas = F.pad(canvas, (pad, pad, pad, pad))
    dev = canvas.device
    tops = torch.tensor([t + pad for t, _ in origins], device=dev).view(-1, 1)
    lefts = torch.tensor([left + pad for _, left in origins], device=dev).view(-1, 1)
    rows = (tops + torch.arange(h, device=dev)).view(-1, 1, h, 1)  # (B, 1, h, 1)
    cols = (lefts + torch.arange(w, device=dev)).view(-1, 1, 1, w)  # (B, 1, 1, w)
    b, c, _, wc = canvas.shape
    strip = canvas.gather(2, rows.expand(b, c, h, wc))  # (B, 3, h, wC)
    return strip.gather(3, cols.expand(b, c, h, w))  # (B, 3, h, w)


def _pil_rotation(width: int, height: int, angle: float) -> tuple[list[float], int, int]:
    """Pillow's ``rotate(angle, expand=True)``: the output->input affine matrix and canvas size."""
    a = -math.radians(angle % 360.0)
    m = [
        round(math.cos(a), 15),
        round(math.sin(a), 15),
        0.0,
        round(-math.sin(a), 15),
        round(math.cos(a), 15),
        0.0,
    ]

    def apply(x: float, y: float) -> tuple[float, float]:
        return m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]

    cx, cy = width / 2.0, height / 2.0
    m[2], m[5] = apply(-cx, -cy)
    m[2] += cx
    m[5] += cy
    corners = [apply(x, y) for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
    nw = math.ceil(max(x for x, _ in corners)) - math.floor(min(x for x, _ in corners))
    nh = math.ceil(max(y for _, y in corners)) - math.floor(min(y for _, y in corners))
    m[2], m[5] = apply(-(nw - width) / 2.0, -(nh - height) / 2.0)
    return m, nw, nh


def rotate(
    canvas: torch.Tensor, frame_hw: tuple[int, int], angles: Sequence[float]
) -> torch.Tensor:
    """Pfister's rotation of the canvas by ``angles`` degrees (counter-clockwise), one per sample.

    One bicubic ``grid_sample`` per batch reads the 10°-rectangle crop of each rotated canvas
    straight from the canvas (Pillow's output->input matrix composed with the crop offset); an
    antialiased resize to the frame's short side and a centre crop follow.
    ``(B, 3, hC, wC) -> (B, 3, h, w)``.
    """
    _, _, ch, cw = canvas.shape
    h, w = frame_hw
    rect_w, rect_h = rotated_rect_with_max_area(cw, ch, MAX_ROTATION)
    matrices, origins, sizes = [], [], []
    for angle in angles:  # per-sample scalars: the matrix, the canvas size and the crop box
        m, nw, nh = _pil_rotation(cw, ch, float(angle))
        top, left, crop_h, crop_w = center_crop_box(nh, nw, rect_h, rect_w)
        matrices.append(m)
        origins.append((top, left))
        sizes.append((crop_h, crop_w))
    if len(set(sizes)) > 1:  # rounding made the crop one pixel larger for some angles
        return grouped(
            canvas,
            sizes,
            lambda sub, _, rows: rotate(sub, frame_hw, [angles[i] for i in rows]),
            with_rows=True,
        )
    crop_h, crop_w = sizes[0]
    f64 = torch.float64
    m = torch.tensor(matrices, dtype=f64).view(-1, 6, 1, 1)  # (B, 6, 1, 1)
    o = torch.tensor(origins, dtype=f64).view(-1, 2, 1, 1)  # (B, (top, left), 1, 1)
    ys = torch.arange(crop_h, dtype=f64).view(1, -1, 1) + 0.5 + o[:, 0]  # (B, hr, 1) canvas rows
    xs = torch.arange(crop_w, dtype=f64).view(1, 1, -1) + 0.5 + o[:, 1]  # (B, 1, wr) canvas cols
    x_in = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]  # (B, hr, wr), Pillow's output->input map
    y_in = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    grid = torch.stack((2.0 * x_in / cw - 1.0, 2.0 * y_in / ch - 1.0), dim=-1)  # (B, hr, wr, 2)
    grid = grid.to(device=canvas.device, dtype=canvas.dtype)
    cut = F.grid_sample(canvas, grid, mode="bicubic", padding_mode="border", align_corners=False)
    rh, rw = short_side_size(crop_h, crop_w, min(h, w))
    top, left, _, _ = center_crop_box(rh, rw, h, w)
    return resize(cut, rh, rw)[..., top : top + h, left : left + w].clamp(0.0, 1.0)


def ratio_size(height: int, width: int, level: int) -> tuple[int, int]:
    """The stretched size for ``level``: height (k > 0) or width (k < 0) times ``1 + |k|/5``."""
    if level > 0:
        return round(height * (1 + level * (1 / 5))), width
    return height, round(width * (1 + -level * (1 / 5)))


def ratio(images: torch.Tensor, levels: Sequence[int]) -> torch.Tensor:
    """Pfister's ``ratio``: stretch (antialiased bilinear), centre-crop back; grouped by level."""
    height, width = images.shape[-2:]

    def one(sub: torch.Tensor, level: int) -> torch.Tensor:
        sh, sw = ratio_size(height, width, level)
        top, left, _, _ = center_crop_box(sh, sw, height, width)
        return resize(sub, sh, sw)[..., top : top + height, left : left + width].clamp(0.0, 1.0)

    return grouped(images, [int(k) if k else None for k in levels], one)
