"""pfister_batch: layout of the rows, references, letterboxing, agreement with apply()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import load_photo, psnr, to_arrays, to_tensor
from PIL import Image

from harness.distortions import (
    CROP_REFERENCE,
    ORIGINAL,
    ROTATE_REFERENCE,
    DistortionError,
    apply,
    catalogue,
    letterbox,
    pfister_batch,
)
from harness.distortions.resample import short_side_size

SIZE = 64  # small, to keep the test fast; the layout does not depend on it


@pytest.fixture(scope="module")
def bases():
    return [
        to_tensor([load_photo("coffee", (150, 100))])[0],  # landscape 3:2
        to_tensor([load_photo("astronaut", (90, 120))])[0],  # portrait
        to_tensor([load_photo("chelsea", (150, 100))])[0],
    ]  # same size as the first


@pytest.fixture(scope="module")
def batch(bases):
    return pfister_batch(bases, size=SIZE, generator=torch.Generator().manual_seed(0))


def test_174_rows_per_base_image_in_base_major_order(batch):
    assert len(batch) == 3 * 174 and batch.images.shape == (522, 3, SIZE, SIZE)
    assert batch.base.tolist() == [b for b in range(3) for _ in range(174)]
    first = batch.distortion[:174]
    assert first[:3].tolist() == [ORIGINAL, CROP_REFERENCE, ROTATE_REFERENCE]
    assert (batch.level[:3] == 0).all()
    names = [d.name for d in catalogue("pfister2021")]
    assert batch.names == tuple(names)
    for j, d in enumerate(catalogue("pfister2021")):
        rows = (first == j).nonzero().flatten()
        assert batch.level[rows].tolist() == list(d.levels)


def test_reference_pointers(batch):
    ref = batch.reference
    code = batch.distortion
    assert torch.equal(
        ref[code < 0], torch.nonzero(code < 0).flatten()
    )  # references point to themselves
    names = batch.names
    for i in range(174, 2 * 174):  # second base image
        expected = 174 + {
            "hcrop": 1,
            "vcrop": 1,
            "leftcornerscrop": 1,
            "rightcornerscrop": 1,
            "rotate": 2,
        }.get(names[code[i]] if code[i] >= 0 else "", 0)
        if code[i] >= 0:
            assert ref[i].item() == expected
    assert batch.strength[(code == names.index("exposure")) & (batch.level == -5)].eq(-1).all()


def test_without_composition_references(bases):
    vb = pfister_batch(
        bases[:1], size=SIZE, composition_references=False, generator=torch.Generator()
    )
    assert len(vb) == 172 and (vb.reference == 0).all()


def test_original_row_is_pfisters_pad_square(bases, batch):
    # Pfister: Resize(224) (short side), paste on a black square of the long side, Resize(224).
    photo = (bases[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    im = Image.fromarray(photo)
    h, w = short_side_size(100, 150, SIZE)
    im = im.resize((w, h), Image.BILINEAR)
    side = max(SIZE, w, h)
    square = Image.new("RGB", (side, side))
    square.paste(im, (int((side - w) / 2), int((side - h) / 2)))
    ref = np.asarray(square.resize((SIZE, SIZE), Image.BILINEAR)) / 255.0
    assert psnr(to_arrays(batch.images[:1])[0], ref) >= 40
    assert batch.images[0, :, :8].abs().max() < 0.02  # black bars above and below a landscape


def test_rows_equal_apply_on_the_frame(bases, batch):
    frame = torch.nn.functional.interpolate(
        bases[1][None],
        size=short_side_size(120, 90, SIZE),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    j = batch.names.index("defocus_blur")
    row = ((batch.base == 1) & (batch.distortion == j) & (batch.level == 4)).nonzero().item()
    expected = letterbox(apply(frame, "defocus_blur", 4), SIZE)
    torch.testing.assert_close(batch.images[row : row + 1], expected, atol=1e-5, rtol=0)


def test_fast_and_reference_agree_on_deterministic_rows(bases):
    g = torch.Generator().manual_seed(0)
    fast = pfister_batch(bases[:1], size=SIZE, generator=g)
    ref = pfister_batch(
        bases[:1], size=SIZE, generator=torch.Generator().manual_seed(0), backend="reference"
    )
    random_ = {fast.names.index(n) for n in ("gaussian_noise", "impulse_noise")}
    for i in range(len(fast)):
        if int(fast.distortion[i]) in random_:
            continue
        floor = 30.0 if fast.names[max(int(fast.distortion[i]), 0)] == "jpeg_compression" else 35.0
        assert psnr(to_arrays(fast.images[i : i + 1]), to_arrays(ref.images[i : i + 1])) >= floor, i


def test_values_in_range_and_bad_input(batch):
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    with pytest.raises(DistortionError, match=r"base image 1 must be float .* got values in"):
        pfister_batch([torch.rand(3, 32, 32), torch.rand(3, 32, 32) * 2])
    with pytest.raises(DistortionError, match=r"base image 0 must be a \(3, H, W\)"):
        pfister_batch([torch.rand(1, 3, 32, 32)])
