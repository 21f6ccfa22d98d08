"""The quantised ab colour space of Zhang, Isola & Efros, *Colorful Image Colorization*, ECCV 2016:
in-gamut bins of a 10-unit grid, soft-encoding of ab values (§2.1), the smoothed empirical colour
prior and the class-rebalancing weights (§2.2, Eq. 3-4).

CIE Lab is kornia's (sRGB, D65 / 2° white): L in [0, 100], a and b roughly in [-110, 110].

**The in-gamut rule.** A grid centre ``(10 i, 10 j)`` is a bin when at least one 8-bit sRGB colour
has it as its nearest grid centre. The set is computed from the 6 x 256^2 colours on the faces of
the RGB cube: the ab projection of the colour cube is the projection of its surface, and
``tests/plugins/test_pretext_colorization.py`` checks that random interior colours fall in the same
set. This rule gives **Q = 261** bins. Zhang et al.'s ``pts_in_hull.npy`` has 313 points ("we
keep the Q = 313 values which are in-gamut"); their rule is not stated, and is more generous than
any gamut test of kornia's Lab we tried (bin centres in gamut for some L: 229; centres within 10
units of a colour: 290). Bins no colour can reach never receive a target, so their absence does
not change what the network learns.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from kornia.color import rgb_to_lab

#: ab grid spacing (Zhang et al. §2.1: "We quantize the ab output space into bins with grid size
#: 10").
GRID = 10.0


@lru_cache(maxsize=4)
def _gamut_bins(grid: float) -> torch.Tensor:
    levels = torch.arange(256, dtype=torch.float64) / 255
    u, v = (t.flatten() for t in torch.meshgrid(levels, levels, indexing="ij"))  # (65536,) each
    faces = []
    for value in (0.0, 1.0):
        c = torch.full_like(u, value)
        faces += [torch.stack([c, u, v]), torch.stack([u, c, v]), torch.stack([u, v, c])]
    rgb = torch.cat(faces, dim=1)[None, :, :, None]  # (1, 3, 6 * 65536, 1)
    ab = rgb_to_lab(rgb)[0, 1:, :, 0].T  # (6 * 65536, 2)
    cells = torch.unique(torch.round(ab / grid), dim=0)  # (Q, 2), sorted by a then b
    return (cells * grid).float()


def gamut_bins(grid: float = GRID) -> torch.Tensor:
    """The in-gamut bin centres of the ab grid (the rule in the module docstring).

    Returns:
        (Q, 2) float32 (a, b) centres, sorted by a then b; Q = 261 for the 10-unit grid.
    """
    return _gamut_bins(float(grid)).clone()


def nearest_bin(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin centre: (N, 2) ab values, (Q, 2) centres -> (N,) long."""
    return torch.cdist(ab.float(), centres.float()).argmin(dim=1)


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = 5, sigma: float = 5.0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-encoding of ground-truth colours (§2.1): "we find the 5-nearest neighbors to Y_{h,w} in
    the output space and weight them proportionally to their distance from the ground truth using a
    Gaussian kernel with σ = 5" (the authors' training layer uses 10 neighbours).

    Args:
        ab: (N, 2) ground-truth ab values.
        centres: (Q, 2) bin centres.
        k: neighbours per value.
        sigma: kernel width in ab units.
    Returns:
        index (N, k) of the k nearest bins, nearest first, and weight (N, k) = exp(-d^2 / 2σ^2)
        normalised to sum to 1 per row: the non-zero entries of the target Z_{h,w}.
    """
    dist2 = torch.cdist(ab.float(), centres.float()).pow(2)  # (N, Q)
    nearest, index = dist2.topk(k, dim=1, largest=False)  # (N, k) each, ascending distance
    weight = torch.exp(-(nearest - nearest[:, :1]) / (2 * sigma**2))  # shifted: no underflow
    return index, weight / weight.sum(dim=1, keepdim=True)


def densify(index: torch.Tensor, weight: torch.Tensor, q: int) -> torch.Tensor:
    """The dense (N, Q) distributions of a sparse soft-encoding (N, k)."""
    return torch.zeros(len(index), q, dtype=weight.dtype, device=weight.device).scatter_(
        1, index, weight)


def decode_mean(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The expectation of a distribution over bins, ``sum_q Z_q c_q``: (N, Q) -> (N, 2) ab."""
    return z @ centres.to(z.dtype)


def smoothed_prior(counts: torch.Tensor, centres: torch.Tensor, sigma: float = 5.0
                   ) -> torch.Tensor:
    """The empirical colour prior p̃ (§2.2): "We estimate the empirical probability of colors in
    the quantized ab space p ∈ Δ^Q from the full ImageNet training set and smooth the distribution
    with a Gaussian kernel G_σ" (σ = 5). Each bin's count is spread over the in-gamut bins with
    weights exp(-d^2 / 2σ^2), normalised per source bin so no mass leaves the gamut.

    Args:
        counts: (Q,) how many ground-truth pixels fell nearest to each bin.
        centres: (Q, 2) bin centres.
        sigma: kernel width in ab units; 0 means no smoothing.
    Returns:
        (Q,) probabilities summing to 1.
    """
    counts = counts.double()
    if counts.sum() <= 0:
        raise ValueError("the colour prior needs at least one pixel")
    if sigma > 0:
        kernel = torch.exp(-torch.cdist(centres.double(), centres.double()).pow(2)
                           / (2 * sigma**2))  # (Q, Q), symmetric
        counts = kernel @ (counts / kernel.sum(dim=0))  # column r spreads bin r's count
    return (counts / counts.sum()).float()


def rebalance_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Class-rebalancing weights, Eq. (4): ``w ∝ ((1 - λ) p̃ + λ / Q)^-1`` with ``E_p̃[w] =
    sum_q p̃_q w_q = 1``; "λ = 1/2 ... worked well".

    Args:
        prior: (Q,) the smoothed empirical prior p̃.
        lam: λ, the weight of the uniform distribution in the mixture.
    Returns:
        (Q,) weights.
    """
    if not 0 < lam <= 1:
        raise ValueError(f"rebalancing λ must lie in (0, 1], got {lam}")
    prior = prior.double()
    weights = 1.0 / ((1 - lam) * prior + lam / len(prior))  # (Q,)
    return (weights / (prior * weights).sum()).float()
