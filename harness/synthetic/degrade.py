"""Aesthetic degradations of a rendered scene, and how their strengths follow from quality.

The families mirror the distortions of the pretext tasks (Pfister et al. 2021, Table 1): technical
(blur, noise, compression/pixelation), style (exposure, contrast, saturation, colour cast /
temperature-tint) and composition (framing, aspect ratio, tilt), plus palette harmony. Each
image draws, from (seed, index) alone, how susceptible it is to each family -- two to four
dominate, a few others contribute a little, the rest are absent -- and the strength of family f is
``(1 - quality) * weight_f``, so one scene seen at falling quality shows the same degradations
growing.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from PIL import Image

from harness.synthetic.canvas import FLOAT

FAMILIES = ("blur", "noise", "compression", "exposure", "contrast", "saturation", "colour_cast",
            "palette", "framing", "ratio", "tilt")
LUMA = (0.2126, 0.7152, 0.0722)

# Gaussian quantiles for one random byte: N(0, 1) noise from uint8 draws, several times faster than
# standard_normal, and the table is computed once in pure Python, so identical everywhere.
_GAUSS = np.array([statistics.NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)],
                  dtype=FLOAT)
_GAUSS /= _GAUSS.std()


@dataclass(frozen=True)
class Degradations:
    """The degradations planted in one image; all zero (and ``strengths`` all 0) at quality 1.

    Attributes:
        quality: the latent quality in [0, 1].
        strengths: family name -> strength in [0, 1] (``(1 - quality) * weight``), in
            :data:`FAMILIES` order.
        blur_sigma: Gaussian blur, as a fraction of the short side.
        noise_std: sensor-noise standard deviation at mid-grey (image range [0, 1]).
        block_mix: blend towards block means (JPEG-like blockiness / pixelation), in [0, 1].
        exposure_ev: exposure shift in stops (negative = under-exposed).
        contrast: contrast factor around mean luma (< 1 flat, > 1 harsh).
        saturation: saturation factor (< 1 washed out, > 1 oversaturated).
        temperature, tint: colour cast (red-blue and green-magenta gain offsets).
        palette_dull, palette_clash, clash_hue: scene palette made dull / clashing.
        framing: how far the subject moves from its rule-of-thirds point towards
            ``framing_target`` (frame fractions (x, y); the centre, or cut by a border).
        stretch: horizontal stretch (aspect-ratio distortion), 1 for none.
        tilt_deg: camera roll in degrees (rotated, then cropped to fill the frame).
    """

    quality: float
    strengths: tuple[tuple[str, float], ...]
    blur_sigma: float = 0.0
    noise_std: float = 0.0
    block_mix: float = 0.0
    exposure_ev: float = 0.0
    contrast: float = 1.0
    saturation: float = 1.0
    temperature: float = 0.0
    tint: float = 0.0
    palette_dull: float = 0.0
    palette_clash: float = 0.0
    clash_hue: float = 0.0
    framing: float = 0.0
    framing_target: tuple[float, float] = (0.5, 0.5)
    stretch: float = 1.0
    tilt_deg: float = 0.0


def sample_degradations(seed: int, index: int, quality: float) -> Degradations:
    """The degradations of image ``index`` at ``quality``; the random draws ignore ``quality``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 2]))
    n = len(FAMILIES)
    order = rng.permutation(n)
    n_dominant = int(rng.integers(3, 6))
    minor = rng.random(n) < 0.4
    weights = np.where(minor, rng.uniform(0.05, 0.3, n), 0.0)
    weights[order[:n_dominant]] = rng.uniform(0.7, 1.0, n_dominant)
    signs = rng.choice([-1.0, 1.0], size=8)
    extra = rng.random(8)
    s = 1.0 - quality
    x = {name: float(s * w) for name, w in zip(FAMILIES, weights)}

    sat_up = extra[1] < 0.45
    harsh = extra[2] < 0.2
    dull_share = float(extra[3])
    centre = extra[4] < 0.5
    edge = 0.03 if signs[5] < 0 else 0.97
    return Degradations(
        quality=float(quality),
        strengths=tuple(x.items()),
        blur_sigma=0.02 * x["blur"],
        noise_std=0.14 * x["noise"],
        block_mix=0.95 * x["compression"],
        exposure_ev=float(signs[0]) * 1.8 * x["exposure"],
        contrast=(1.0 + 1.2 * x["contrast"]) if harsh else (1.0 - 0.72 * x["contrast"]),
        saturation=(1.0 + 1.8 * x["saturation"]) if sat_up else (1.0 - 0.9 * x["saturation"]),
        temperature=float(signs[1]) * 0.3 * x["colour_cast"],
        tint=float(signs[2]) * 0.15 * x["colour_cast"] * float(extra[5]),
        palette_dull=x["palette"] * dull_share,
        palette_clash=x["palette"] * (1.0 - dull_share),
        clash_hue=float(signs[3] * (100.0 + 60.0 * extra[6])),
        framing=x["framing"],
        framing_target=(0.5, 0.5) if centre else (edge, 0.5 + 0.25 * float(signs[6]) * float(
            extra[7])),
        stretch=(1.0 + 0.35 * x["ratio"]) ** float(signs[4]),
        tilt_deg=float(signs[7]) * 9.0 * x["tilt"],
    )


# ---------------------------------------------------------------------------------------------
# Pixel operations on planar float32 (3, H, W) images in [0, 1].


def luma(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of a planar (3, ...) image (explicit multiply-adds: no BLAS, bit-exact)."""
    y = img[0] * FLOAT(LUMA[0])
    term = img[1] * FLOAT(LUMA[1])
    y += term
    np.multiply(img[2], FLOAT(LUMA[2]), out=term)
    y += term
    return y


def affine_colour(img: np.ndarray, gain, luma_gain, offset) -> np.ndarray:
    """In place: x_c <- gain_c * x_c + luma_gain_c * luma(x) + offset_c (saturation, contrast,
    cast, exposure); returns ``img``."""
    y = luma(img)
    buf = np.empty_like(y)
    for c in range(3):
        img[c] *= FLOAT(gain[c])
        if luma_gain[c] != 0:
            np.multiply(y, FLOAT(luma_gain[c]), out=buf)
            img[c] += buf
        img[c] += FLOAT(offset[c])
    return img


def tilt(img: np.ndarray, degrees: float) -> np.ndarray:
    """Roll the camera by ``degrees`` and zoom in just enough to leave no empty corners."""
    h, w = img.shape[1:]
    th = math.radians(degrees)
    c, s = math.cos(th), math.sin(th)
    zoom = abs(c) + abs(s) * max(w / h, h / w)
    a, b, d, e = c / zoom, -s / zoom, s / zoom, c / zoom
    cx, cy = w / 2.0, h / 2.0
    data = (a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy)
    out = Image.fromarray(to_uint8(img)).transform((w, h), Image.Transform.AFFINE, data,
                                                   resample=Image.Resampling.BILINEAR)
    planar = np.asarray(out).transpose(2, 0, 1).astype(FLOAT)  # (3, H, W)
    planar *= FLOAT(1 / 255)
    return planar


def _box_down(img: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks of the top-left (H // k * k, W // k * k) part of (3, H, W)."""
    h, w = img.shape[1] // k * k, img.shape[2] // k * k
    rows = img[:, 0:h:k, :w].copy()
    for i in range(1, k):
        rows += img[:, i:h:k, :w]
    out = rows[:, :, 0::k].copy()
    for j in range(1, k):
        out += rows[:, :, j::k]
    out *= FLOAT(1.0 / (k * k))
    return out


def _gaussian_small(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a (3, H, W) image for sigma < ~2 px (edge-replicated)."""
    radius = max(1, math.ceil(3.0 * sigma))
    weights = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(radius + 1)]
    total = weights[0] + 2.0 * sum(weights[1:])
    weights = [FLOAT(w / total) for w in weights]
    out = img
    for axis in (1, 2):
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]

        def window(offset: int, padded=padded, axis=axis, n=n) -> np.ndarray:
            index = [slice(None)] * 3
            index[axis] = slice(radius + offset, radius + offset + n)
            return padded[tuple(index)]

        acc = window(0) * weights[0]
        for k in range(1, radius + 1):
            acc += (window(-k) + window(k)) * weights[k]
        out = acc
    return out


def _binomial(img: np.ndarray, sigma: float) -> np.ndarray:
    """In place: blur a (3, H, W) image by sigma < 1 px with passes of the 3-tap kernel
    [w, 1 - 2w, w] (edges replicated), one channel at a time through two reused buffers."""
    passes = 1 if sigma <= 0.7 else 2
    w = FLOAT(sigma * sigma / (2.0 * passes))  # each pass adds variance 2w
    centre = FLOAT(1.0) - FLOAT(2.0) * w
    _, h, n = img.shape
    pad = np.empty((h + 2, n + 2), dtype=FLOAT)
    tmp = np.empty((h, n), dtype=FLOAT)
    for c in range(3):
        x = img[c]
        for _ in range(passes):
            for axis in (0, 1):
                pad[1:-1, 1:-1] = x
                if axis == 0:
                    pad[0, 1:-1], pad[-1, 1:-1] = x[0], x[-1]
                    lo, hi = pad[:-2, 1:-1], pad[2:, 1:-1]
                else:
                    pad[1:-1, 0], pad[1:-1, -1] = x[:, 0], x[:, -1]
                    lo, hi = pad[1:-1, :-2], pad[1:-1, 2:]
                x *= centre
                for side in (lo, hi):
                    np.multiply(side, w, out=tmp)
                    x += tmp
    return img


def _upsample(small: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
    """Bilinear upsampling of (3, h', w') by the integer factor k into ``out`` (3, H, W), with
    pixel centres aligned and edges replicated: one phase of the k output phases at a time, so
    every read is a contiguous slice (no gathers, no PIL round trips)."""
    _, h, w = out.shape
    sp = np.pad(small, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = np.empty((3, h, sp.shape[2]), dtype=FLOAT)
    for axis, src, dst, n in ((1, sp, rows, h), (2, rows, out, w)):
        shape = list(dst.shape)
        shape[axis] = len(range(0, n, k))  # phase 0 is the longest
        buf = np.empty(shape, dtype=FLOAT)
        for r in range(min(k, n)):
            m = len(range(r, n, k))
            t = (r + 0.5) / k - 0.5  # offset of phase r from its source sample
            lo = 1 if t >= 0 else 0
            t = FLOAT(t if t >= 0 else t + 1.0)
            if axis == 1:
                a, b, target = src[:, lo:lo + m], src[:, lo + 1:lo + 1 + m], dst[:, r::k]
                step = buf[:, :m]
            else:
                a, b, target = src[:, :, lo:lo + m], src[:, :, lo + 1:lo + 1 + m], dst[:, :, r::k]
                step = buf[:, :, :m]
            np.subtract(b, a, out=step)  # step = a + (b - a) t
            step *= t
            step += a
            target[...] = step
    return out


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """In place: Gaussian blur of ``sigma`` pixels (approximate: binomial taps below 1 px, else
    a box-downsampled copy, blurred and bilinearly upsampled); returns ``img``."""
    if sigma < 1.0:
        return _binomial(img, sigma)
    k = max(2, int(sigma // 1.2))
    # The box filter and the bilinear upsampling blur too: take their variance off the target.
    residual = math.sqrt(max(sigma**2 - (k * k - 1) / 12.0 - k * k / 6.0, 0.0)) / k
    small = _box_down(img, k)
    if residual >= 1.0:
        small = _gaussian_small(small, residual)
    elif residual >= 0.2:
        small = _binomial(small, residual)
    h, w = img.shape[1:]
    # Replicate the last row / column so the partial blocks at the far edges are covered.
    small = np.pad(small, ((0, 0), (0, -(-h // k) - small.shape[1]), (0, -(-w // k)
                                                                        - small.shape[2])),
                   mode="edge")
    return _upsample(small, k, img)


def add_noise(img: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """In place: signal-dependent sensor noise, std * (0.4 + 0.6 sqrt(luma)), per channel."""
    level = luma(img)
    np.clip(level, 0.0, 1.0, out=level)
    np.sqrt(level, out=level)
    level *= FLOAT(0.6 * std)
    level += FLOAT(0.4 * std)
    noise = np.empty_like(level)
    for c in range(3):
        codes = rng.integers(0, 256, size=level.shape, dtype=np.uint8)
        np.take(_GAUSS, codes, out=noise, mode="clip")  # "clip": no defensive copy
        noise *= level
        img[c] += noise
    return img


def blockify(img: np.ndarray, mix: float, block: int) -> np.ndarray:
    """In place: blend each block x block tile towards its mean (compression / pixelation)."""
    h, w = img.shape[1] // block * block, img.shape[2] // block * block
    if h == 0 or w == 0:
        return img
    means = _box_down(img, block)  # (3, h / block, w / block)
    for c in range(3):
        tiles = img[c, :h, :w].reshape(h // block, block, w // block, block)  # a view into img
        step = means[c][:, None, :, None] - tiles
        step *= FLOAT(mix)
        tiles += step
    return img


def to_uint8(img: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Planar float (3, H, W) -> clipped, rounded, interleaved (H, W, 3) uint8.

    With ``inplace`` the float image is used as scratch space (and left clipped and scaled).
    """
    out = np.clip(img, 0.0, 1.0, out=img if inplace else None)
    out *= FLOAT(255.0)
    out += FLOAT(0.5)
    result = np.empty(img.shape[1:] + (3,), dtype=np.uint8)
    np.copyto(result.transpose(2, 0, 1), out, casting="unsafe")
    return result
