"""Aspect-ratio preserving inputs: resize the short edge, pad onto a fixed square canvas, and mark
the image's pixels in a fourth (alpha) channel, so that masked pooling can ignore the padding.

Why a padded canvas and not aspect-ratio buckets: the runner's loaders stack per-image tensors
of equal shape and draw batches in a seeded order; a fixed canvas keeps that contract with no
change to the core and no scan of every image's size before training. The price is compute on
the padding (a 3:2 photo fills 3/8 of a canvas of twice its short edge). See docs/saf.md.

The image sits in the canvas's top-left corner, so its extent is (rows, columns) of valid pixels
(:func:`pixel_extent`); nothing is cropped, and nothing is warped (one scale factor per image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image

from harness.data.images import to_tensor

#: The canvas side is rounded up to a multiple of this (the deepest stride of the backbones), so
#: feature cells tile the canvas exactly.
ALIGN = 32


def canvas_side(short_edge: int, max_aspect: float, align: int = ALIGN) -> int:
    """Side of the square canvas that holds an image of ``short_edge`` up to ``max_aspect``:1."""
    return int(math.ceil(short_edge * max_aspect / align) * align)


@dataclass(frozen=True)
class ShortEdgeCanvas:
    """Per-image transform: resize the short edge to ``short_edge`` keeping the aspect ratio,
    optionally flip horizontally (p = 0.5), and paste top-left onto a black square canvas.

    An image more elongated than ``max_aspect``:1 is scaled so its long edge fits the canvas
    instead (its short edge then ends below ``short_edge``): it is still neither cropped nor
    warped.

    Returns:
        (4, S, S) float32: RGB in [0, 1], then alpha = 1 on the image's pixels, 0 on padding.
    """

    short_edge: int
    max_aspect: float = 2.0
    flip: bool = False

    @property
    def side(self) -> int:
        return canvas_side(self.short_edge, self.max_aspect)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        side = self.side
        w, h = image.size
        scale = min(self.short_edge / min(w, h), side / max(w, h))
        nw, nh = min(side, max(1, round(w * scale))), min(side, max(1, round(h * scale)))
        image = image.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
        if self.flip and torch.rand(()) < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        out = torch.zeros(4, side, side)
        out[:3, :nh, :nw] = to_tensor(image)
        out[3, :nh, :nw] = 1.0
        return out


def split_alpha(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 4, H, W) canvases -> RGB (B, 3, H, W) and alpha (B, 1, H, W); a plain (B, 3, H, W)
    batch counts as fully valid (alpha of ones)."""
    if images.shape[1] == 4:
        return images[:, :3], images[:, 3:]
    if images.shape[1] != 3:
        raise ValueError(f"expected (B, 3 or 4, H, W) images, got {tuple(images.shape)}")
    return images, images.new_ones(images.shape[0], 1, *images.shape[2:])


def pixel_extent(alpha: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) alpha of top-left placed images -> (B, 2) int64 valid (rows, columns)."""
    valid = alpha[:, 0] > 0.5  # (B, H, W)
    rows = valid.any(dim=2).sum(dim=1)  # (B,)
    cols = valid.any(dim=1).sum(dim=1)  # (B,)
    return torch.stack([rows, cols], dim=1)  # (B, 2)
