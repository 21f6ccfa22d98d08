"""sRGB <-> CIE Lab (D50) as darktable computes it, for batched tensors ``(B, 3, H, W)``.

darktable's Lab modules (colisa, vibrance, shadhi) see the image in CIE Lab relative to D50: the
sRGB input profile linearises with the sRGB transfer curve (IEC 61966-2-1), maps to XYZ with the
Bradford-adapted sRGB matrix (the ICC sRGB profile's D50 matrix) and applies the CIE Lab
function with ε = 216/24389, κ = 24389/27 (darktable ``common/colorspaces_inline_conversions.h``).
kornia's ``rgb_to_lab`` uses a D65 white, so its a/b differ from darktable's; this module is the
D50 variant. Rendered against darktable-cli 4.2, a round trip through these functions plus a
colisa edit matches darktable's 8-bit output to ≈ 60 dB (docs/distortions.md).
"""

from __future__ import annotations

import torch

#: Linear sRGB -> XYZ relative to D50 (Bradford-adapted; rows X, Y, Z).
SRGB_TO_XYZ_D50 = (
    (0.4360747, 0.3850649, 0.1430804),
    (0.2225045, 0.7168786, 0.0606169),
    (0.0139322, 0.0971045, 0.7141733),
)
#: The D50 white point (X, Y, Z) darktable normalises by.
D50 = (0.9642, 1.0, 0.8249)
EPSILON = 216.0 / 24389.0
KAPPA = 24389.0 / 27.0


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The sRGB decoding curve, elementwise."""
    curve = x.clamp_min(0.04045).add_(0.055).div_(1.055).pow_(2.4)
    return torch.where(x <= 0.04045, x / 12.92, curve)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """The sRGB encoding curve, elementwise (input clipped below at 0)."""
    curve = x.clamp_min(0.0031308).pow_(1 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(x <= 0.0031308, x.clamp_min(0.0) * 12.92, curve)


def _matrix(like: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    m = torch.tensor(SRGB_TO_XYZ_D50, dtype=torch.float64)
    m = m / torch.tensor(D50, dtype=torch.float64)[:, None]  # fold the white into the matrix
    if inverse:
        m = torch.linalg.inv(m)
    return m.to(device=like.device, dtype=like.dtype)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > EPSILON, t.clamp_min(EPSILON).pow_(1 / 3), (KAPPA * t + 16) / 116)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    t3 = t * t * t
    return torch.where(t3 > EPSILON, t3, (116 * t - 16) / KAPPA)


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Encoded sRGB in [0, 1] -> Lab (L in [0, 100]); ``(B, 3, H, W) -> (B, 3, H, W)``."""
    xyz = torch.einsum("ij,bjhw->bihw", _matrix(rgb), srgb_to_linear(rgb))  # (B, 3, H, W), X/Xw..
    fx, fy, fz = _f(xyz).unbind(1)  # each (B, H, W)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=1)


def lab_to_srgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> encoded sRGB, clipped to [0, 1] per channel as an 8-bit export does."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack((fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200), dim=1)  # (B, 3, H, W)
    lin = torch.einsum("ij,bjhw->bihw", _matrix(lab, inverse=True), _f_inv(f))
    return linear_to_srgb(lin).clamp_(0.0, 1.0)
