"""Style distortions of Pfister et al. [0]: the darktable modules their XMP sidecars drive.

Pfister et al. rendered every style edit with ``darktable-cli`` on the original JPEG, one module
per render (``darktable_xmp/*.xmp``, ``edit_image.py``). These are the modules' formulas
(darktable [1] ``src/iop/colisa.c``, ``vibrance.c``, ``exposure.c``, ``temperature.c``,
``shadhi.c``), batched over ``(B, 3, H, W)`` with one parameter per sample. Measured against
darktable-cli 4.2 renders of the same sidecars they agree to ~60 dB (docs/distortions.md).

On a JPEG/PNG input darktable applies ``exposure`` and ``temperature`` before the input colour
profile, i.e. to the *encoded* sRGB values, and clips at export; the Lab modules run in CIE Lab
(D50) between the input and output profiles (:mod:`harness.distortions.colour`).

[0] Pfister et al., CVPRW 2021, Table 1 (style aspect).
[1] darktable 4.2, https://github.com/darktable-org/darktable.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from harness.distortions.colour import lab_to_srgb, srgb_to_lab

#: Shadhi's radius (px) in Pfister's sidecars, and the width it applied at: the pexels originals
#: were downloaded 1000 px wide (``dataset/download_pexels.sh``: ``?w=1000``). The fast and
#: reference ops scale the radius to the processed width: ``sigma = 100 * W / 1000``.
SHADHI_RADIUS = 100.0
SHADHI_REFERENCE_WIDTH = 1000.0


def _col(values, like: torch.Tensor) -> torch.Tensor:
    """``(B,)`` values as a ``(B, 1, 1)`` tensor on ``like``'s device and dtype."""
    return torch.as_tensor(values, dtype=like.dtype).to(like.device).view(-1, 1, 1)


def colisa(images: torch.Tensor, contrast, brightness, saturation) -> torch.Tensor:
    """darktable ``colisa`` (contrast, brightness, saturation in [-1, 1]; all 0 is the identity).

    With c = contrast + 1, b = 2 brightness, s = saturation + 1 (``commit_params``), on Lab:
    contrast L' = c (L - 50) + 50 for c <= 1, else with x = 2 L/100 - 1, k = 20 (c - 1)^2:
    L' = 50 (1 + sqrt(1 + k) x / sqrt(1 + k x^2)); brightness L'' = 100 (L'/100)^g with
    g = 1/(1 + b) for b >= 0 else 1 - b; saturation a, b <- s a, s b.
    """
    lab = srgb_to_lab(images)
    light = lab[:, 0].clamp(0.0, 100.0)  # (B, H, W); the module's LUT covers [0, 100)
    if any(contrast):  # each part is skipped when it is the identity for the whole batch
        c = _col(contrast, light) + 1.0
        k = 20.0 * (c - 1.0) ** 2
        x = 2.0 * light / 100.0 - 1.0
        sigmoid = 50.0 * (1.0 + torch.sqrt(1.0 + k) * x / torch.sqrt(1.0 + k * x * x))
        light = torch.where(c <= 1.0, c * (light - 50.0) + 50.0, sigmoid)
    if any(brightness):
        b = 2.0 * _col(brightness, light)
        gamma = torch.where(b >= 0, 1.0 / (1.0 + b.clamp_min(0.0)), 1.0 - b)
        light = 100.0 * (light.clamp_min(0.0) / 100.0) ** gamma
    s = _col(saturation, light) + 1.0
    chroma = lab[:, 1:] * s.unsqueeze(1) if any(saturation) else lab[:, 1:]
    return lab_to_srgb(torch.cat((light.unsqueeze(1), chroma), dim=1))


def exposure(images: torch.Tensor, ev) -> torch.Tensor:
    """darktable ``exposure`` (black 0): ``x * 2^EV`` on the encoded values, clipped."""
    return (images * torch.exp2(_col(ev, images)).unsqueeze(1)).clamp_(0.0, 1.0)


def white_balance(images: torch.Tensor, red_gain, blue_gain) -> torch.Tensor:
    """darktable ``temperature`` on a non-raw image: encoded RGB times (R, 1, B), clipped."""
    ones = torch.ones(len(red_gain))
    gains = torch.stack(
        (
            torch.as_tensor(red_gain, dtype=torch.float64),
            ones.double(),
            torch.as_tensor(blue_gain, dtype=torch.float64),
        ),
        dim=1,
    )  # (B, 3)
    gains = gains.to(device=images.device, dtype=images.dtype).view(-1, 3, 1, 1)
    return (images * gains).clamp_(0.0, 1.0)


def vibrance(images: torch.Tensor, amount) -> torch.Tensor:
    """darktable ``vibrance``: with a = amount/100 and w = sqrt(a*^2 + b*^2)/256,
    L <- L (1 - a w / 4) and (a*, b*) <- (a*, b*) (1 + a w)."""
    lab = srgb_to_lab(images)
    amt = _col(amount, lab[:, 0]) / 100.0
    weight = torch.sqrt(lab[:, 1] ** 2 + lab[:, 2] ** 2) / 256.0  # (B, H, W)
    chroma = 1.0 + amt * weight
    return lab_to_srgb(
        torch.stack(
            (lab[:, 0] * (1.0 - 0.25 * amt * weight), lab[:, 1] * chroma, lab[:, 2] * chroma), dim=1
        )
    )


@lru_cache(maxsize=64)
def iir_gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """darktable's recursive Gaussian (``dt_gaussian_blur``, order 0) along one axis of length
    ``size`` as a ``(size, size)`` matrix: ``out = M @ signal``.

    Deriche-style coefficients with alpha = 1.695 / sigma; the causal pass starts from the
    first sample held constant (``coefp``), the anti-causal pass from the last (``coefn``). The
    filter is linear, so running it over the identity's columns gives its matrix exactly.
    """
    alpha = 1.695 / sigma
    ema, ema2 = math.exp(-alpha), math.exp(-2.0 * alpha)
    b1, b2 = -2.0 * ema, ema2
    k = (1.0 - ema) ** 2 / (1.0 + 2.0 * alpha * ema - ema2)
    a0, a1, a2, a3 = k, k * (alpha - 1.0) * ema, k * (alpha + 1.0) * ema, -k * ema2
    coefp, coefn = (a0 + a1) / (1.0 + b1 + b2), (a2 + a3) / (1.0 + b1 + b2)
    eye = np.eye(size)
    out = np.zeros((size, size))
    xp = eye[0]
    yb = yp = xp * coefp
    for j in range(size):  # causal pass, all impulses at once
        yc = a0 * eye[j] + a1 * xp - b1 * yp - b2 * yb
        out[j] = yc
        xp, yb, yp = eye[j], yp, yc
    xn = xa = eye[size - 1]
    yn = ya = xn * coefn
    for j in range(size - 1, -1, -1):  # anti-causal pass
        yc = a2 * xn + a3 * xa - b1 * yn - b2 * ya
        xa, xn, ya, yn = xn, eye[j], yn, yc
        out[j] += yc
    out.setflags(write=False)
    return out


def _overlay(light, a, b, amount2, xform, direction, colour_weight, highlights: bool):
    """One shadhi pass (``process``): blend L toward the overlay of L and the inverted blurred
    mask in chunks of at most 1 of ``amount^2``; a, b follow the luminance ratio."""
    low = 1e-6  # the sidecars' ``low_approximation``
    rounds = math.ceil(float(amount2.max())) if amount2.numel() else 0
    for j in range(rounds):
        la = light
        sign_la = torch.where(1.0 - la < 0, -1.0, 1.0)
        lb = (xform["mask"] - 0.5) * direction * sign_la + 0.5
        lref = torch.copysign(1.0 / la.abs().clamp_min(low), la)
        href = torch.copysign(1.0 / (1.0 - la).abs().clamp_min(low), 1.0 - la)
        optrans = (amount2 - j).clamp(0.0, 1.0) * xform["weight"]
        overlay = torch.where(la > 0.5, 1.0 - (1.0 - 2.0 * (la - 0.5)) * (1.0 - lb), 2.0 * la * lb)
        light = la * (1.0 - optrans) + overlay * optrans
        if highlights:
            factor = light * lref * (1.0 - colour_weight) + (1.0 - light) * href * colour_weight
        else:
            factor = light * lref * colour_weight + (1.0 - light) * href * (1.0 - colour_weight)
        a = a * (1.0 - optrans) + a * factor * optrans
        b = b * (1.0 - optrans) + b * factor * optrans
    return light, a, b


def shadhi(
    images: torch.Tensor,
    shadows,
    highlights,
    radius: float | None = None,
    compress: float = 50.0,
    shadows_ccorrect: float = 100.0,
    highlights_ccorrect: float = 50.0,
) -> torch.Tensor:
    """darktable ``shadhi`` (shadows and highlights, gaussian, unbounded flags 127).

    ``shadows``/``highlights`` are per-sample module values in [-100, 100]; ``radius`` is the
    blur sigma in pixels (default ``100 * W / 1000``, see :data:`SHADHI_REFERENCE_WIDTH`). The
    highlights pass runs first, then the shadows pass, as in the module.
    """
    height, width = images.shape[-2:]
    sigma = radius if radius is not None else SHADHI_RADIUS * width / SHADHI_REFERENCE_WIDTH
    lab = srgb_to_lab(images)
    rows = torch.tensor(iir_gaussian_matrix(height, float(sigma)), dtype=lab.dtype)
    cols = torch.tensor(iir_gaussian_matrix(width, float(sigma)), dtype=lab.dtype)
    blurred = rows.to(lab.device) @ lab[:, 0] @ cols.to(lab.device).T  # (B, H, W)
    mask = (100.0 - blurred) / 100.0  # inverted, desaturated blur, scaled like L
    light, a, b = lab[:, 0] / 100.0, lab[:, 1] / 128.0, lab[:, 2] / 128.0
    sh = 2.0 * (_col(shadows, light) / 100.0).clamp(-1.0, 1.0)
    hi = 2.0 * (_col(highlights, light) / 100.0).clamp(-1.0, 1.0)
    comp = min(max(compress / 100.0, 0.0), 0.99)
    sign_sh = torch.where(sh < 0, -1.0, 1.0)
    sign_neg_hi = torch.where(-hi < 0, -1.0, 1.0)
    sh_cc = (min(max(shadows_ccorrect / 100.0, 0.0), 1.0) - 0.5) * sign_sh + 0.5
    hi_cc = (min(max(highlights_ccorrect / 100.0, 0.0), 1.0) - 0.5) * sign_neg_hi + 0.5
    hi_weight = (1.0 - mask / (1.0 - comp)).clamp(0.0, 1.0)
    light, a, b = _overlay(
        light,
        a,
        b,
        hi * hi,
        {"mask": mask, "weight": hi_weight},
        sign_neg_hi,
        hi_cc,
        highlights=True,
    )
    sh_weight = (mask / (1.0 - comp) - comp / (1.0 - comp)).clamp(0.0, 1.0)
    light, a, b = _overlay(
        light, a, b, sh * sh, {"mask": mask, "weight": sh_weight}, sign_sh, sh_cc, highlights=False
    )
    return lab_to_srgb(torch.stack((light * 100.0, a * 128.0, b * 128.0), dim=1))
