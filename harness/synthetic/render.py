"""Procedural photo-like images with a known latent quality: the pixels of the `synthetic` dataset.

``render(seed, index, quality, height, width)`` draws scene ``index`` of ``seed`` (sky, sun,
clouds, ridges or a skyline, textured ground, background objects and a main subject on a
rule-of-thirds point, in a harmonious palette) and plants aesthetic degradations whose strength
grows as ``quality`` falls from 1 to 0: blur, sensor noise, blockiness, exposure, contrast,
saturation, colour cast, palette, framing, aspect ratio and tilt (see
:mod:`harness.synthetic.degrade`). The scene depends on (seed, index) only, and which
degradations an image suffers on (seed, index) only, so one index rendered at several qualities is
one scene getting worse. ``render(..., quality=1.0, ...)`` equals :func:`render_clean`.

Everything is deterministic: the same arguments give bit-identical pixels in any process on any
machine (NumPy's PCG64 streams keyed by ``SeedSequence([seed, index, stream])``; no BLAS, threads
or SIMD transcendental functions on image arrays).
"""

from __future__ import annotations

import math

import numpy as np

from harness.synthetic.canvas import Camera
from harness.synthetic.degrade import (
    FAMILIES,
    LUMA,
    Degradations,
    add_noise,
    affine_colour,
    blockify,
    blur,
    luma,
    sample_degradations,
    tilt,
    to_uint8,
)
from harness.synthetic.scene import Scene, degrade_palette, draw, sample_scene

__all__ = ["image_size", "render", "render_clean", "degradations", "scene", "Degradations",
           "FAMILIES", "MIN_SIDE"]

MIN_SIDE = 8
# (width / height, probability): landscape 3:2 and 4:3 most common, some portrait, some square,
# a few 16:9 and ~2:1 panoramas; the rest freely cropped.
_ASPECTS = ((3 / 2, 0.30), (4 / 3, 0.22), (2 / 3, 0.12), (3 / 4, 0.08), (1.0, 0.10),
            (16 / 9, 0.05), (2.0, 0.05))
_FREE_CROP = 1.0 - sum(p for _, p in _ASPECTS)
_STREAM_SIZE, _STREAM_NOISE = 5, 3


def _check_ids(seed: int, index: int) -> None:
    if int(seed) != seed or seed < 0 or int(index) != index or index < 0:
        raise ValueError(f"seed and index must be non-negative integers, got seed={seed!r}, "
                         f"index={index!r}")


def _check_size(height: int, width: int) -> None:
    if int(height) != height or int(width) != width or min(height, width) < MIN_SIDE:
        raise ValueError(f"image size must be integers of at least {MIN_SIDE} pixels, got "
                         f"{height!r} x {width!r}")


def image_size(seed: int, index: int, min_side: int, max_side: int) -> tuple[int, int]:
    """(height, width) of image ``index``: a photo-like aspect ratio, long side in the bounds.

    Landscape 3:2 and 4:3 are most common, then portrait 2:3 / 3:4 and square, a few 16:9 and
    ~2:1 panoramas, and some free crops (width/height log-uniform in [0.6, 1.8]). The long side is
    uniform in [min_side, max_side]; the short side is at least :data:`MIN_SIDE`. Deterministic
    in (seed, index).
    """
    _check_ids(seed, index)
    if not MIN_SIDE <= min_side <= max_side:
        raise ValueError(f"need {MIN_SIDE} <= min_side <= max_side, got min_side={min_side!r}, "
                         f"max_side={max_side!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, _STREAM_SIZE]))
    choice = int(rng.choice(len(_ASPECTS) + 1, p=[p for _, p in _ASPECTS] + [_FREE_CROP]))
    if choice < len(_ASPECTS):
        ratio = _ASPECTS[choice][0]
    else:
        ratio = math.exp(float(rng.uniform(math.log(0.6), math.log(1.8))))
    long_side = int(rng.integers(min_side, max_side + 1))
    short_side = max(MIN_SIDE, int(round(long_side / max(ratio, 1 / ratio))))
    return (short_side, long_side) if ratio >= 1 else (long_side, short_side)


def scene(seed: int, index: int, height: int, width: int) -> Scene:
    """The scene description of image ``index`` (kind, sky, palette, layout) for this frame."""
    _check_ids(seed, index)
    return sample_scene(int(seed), int(index), width / height)


def degradations(seed: int, index: int, quality: float) -> Degradations:
    """The degradation parameters :func:`render` plants in image ``index`` at ``quality``."""
    _check_ids(seed, index)
    q = float(quality)
    if not 0.0 <= q <= 1.0:  # also rejects NaN
        raise ValueError(f"quality must be in [0, 1], got {quality!r}")
    return sample_degradations(int(seed), int(index), q)


def _camera(sc: Scene, deg: Degradations, aspect: float) -> Camera:
    """Pan the camera so the subject moves ``framing`` of the way to its bad spot."""
    if deg.framing <= 0 and deg.stretch == 1.0:
        return Camera()
    _, cu, cv, _ = sc.subject
    tu, tv = deg.framing_target
    return Camera(pan_u=deg.framing * (cu - tu * aspect), pan_v=deg.framing * (cv - tv),
                  stretch=deg.stretch)


def _tone(img: np.ndarray, sc: Scene, exposure_ev: float) -> np.ndarray:
    """Normalise a raw scene to its target exposure, contrast and colourfulness, then expose.

    Clean scenes share a narrow band of mean luma, luma spread and chroma, so exposure, contrast
    and saturation errors stand out against it. Statistics come from a strided subsample.
    """
    step = max(1, min(img.shape[1:]) // 64)
    sub = img[:, ::step, ::step].astype(np.float64)
    y = sub[0] * LUMA[0] + sub[1] * LUMA[1] + sub[2] * LUMA[2]
    mean, std = float(y.mean()), float(y.std())
    chroma = float((sub.max(axis=0) - sub.min(axis=0)).mean())
    t_mean, t_std, t_chroma = sc.tone
    g = min(max(t_std / max(std, 1e-3), 0.6), 1.6)
    k = min(max(t_chroma / max(chroma * g, 1e-3), 0.6), 1.6)
    gain = 2.0 ** exposure_ev
    # out = gain * (t_mean + g (y - mean) + k g (x - y))
    return affine_colour(img, [gain * k * g] * 3, [gain * (g - k * g)] * 3,
                         [gain * (t_mean - g * mean)] * 3)


def render(seed: int, index: int, quality: float, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8 RGB image ``index`` of ``seed`` at latent ``quality``.

    Args:
        seed: dataset seed (non-negative integer).
        index: image number (non-negative integer); with ``seed`` it fixes the scene and which
            degradations the image is prone to.
        quality: in [0, 1]; 1 is clean, well exposed and well composed, lower plants
            proportionally stronger degradations.
        height, width: output size in pixels (each at least :data:`MIN_SIDE`).

    Returns:
        A C-contiguous uint8 array, bit-identical for identical arguments.
    """
    deg = degradations(seed, index, quality)
    _check_size(height, width)
    height, width = int(height), int(width)
    sc = sample_scene(int(seed), int(index), width / height)
    palette = None
    if deg.palette_dull > 0 or deg.palette_clash > 0:
        palette = degrade_palette(sc.palette, deg.palette_dull, deg.palette_clash, deg.clash_hue)
    img = draw(sc, height, width, _camera(sc, deg, width / height), palette)
    img = _tone(img, sc, deg.exposure_ev)
    np.clip(img, 0.0, 1.0, out=img)  # the sensor clips (over-exposure blows highlights)

    if abs(deg.tilt_deg) >= 0.2:
        img = tilt(img, deg.tilt_deg)
    sigma = deg.blur_sigma * min(height, width)
    if sigma >= 0.3:
        img = blur(img, sigma)
    if deg.contrast != 1.0 or deg.saturation != 1.0 or deg.temperature or deg.tint:
        c, s = deg.contrast, deg.saturation
        cast = np.array([1.0 + deg.temperature, 1.0 + deg.tint, 1.0 - deg.temperature])
        cast /= cast[0] * LUMA[0] + cast[1] * LUMA[1] + cast[2] * LUMA[2]  # keep brightness
        mean = float(luma(img[:, ::4, ::4]).mean())
        img = affine_colour(img, cast * c * s, cast * c * (1.0 - s), cast * (1.0 - c) * mean)
    if deg.noise_std > 0.002:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), _STREAM_NOISE]))
        img = add_noise(img, deg.noise_std, rng)
    if deg.block_mix > 0.02:
        img = blockify(img, deg.block_mix, max(2, round(min(height, width) / 32)))
    return to_uint8(img, inplace=True)


def render_clean(seed: int, index: int, height: int, width: int) -> np.ndarray:
    """The scene of image ``index`` before any degradation: ``render`` at quality 1.

    Pfister et al. 2021 distort "highly aesthetic" images for their pretext tasks; these are the
    synthetic stand-in.
    """
    return render(seed, index, 1.0, height, width)
