"""The aspect-preserving canvas transform (harness.aspect): no crop, no warp, a correct alpha."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from harness.aspect import ShortEdgeCanvas, canvas_side, pixel_extent, split_alpha


def gradient_image(w: int, h: int) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    return Image.fromarray(np.stack([x, x[::-1, ::-1], np.full_like(x, 90)], 2).astype(np.uint8))


def test_canvas_side_rounds_up_to_32():
    assert canvas_side(256, 2.0) == 512 and canvas_side(64, 2.0) == 128
    assert canvas_side(64, 1.5) == 96 and canvas_side(100, 1.0) == 128


@pytest.mark.parametrize("w, h, expected", [(300, 200, (64, 96)), (200, 300, (96, 64)),
                                            (400, 100, (32, 128)), (64, 64, (64, 64))])
def test_short_edge_resize_keeps_the_aspect_ratio_and_pads_top_left(w, h, expected):
    out = ShortEdgeCanvas(64, 2.0)(gradient_image(w, h))
    assert out.shape == (4, 128, 128)
    rows, cols = expected
    alpha = out[3]
    assert alpha[:rows, :cols].eq(1).all() and alpha.sum() == rows * cols
    assert out[:3, rows:, :].abs().sum() == 0 and out[:3, :, cols:].abs().sum() == 0
    assert pixel_extent(out[None, 3:]).tolist() == [[rows, cols]]
    # the same aspect ratio (one scale factor, no warp): within one pixel of rounding
    assert abs(cols / rows - w / h) <= (w / h) / min(rows, cols) + 1e-9
    # nothing is cropped: the content equals a plain resize of the whole image
    plain = np.asarray(gradient_image(w, h).resize((cols, rows), Image.BILINEAR, reducing_gap=3.0))
    assert torch.allclose(out[:3, :rows, :cols], torch.from_numpy(plain.copy()).permute(2, 0, 1)
                          .float() / 255)


def test_flip_mirrors_the_image_inside_its_own_region():
    image = gradient_image(150, 100)
    plain = ShortEdgeCanvas(64, 2.0)(image)
    flips = []
    for seed in range(8):
        torch.manual_seed(seed)
        flips.append(ShortEdgeCanvas(64, 2.0, flip=True)(image))
    flipped = [f for f in flips if not torch.equal(f, plain)]
    assert flipped and len(flipped) < len(flips)  # p = 0.5 over 8 seeds
    assert torch.allclose(flipped[0][:3, :64, :96], plain[:3, :64, :96].flip(-1))
    assert torch.equal(flipped[0][3], plain[3])


def test_split_alpha_accepts_plain_rgb_as_fully_valid():
    rgb, alpha = split_alpha(torch.rand(2, 3, 8, 6))
    assert alpha.shape == (2, 1, 8, 6) and alpha.eq(1).all()
    assert pixel_extent(alpha).tolist() == [[8, 6], [8, 6]]
    with pytest.raises(ValueError, match="3 or 4"):
        split_alpha(torch.rand(2, 5, 8, 6))
