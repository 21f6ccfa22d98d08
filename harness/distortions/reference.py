"""The ``reference`` backend: the original per-image implementations, one image at a time.

- Technical (Pfister): ``imagecorruptions`` 1.1.2 (the imagenet-c constants) on the 8-bit image,
  exactly as Pfister's ``train_pre/dataset.py`` calls it; ``motion_blur`` takes its angle from the
  torch generator (the same draw as the fast backend) and calls the package's ``_motion_blur``,
  ``impulse_noise`` calls ``skimage.util.random_noise`` with a seed (imagecorruptions calls it
  unseeded); ``pixelate`` is Pfister's own Pillow BOX/BOX version.
- Style: :mod:`harness.distortions.darktable_numpy`.
- Composition: Pillow, with torchvision's ``Resize``/``CenterCrop`` arithmetic, as Pfister's code.
- Sheng: NumPy / Pillow / SciPy per image.

Images go in and out as float tensors; the 8-bit tools see ``round(255 x)``.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image

from harness.distortions import darktable_numpy as dtn
from harness.distortions import sheng as sh
from harness.distortions._batching import seeds
from harness.distortions.catalogue import TEMPERATURE_GAINS, TINT_GAINS, Distortion
from harness.distortions.composition import CROPS, crop_origin, ratio_size
from harness.distortions.resample import (
    center_crop_box,
    rotated_rect_with_max_area,
    short_side_size,
)
from harness.distortions.style import SHADHI_RADIUS, SHADHI_REFERENCE_WIDTH


def _corrupt():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imagecorruptions imports pkg_resources
        import imagecorruptions
        from imagecorruptions import corruptions
    return imagecorruptions, corruptions


@contextmanager
def _numpy_seed(seed: int):
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def motion_angles(batch: int, generator: torch.Generator | None) -> list[float]:
    """One angle in U(-45°, 45°) per sample, drawn the same way by both backends."""
    device = generator.device if generator is not None else "cpu"
    return (
        torch.rand(batch, generator=generator, device=device, dtype=torch.float32) * 90 - 45
    ).tolist()


def _technical(d: Distortion, x: np.ndarray, level: int, seed: int, angle: float) -> np.ndarray:
    ic, corr = _corrupt()
    param = d.params[level]
    if d.name == "pixelate":
        h, w = x.shape[:2]
        small = Image.fromarray(x).resize((int(w * param), int(h * param)), Image.BOX)
        return np.asarray(small.resize((w, h), Image.BOX))
    if d.name == "motion_blur":
        return np.uint8(
            np.clip(corr._motion_blur(x, radius=param[0], sigma=param[1], angle=angle), 0, 255)
        )
    if d.name == "impulse_noise":
        from skimage.util import random_noise

        return np.uint8(
            np.clip(random_noise(x / 255.0, mode="s&p", amount=param, rng=seed), 0, 1) * 255
        )
    if d.name == "gaussian_noise":  # imagecorruptions draws from NumPy's global generator
        with _numpy_seed(seed):
            return ic.corrupt(x, severity=level, corruption_name=d.name)
    return ic.corrupt(x, severity=level, corruption_name=d.name)


def _style(d: Distortion, x: np.ndarray, level: int) -> np.ndarray:
    p = d.params[level]
    if d.name in ("brightness", "contrast", "saturation"):
        return dtn.colisa(x, **{d.name: p})
    if d.name == "exposure":
        return dtn.exposure(x, p)
    if d.name == "vibrance":
        return dtn.vibrance(x, p)
    if d.name in ("temperature", "tint"):
        return dtn.white_balance(
            x, *(TEMPERATURE_GAINS if d.name == "temperature" else TINT_GAINS)[p]
        )
    radius = SHADHI_RADIUS * x.shape[1] / SHADHI_REFERENCE_WIDTH
    if d.name == "shadows":
        return dtn.shadhi(x, p, 100.0, radius)
    return dtn.shadhi(x, 50.0, p, radius)


def pillow_composition(
    d: Distortion, x: np.ndarray, level: int, canvas: np.ndarray | None = None
) -> np.ndarray:
    """Pfister's crop / rotate / ratio of frame ``x``; crops and rotations read ``canvas`` (the
    image at 1.5x the frame's short side), by default the frame upscaled 1.5x."""
    frame = Image.fromarray(x)
    h, w = x.shape[:2]
    if d.name == "ratio":
        sh_, sw = ratio_size(h, w, level)
        top, left, _, _ = center_crop_box(sh_, sw, h, w)
        return np.asarray(
            frame.resize((sw, sh_), Image.BILINEAR).crop((left, top, left + w, top + h))
        )
    if canvas is None:
        ch, cw = short_side_size(h, w, round(1.5 * min(h, w)))
        canvas = frame.resize((cw, ch), Image.BILINEAR)
    else:
        canvas = Image.fromarray(canvas)
        cw, ch = canvas.size
    if d.name in CROPS:
        top, left = crop_origin((ch, cw), (h, w), d.name, level)
        return np.asarray(canvas.crop((left, top, left + w, top + h)))
    rotated = canvas.rotate(d.params[level] if level else 0, Image.BICUBIC, True)
    rw, rh = rotated_rect_with_max_area(cw, ch, 10.0)
    top, left, crop_h, crop_w = center_crop_box(rotated.size[1], rotated.size[0], rh, rw)
    cut = rotated.crop((left, top, left + crop_w, top + crop_h))
    rh2, rw2 = short_side_size(crop_h, crop_w, min(h, w))
    cut = cut.resize((rw2, rh2), Image.BILINEAR)
    top, left, _, _ = center_crop_box(rh2, rw2, h, w)
    return np.asarray(cut.crop((left, top, left + w, top + h)))


def _sheng(d: Distortion, x: np.ndarray, level: int, seed: int, partner: np.ndarray) -> np.ndarray:
    p = d.params[level]
    rng = np.random.default_rng(seed)
    h, w = x.shape[:2]
    if d.name == "sheng_jpeg":
        buffer = io.BytesIO()
        Image.fromarray(np.uint8(np.round(x * 255))).save(buffer, "JPEG", quality=p)
        return np.asarray(Image.open(buffer).convert("RGB")) / 255.0
    if d.name == "sheng_gaussian_noise":
        return np.clip(x + rng.normal(0.0, np.sqrt(p), x.shape), 0, 1)
    if d.name == "sheng_rotation":
        return np.rot90(x, p // 90)
    if d.name == "sheng_downsampling":
        im = Image.fromarray(np.uint8(np.round(x * 255)))
        small = im.resize((max(w // p, 1), max(h // p, 1)), Image.BILINEAR)
        return np.asarray(small.resize((w, h), Image.BILINEAR)) / 255.0
    if d.name == "sheng_quantization":
        return np.round(x * (p - 1)) / (p - 1)
    if d.name == "sheng_pixelation":
        out = np.empty_like(x)
        for i in range(0, h, p):
            for j in range(0, w, p):
                out[i : i + p, j : j + p] = x[i : i + p, j : j + p].mean(axis=(0, 1))
        return out
    if d.name == "sheng_exposure":
        return np.clip(x * p, 0, 1)
    if d.name == "sheng_gaussian_blur":
        from scipy.ndimage import gaussian_filter

        sigma = sh.blur_sigma_px(p, h, w)
        return gaussian_filter(x, sigma=(sigma, sigma, 0), mode="mirror", truncate=4.0)
    if d.name == "sheng_patch_shuffle":
        out = x.copy()
        n = sh.SHUFFLE_PATCH
        for i in range(0, h - h % n, n):
            for j in range(0, w - w % n, n):
                if rng.random() < p:
                    tile = out[i : i + n, j : j + n].reshape(n * n, 3)
                    out[i : i + n, j : j + n] = tile[rng.permutation(n * n)].reshape(n, n, 3)
        return out
    return (1.0 - p) * x + p * partner  # sheng_mixup


def apply_reference(
    images: torch.Tensor,
    d: Distortion,
    levels: Sequence[int],
    generator: torch.Generator | None,
    canvases: Sequence[np.ndarray] | None = None,
) -> torch.Tensor:
    """Run the original implementation on each image; ``(B, 3, H, W) -> (B, 3, H, W)``.

    ``canvases`` (8-bit ``(hC, wC, 3)`` arrays, one per image) replace the upscaled frame as the
    source of crops and rotations; :func:`harness.distortions.pfister_batch` passes the original
    resized to 1.5x, as Pfister's code does.
    """
    batch = images.shape[0]
    angles = motion_angles(batch, generator) if d.name == "motion_blur" else [0.0] * batch
    partners = sh.mixup_partners(batch, generator) if d.name == "sheng_mixup" else None
    per_image_seeds = (
        seeds(batch, generator) if d.name not in ("motion_blur", "sheng_mixup") else [0] * batch
    )
    rows = [i for i, level in enumerate(levels) if level != 0]
    out = images.detach().clone()
    if not rows:
        return out
    eight_bit = d.family == "pfister2021" and d.aspect != "style"
    if eight_bit:  # the original tools see round(255 x) and return 8-bit images
        codes = images.detach().mul(255).round_().clamp_(0, 255).to(torch.uint8)
        codes = codes.permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 3)
        results = []
        for i in rows:
            if d.aspect == "technical":
                results.append(_technical(d, codes[i], levels[i], per_image_seeds[i], angles[i]))
            else:
                canvas = canvases[i] if canvases is not None else None
                results.append(pillow_composition(d, codes[i], levels[i], canvas))
        stacked = (
            torch.from_numpy(np.stack(results)).permute(0, 3, 1, 2).to(images.dtype).div_(255.0)
        )
    else:
        floats = images.detach().double().permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 3)
        results = []
        for i in rows:
            if d.family == "sheng2020":
                partner = floats[int(partners[i])] if partners is not None else None
                results.append(
                    np.asarray(_sheng(d, floats[i], levels[i], per_image_seeds[i], partner))
                )
            else:
                results.append(_style(d, floats[i], levels[i]))
        stacked = torch.from_numpy(np.ascontiguousarray(np.stack(results))).permute(0, 3, 1, 2)
    out[rows] = stacked.to(device=images.device, dtype=images.dtype)
    return out
