"""Straightforward NumPy versions of the darktable modules, one ``(H, W, 3)`` image at a time.

The ``reference`` backend of the style filters. They transcribe darktable 4.2's per-pixel loops
(``src/iop/colisa.c``, ``vibrance.c``, ``exposure.c``, ``temperature.c``, ``shadhi.c`` and the
recursive Gaussian of ``src/common/gaussian.c``) with plain loops/arrays in float64, independently
of the batched tensor versions in :mod:`harness.distortions.style`; docs/distortions.md reports
both against darktable-cli renders.
"""

from __future__ import annotations

import math

import numpy as np

from harness.distortions.colour import D50, EPSILON, KAPPA, SRGB_TO_XYZ_D50

_M = np.asarray(SRGB_TO_XYZ_D50)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """Encoded sRGB ``(H, W, 3)`` in [0, 1] -> Lab relative to D50."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / np.asarray(D50)
    f = np.where(xyz > EPSILON, np.cbrt(xyz), (KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab (D50) -> encoded sRGB clipped to [0, 1]."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f**3 > EPSILON, f**3, (116 * f - 16) / KAPPA) * np.asarray(D50)
    lin = np.clip(xyz @ np.linalg.inv(_M).T, 0, None)
    rgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(rgb, 0, 1)


def colisa(
    rgb: np.ndarray, contrast: float = 0.0, brightness: float = 0.0, saturation: float = 0.0
) -> np.ndarray:
    """darktable colisa: contrast curve, brightness gamma on L; a, b scaled by saturation + 1."""
    lab = to_lab(rgb)
    light = np.clip(lab[..., 0], 0, 100)
    c, b, s = contrast + 1.0, 2.0 * brightness, saturation + 1.0
    if c <= 1.0:
        light = c * (light - 50.0) + 50.0
    else:
        k = 20.0 * (c - 1.0) ** 2
        x = 2.0 * light / 100.0 - 1.0
        light = 50.0 * (math.sqrt(1.0 + k) * x / np.sqrt(1.0 + k * x * x) + 1.0)
    gamma = 1.0 / (1.0 + b) if b >= 0 else 1.0 - b
    light = 100.0 * np.power(np.clip(light, 0, None) / 100.0, gamma)
    return to_rgb(np.stack([light, lab[..., 1] * s, lab[..., 2] * s], axis=-1))


def vibrance(rgb: np.ndarray, amount: float) -> np.ndarray:
    """darktable vibrance: saturation weight sqrt(a² + b²)/256 scales chroma up, L down."""
    lab = to_lab(rgb)
    sw = np.sqrt(lab[..., 1] ** 2 + lab[..., 2] ** 2) / 256.0
    ls, ss = 1.0 - amount / 100.0 * sw * 0.25, 1.0 + amount / 100.0 * sw
    return to_rgb(np.stack([lab[..., 0] * ls, lab[..., 1] * ss, lab[..., 2] * ss], axis=-1))


def exposure(rgb: np.ndarray, ev: float) -> np.ndarray:
    """darktable exposure on a display-referred input: encoded values times 2^EV, clipped."""
    return np.clip(rgb * 2.0**ev, 0, 1)


def white_balance(rgb: np.ndarray, red: float, blue: float) -> np.ndarray:
    """darktable temperature on a non-raw input: channel gains (red, 1, blue), clipped."""
    return np.clip(rgb * np.asarray([red, 1.0, blue]), 0, 1)


def recursive_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """darktable ``dt_gaussian_blur`` (order 0, unclamped): causal + anti-causal IIR passes down
    the columns, then along the rows. ``(H, W) -> (H, W)``."""
    alpha = 1.695 / sigma
    ema, ema2 = math.exp(-alpha), math.exp(-2.0 * alpha)
    b1, b2 = -2.0 * ema, ema2
    k = (1.0 - ema) ** 2 / (1.0 + 2.0 * alpha * ema - ema2)
    a0, a1, a2, a3 = k, k * (alpha - 1.0) * ema, k * (alpha + 1.0) * ema, -k * ema2
    coefp, coefn = (a0 + a1) / (1.0 + b1 + b2), (a2 + a3) / (1.0 + b1 + b2)

    def columns(x: np.ndarray) -> np.ndarray:  # filter along axis 0, all columns at once
        out = np.empty_like(x)
        xp = x[0].copy()
        yb = yp = coefp * xp
        for j in range(x.shape[0]):
            yc = a0 * x[j] + a1 * xp - b1 * yp - b2 * yb
            out[j] = yc
            xp, yb, yp = x[j], yp, yc
        xn = xa = x[-1].copy()
        yn = ya = coefn * xn
        for j in range(x.shape[0] - 1, -1, -1):
            yc = a2 * xn + a3 * xa - b1 * yn - b2 * ya
            xa, xn, ya, yn = xn, x[j], yn, yc
            out[j] += yc
        return out

    return columns(columns(image).T).T


def shadhi(
    rgb: np.ndarray,
    shadows: float,
    highlights: float,
    radius: float,
    compress: float = 50.0,
    shadows_ccorrect: float = 100.0,
    highlights_ccorrect: float = 50.0,
) -> np.ndarray:
    """darktable shadhi (gaussian, flags 127 = unbounded): highlights pass, then shadows pass."""
    lab = to_lab(rgb)
    tb = (100.0 - recursive_gaussian(lab[..., 0], radius)) / 100.0
    light, a, b = lab[..., 0] / 100.0, lab[..., 1] / 128.0, lab[..., 2] / 128.0
    sh = 2.0 * min(max(shadows / 100.0, -1.0), 1.0)
    hi = 2.0 * min(max(highlights / 100.0, -1.0), 1.0)
    comp = min(max(compress / 100.0, 0.0), 0.99)

    def sign(v):
        return np.where(np.asarray(v) < 0, -1.0, 1.0)

    sh_cc = (min(max(shadows_ccorrect / 100.0, 0.0), 1.0) - 0.5) * float(sign(sh)) + 0.5
    hi_cc = (min(max(highlights_ccorrect / 100.0, 0.0), 1.0) - 0.5) * float(sign(-hi)) + 0.5
    passes = [
        (hi * hi, np.clip(1.0 - tb / (1.0 - comp), 0, 1), float(sign(-hi)), True),
        (sh * sh, np.clip(tb / (1.0 - comp) - comp / (1.0 - comp), 0, 1), float(sign(sh)), False),
    ]
    for amount2, xform, direction, is_high in passes:
        while amount2 > 0.0:
            la = light
            lb = (tb - 0.5) * direction * sign(1.0 - la) + 0.5
            lref = np.copysign(
                np.where(np.abs(la) > 1e-6, 1.0 / np.maximum(np.abs(la), 1e-6), 1e6), la
            )
            href = np.copysign(
                np.where(np.abs(1 - la) > 1e-6, 1.0 / np.maximum(np.abs(1 - la), 1e-6), 1e6), 1 - la
            )
            optrans = min(amount2, 1.0) * xform
            amount2 -= 1.0
            light = (
                la * (1 - optrans)
                + np.where(la > 0.5, 1 - (1 - 2 * (la - 0.5)) * (1 - lb), 2 * la * lb) * optrans
            )
            if is_high:
                factor = light * lref * (1 - hi_cc) + (1 - light) * href * hi_cc
            else:
                factor = light * lref * sh_cc + (1 - light) * href * (1 - sh_cc)
            a = a * (1 - optrans) + a * factor * optrans
            b = b * (1 - optrans) + b * factor * optrans
    return to_rgb(np.stack([light * 100.0, a * 128.0, b * 128.0], axis=-1))
