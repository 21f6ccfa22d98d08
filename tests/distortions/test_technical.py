"""Technical distortions: parity with imagecorruptions / Pillow on real photographs at 224 x 224."""

from __future__ import annotations

import io
import itertools
import warnings

import numpy as np
import pytest
import torch
from tests.distortions.distortion_helpers import psnr, to_arrays
from PIL import Image

from harness.distortions import apply, get
from harness.distortions import technical as T

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from imagecorruptions import corrupt
    from imagecorruptions.corruptions import _motion_blur, disk

LEVELS = (1, 2, 3, 4, 5)


def _reference(photos, name, level):
    return [corrupt(p, severity=level, corruption_name=name) / 255.0 for p in photos]


@pytest.mark.parametrize("radius, alias", [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)])
def test_disk_kernel_is_imagenet_c_s(radius, alias):
    np.testing.assert_allclose(T.disk_kernel(radius, alias), disk(radius, alias), atol=1e-7)


@pytest.mark.parametrize("level", LEVELS)
def test_defocus_blur_matches_imagecorruptions(photos, photo_batch, level):
    out = to_arrays(apply(photo_batch, "defocus_blur", level))
    for ref, got in zip(_reference(photos, "defocus_blur", level), out):
        assert psnr(ref, got) >= 35.0


@pytest.mark.parametrize("level", LEVELS)
def test_pixelate_matches_pfisters_pillow_version(photos, photo_batch, level):
    c = get("pixelate").params[level]
    out = to_arrays(apply(photo_batch, "pixelate", level))
    for photo, got in zip(photos, out):
        small = Image.fromarray(photo).resize((int(224 * c), int(224 * c)), Image.BOX)
        ref = np.asarray(small.resize((224, 224), Image.BOX)) / 255.0
        assert psnr(ref, got) >= 35.0


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("angle", [-41.0, -7.5, 0.0, 23.0, 44.5])
def test_motion_blur_at_a_fixed_angle_matches_imagecorruptions(photos, photo_batch, level, angle):
    radius, sigma = get("motion_blur").params[level]
    out = to_arrays(T.motion_blur(photo_batch[:2], [(radius, sigma)] * 2, torch.full((2,), angle)))
    for photo, got in zip(photos[:2], out):
        ref = np.uint8(
            np.clip(_motion_blur(photo, radius=radius, sigma=sigma, angle=angle), 0, 255)
        )
        assert psnr(ref / 255.0, got) >= 35.0


def test_motion_blur_backends_draw_the_same_angles(photo_batch):
    fast = apply(photo_batch, "motion_blur", [1, 3, 5, 2], torch.Generator().manual_seed(7))
    ref = apply(
        photo_batch, "motion_blur", [1, 3, 5, 2], torch.Generator().manual_seed(7), "reference"
    )
    for a, b in zip(to_arrays(fast), to_arrays(ref)):
        assert psnr(a, b) >= 35.0


def test_motion_blur_on_an_impulse_is_its_kernel():
    x = torch.zeros(1, 3, 41, 41)
    x[..., 20, 20] = 1.0
    out = T.motion_blur(x, [(3, 2.0)], torch.tensor([30.0]))[0, 0]
    rows, cols, weights = T.motion_taps([30.0], 3, 2.0)
    expected = torch.zeros(41, 41, dtype=torch.float64)
    for u, v, w in zip(rows[0], cols[0], weights):  # out(y, x) reads x(y + u, x + v)
        expected[20 - u, 20 - v] += w
    torch.testing.assert_close(out.double(), expected, atol=1e-6, rtol=0)
    # by hand: ceil(i sin 30° - 0.5) and ceil(i cos 30° - 0.5) for i = 0..6
    assert rows[0].tolist() == [0, 0, 1, 1, 2, 2, 3] and cols[0].tolist() == [0, 1, 2, 3, 3, 4, 5]


def test_jpeg_codecs_give_the_same_bytes_on_the_cpu(photo_batch):
    # torchvision's list calls and Pillow wrap the same libjpeg-turbo with the same settings
    # (4:2:0, islow DCT, fancy upsampling), so the faster one can be the default.
    quality = [25, 18, 7, 10]
    assert torch.equal(
        T.jpeg(photo_batch, quality, codec="pil"), T.jpeg(photo_batch, quality, codec="torchvision")
    )


@pytest.mark.parametrize("level", LEVELS)
def test_jpeg_matches_imagecorruptions(photos, photo_batch, level):
    for codec in ("pil", "torchvision"):
        out = to_arrays(
            T.jpeg(photo_batch, [get("jpeg_compression").params[level]] * 4, codec=codec)
        )
        for ref, got in zip(_reference(photos, "jpeg_compression", level), out):
            assert psnr(ref, got) >= 30.0


def test_jpeg_is_lossy_and_stronger_at_higher_levels(photo_batch):
    x = photo_batch[:1]
    scores = [psnr(to_arrays(x), to_arrays(apply(x, "jpeg_compression", k))) for k in LEVELS]
    assert all(a > b for a, b in itertools.pairwise(scores)) and scores[0] < 40


@pytest.mark.parametrize("level", LEVELS)
def test_gaussian_noise_residual_std_matches_the_reference(photos, photo_batch, level, generator):
    # A mid-grey image avoids clipping, so the residual std is the sigma itself.
    grey = torch.full((2, 3, 224, 224), 0.5)
    fast = (apply(grey, "gaussian_noise", level, generator) - grey).std().item()
    ref = np.std(
        corrupt(np.full((224, 224, 3), 128, np.uint8), level, "gaussian_noise") / 255.0 - 128 / 255
    )
    assert fast == pytest.approx(ref, rel=0.03)
    sigma = get("gaussian_noise").params[level]
    clipped = np.clip(np.random.default_rng(0).normal(0.0, sigma, 10**6), -0.5, 0.5)
    assert fast == pytest.approx(clipped.std(), rel=0.03)
    # On photographs (clipping included), residual std within 3 % of imagecorruptions'.
    fast_photo = [
        np.std(a - p / 255.0)
        for a, p in zip(to_arrays(apply(photo_batch, "gaussian_noise", level, generator)), photos)
    ]
    ref_photo = [
        np.std(r - p / 255.0) for r, p in zip(_reference(photos, "gaussian_noise", level), photos)
    ]
    assert np.mean(fast_photo) == pytest.approx(np.mean(ref_photo), rel=0.03)


@pytest.mark.parametrize("level", LEVELS)
def test_impulse_noise_fraction_matches_the_reference(photos, photo_batch, level, generator):
    out = to_arrays(apply(photo_batch, "impulse_noise", level, generator))
    changed = np.mean([np.mean(np.abs(o - p / 255.0) > 1e-6) for o, p in zip(out, photos)])
    ref = np.mean(
        [
            np.mean(r != p / 255.0)
            for r, p in zip(_reference(photos, "impulse_noise", level), photos)
        ]
    )
    assert changed == pytest.approx(ref, rel=0.10)
    amount = get("impulse_noise").params[level]
    inside = np.stack([(p > 0) & (p < 255) for p in photos])  # elements not already 0 or 1
    extreme = np.stack([(o == 0) | (o == 1) for o in out])
    assert extreme[inside].mean() == pytest.approx(amount, rel=0.10)
    salt = np.stack([o == 1 for o in out])[inside].mean() / extreme[inside].mean()
    assert 0.45 < salt < 0.55


def test_per_sample_levels_equal_separate_calls(photo_batch):
    mixed = apply(photo_batch, "defocus_blur", [0, 5, 1, 3])
    for i, level in enumerate([0, 5, 1, 3]):
        torch.testing.assert_close(
            mixed[i : i + 1],
            apply(photo_batch[i : i + 1], "defocus_blur", level),
            atol=1e-5,
            rtol=0,
        )
    assert torch.equal(mixed[0], photo_batch[0])


def test_reference_jpeg_is_pillows(photos, photo_batch):
    out = to_arrays(apply(photo_batch[:1], "jpeg_compression", 3, backend="reference"))[0]
    buffer = io.BytesIO()
    Image.fromarray(photos[0]).save(buffer, "JPEG", quality=15)
    np.testing.assert_array_equal(np.round(out * 255), np.asarray(Image.open(buffer)))


@pytest.mark.parametrize("shape, kernel", [((3, 3, 40, 52), (17, 17)), ((2, 3, 61, 37), (9, 30))])
def test_fft_correlation_equals_direct_conv2d(shape, kernel):
    from harness.distortions._batching import fft_correlate, fft_size

    g = torch.Generator().manual_seed(0)
    x = torch.rand(*shape, generator=g)
    k = torch.rand(shape[0], *kernel, generator=g)
    k /= k.sum((-2, -1), keepdim=True)
    b, c, h, w = shape
    direct = torch.nn.functional.conv2d(
        x.reshape(1, b * c, h, w), k.repeat_interleave(c, 0).unsqueeze(1), groups=b * c
    ).view(b, c, h - kernel[0] + 1, w - kernel[1] + 1)
    torch.testing.assert_close(fft_correlate(x, k), direct, atol=1e-5, rtol=0)
    # extra rows/columns past the valid region (padding to an FFT length) are not read
    grown = torch.nn.functional.pad(x, (0, fft_size(w) - w + 3, 0, 5), value=7.0)
    out = fft_correlate(grown, k)[..., : direct.shape[-2], : direct.shape[-1]]
    torch.testing.assert_close(out, direct, atol=1e-5, rtol=0)
    assert [fft_size(n) for n in (1, 7, 11, 241, 244, 257)] == [1, 8, 12, 256, 256, 288]


def _direct_defocus(x, params):
    out = []
    for i, p in enumerate(params):
        k = torch.tensor(np.array(T.disk_kernel(*p)), dtype=x.dtype)
        r = k.shape[0] // 2
        padded = torch.nn.functional.pad(x[i : i + 1], (r, r, r, r), mode="reflect")
        out.append(torch.nn.functional.conv2d(padded[0][:, None], k[None, None])[:, 0])
    return torch.stack(out).clamp(0, 1)


def test_defocus_fft_equals_direct_convolution(photo_batch):
    params = [get("defocus_blur").params[k] for k in (1, 5, 3, 4)]
    torch.testing.assert_close(
        T.defocus_blur(photo_batch, params), _direct_defocus(photo_batch, params), atol=1e-5, rtol=0
    )


def test_motion_blur_fft_equals_summed_shifted_copies(photo_batch):
    params = [get("motion_blur").params[k] for k in (1, 5, 3, 2)]
    angles = torch.tensor([-44.0, 12.5, 0.0, 37.0])
    out = T.motion_blur(photo_batch, params, angles)
    for i, ((radius, sigma), a) in enumerate(zip(params, angles.tolist())):
        rows, cols, weights = T.motion_taps([a], radius, sigma)
        x = photo_batch[i].double()
        expected = torch.zeros_like(x)
        for u, v, w in zip(rows[0], cols[0], weights):  # out(y, x) = x(y + u, x + v), edges held
            ys = (torch.arange(224) + int(u)).clamp(0, 223)
            xs = (torch.arange(224) + int(v)).clamp(0, 223)
            expected += w * x[:, ys][:, :, xs]
        torch.testing.assert_close(out[i].double(), expected.clamp(0, 1), atol=1e-5, rtol=0)
