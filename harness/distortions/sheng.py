"""Sheng et al. [0]: ten editing operations, 21 parameterised edits, 22 classes with *None*.

The degradation-identification task (Eq. 1) classifies which of the 22 classes was applied; the
triplet task (Eq. 2) compares the two parameters of one operation (not rotation or exposure).
No code was published, so where Table 1's unit is ambiguous this module chooses and
docs/distortions.md records the choice:

- Gaussian noise ``{0.2, 0.8}``: the *variance* of additive noise on [0, 1] intensities (the
  ``var`` of ``skimage.util.random_noise``), i.e. sigma = sqrt(var); then clip.
- Gaussian blur ``{0.2, 0.8}``: sigma in *percent of the image's short side* (0.45 and 1.8 px on
  Sheng's 227-px patches). Read as pixels, sigma = 0.2 px changes no pixel by 1/255 — the class
  would be indistinguishable from *None*. :func:`gaussian_blur` takes sigma in pixels.
- Colour quantisation ``{64, 8}``: uniform levels per channel, ``round(x (n-1)) / (n-1)``.
- Patch shuffle ``{0.1, 0.5}`` (Kang et al. [1]): the image is tiled into 2x2 patches (Kang's
  patch size) and each patch, independently with that probability, has its pixels permuted.
- Mixup ``{0.1, 0.4}``: ``(1 - a) x + a x_other`` where ``x_other`` is another sample of the same
  batch (sample ``i`` is mixed with sample ``(i + r) mod B``, one random ``r`` in 1..B-1 per call).
- Rotation: counter-clockwise by 90/180/270 (``torch.rot90``); 90 and 270 need square images.
- Downsampling: antialiased bilinear down to ``floor(size / f)``, bilinear back up.
- Exposure: intensities times the factor, clipped.

[0] Sheng, Dong, Chai, Wang, Huang, Hu. Revisiting Image Aesthetic Assessment via
    Self-Supervised Feature Learning. AAAI 2020, Table 1 and Eq. 1-2.
[1] Kang, Dong, Zheng, Yang. PatchShuffle Regularization. arXiv:1707.07103, 2017.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.distortions import technical
from harness.distortions._batching import conv2d, grouped, per_sample, rand
from harness.distortions.catalogue import DistortionError, catalogue

#: Kang et al.'s patch size for PatchShuffle.
SHUFFLE_PATCH = 2


def _classes() -> tuple[tuple[str, object], ...]:
    rows: list[tuple[str, object]] = [("none", None)]
    for d in catalogue("sheng2020"):
        rows += [(d.name, d.params[k]) for k in d.levels]
    return tuple(rows)


#: The 22 classes: index 0 is *None*, then (distortion name, parameter) in Table 1's order.
SHENG_CLASSES: tuple[tuple[str, object], ...] = _classes()


def class_to_op(index: int) -> tuple[str, object]:
    """Class index (0..21) -> ``(distortion name, parameter)``; class 0 is ``("none", None)``."""
    if not isinstance(index, int) or not 0 <= index < len(SHENG_CLASSES):
        raise DistortionError(
            f"Sheng class {index!r} is out of range; allowed 0..{len(SHENG_CLASSES) - 1}"
        )
    return SHENG_CLASSES[index]


def op_to_class(name: str, param: object = None) -> int:
    """``(distortion name, parameter)`` -> class index; inverse of :func:`class_to_op`."""
    for index, (n, p) in enumerate(SHENG_CLASSES):
        if n == name and (p == param or (p is None and param is None)):
            return index
    raise DistortionError(
        f"({name!r}, {param!r}) is not one of Sheng's 22 classes; they are: {list(SHENG_CLASSES)}"
    )


def class_to_level(index: int) -> tuple[str, int]:
    """Class index -> ``(distortion name, level)`` for :func:`harness.distortions.apply`."""
    name, param = class_to_op(index)
    if name == "none":
        return name, 0
    levels = {d.name: d for d in catalogue("sheng2020")}[name].params
    return name, next(k for k, v in levels.items() if v == param)


def gaussian_noise(
    images: torch.Tensor, variances: Sequence[float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """``clip(x + sqrt(var) N(0, 1))``, one variance per sample (the technical set's kernel:
    :func:`harness.distortions.technical.gaussian_noise`)."""
    return technical.gaussian_noise(images, [math.sqrt(v) for v in variances], generator)


def rotation(images: torch.Tensor, degrees: Sequence[int]) -> torch.Tensor:
    """Counter-clockwise rotation by multiples of 90°, grouped by angle."""
    if any(d % 180 for d in degrees) and images.shape[-2] != images.shape[-1]:
        raise DistortionError(
            f"sheng_rotation: 90° and 270° need square images, got {tuple(images.shape[-2:])}; "
            "allowed levels: 0 (identity), 1, 2, 3"
        )
    return grouped(images, list(degrees), lambda sub, d: torch.rot90(sub, int(d) // 90, (-2, -1)))


def downsampling(images: torch.Tensor, factors: Sequence[int]) -> torch.Tensor:
    """Antialiased bilinear down by ``f`` (to ``floor(size / f)``), bilinear back up."""
    height, width = images.shape[-2:]

    def one(sub: torch.Tensor, f: int) -> torch.Tensor:
        small = F.interpolate(
            sub,
            size=(max(height // f, 1), max(width // f, 1)),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        return F.interpolate(
            small, size=(height, width), mode="bilinear", align_corners=False
        ).clamp_(0.0, 1.0)

    return grouped(images, list(factors), one)


def quantization(images: torch.Tensor, levels: Sequence[int]) -> torch.Tensor:
    """Uniform quantisation to ``n`` levels per channel: ``round(x (n - 1)) / (n - 1)``."""
    steps = per_sample([n - 1 for n in levels], images)
    return torch.round(images * steps) / steps


def pixelation(images: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Mean over ``p × p`` blocks (border blocks over their pixels only), repeated back."""
    height, width = images.shape[-2:]

    def one(sub: torch.Tensor, p: int) -> torch.Tensor:
        means = F.avg_pool2d(sub, int(p), ceil_mode=True)  # (b, 3, ceil(H/p), ceil(W/p))
        full = means.repeat_interleave(int(p), -2).repeat_interleave(int(p), -1)
        return full[..., :height, :width]

    return grouped(images, list(sizes), one)


def exposure(images: torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """``clip(x * factor)``."""
    return (images * per_sample(factors, images)).clamp_(0.0, 1.0)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian truncated at 4 sigma (``scipy.ndimage.gaussian_filter``'s rule)."""
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(images: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Separable Gaussian blur, sigma in pixels per sample, reflect-101 border; grouped.

    Every plane of a group is one channel of a single depthwise conv2d (batch 1, ``b * 3``
    groups): oneDNN's depthwise kernel for batch 13 x 3 groups took 17x longer (35 ms vs 2 ms).
    """

    def one(sub: torch.Tensor, sigma: float) -> torch.Tensor:
        k = gaussian_kernel(float(sigma)).to(device=sub.device, dtype=sub.dtype)
        r = (k.numel() - 1) // 2
        if r == 0:
            return sub.clone()
        b, c, h, w = sub.shape
        planes = F.pad(sub, (r, r, r, r), mode="reflect").reshape(1, b * c, h + 2 * r, w + 2 * r)
        rows = k.view(1, 1, 1, -1).expand(b * c, 1, 1, -1).contiguous()
        x = conv2d(planes, rows, groups=b * c)
        x = conv2d(x, rows.view(b * c, 1, -1, 1), groups=b * c)
        return x.view(b, c, h, w)

    return grouped(images, list(sigmas), one)


def blur_sigma_px(percent: float, height: int, width: int) -> float:
    """Table 1's blur parameter (percent of the short side) in pixels."""
    return percent / 100.0 * min(height, width)


def patch_shuffle(
    images: torch.Tensor,
    probabilities: Sequence[float],
    generator: torch.Generator | None = None,
    patch: int = SHUFFLE_PATCH,
) -> torch.Tensor:
    """PatchShuffle (Kang et al. 2017): each ``patch × patch`` tile, with probability ``p``, has
    its pixels randomly permuted (the same permutation for the three channels). Rows/columns
    beyond the last whole tile are left as they are."""
    b, c, height, width = images.shape
    th, tw = height // patch, width // patch
    n = patch * patch
    tiles = images[..., : th * patch, : tw * patch].reshape(b, c, th, patch, tw, patch)
    tiles = tiles.permute(0, 1, 2, 4, 3, 5).reshape(b, c, th, tw, n)  # (B, 3, th, tw, n)
    chosen = rand((b, 1, th, tw, 1), images, generator) < per_sample(
        probabilities, images
    ).unsqueeze(-1)
    order = rand((b, 1, th, tw, n), images, generator).argsort(dim=-1)  # random permutations
    identity = torch.arange(n, device=images.device).view(1, 1, 1, 1, n)
    order = torch.where(chosen, order, identity).expand(b, c, th, tw, n)
    shuffled = tiles.gather(-1, order).reshape(b, c, th, tw, patch, patch)
    out = images.clone()
    out[..., : th * patch, : tw * patch] = shuffled.permute(0, 1, 2, 4, 3, 5).reshape(
        b, c, th * patch, tw * patch
    )
    return out


def mixup_partners(batch: int, generator: torch.Generator | None) -> torch.Tensor:
    """For each sample the index of the sample it is mixed with: ``(i + r) mod B``, one random
    ``r`` in 1..B-1 drawn from the generator (so no sample is mixed with itself)."""
    if batch < 2:
        raise DistortionError(
            "sheng_mixup: needs at least 2 images in the batch (the other image "
            "comes from another sample); allowed levels: 0 (identity), 1, 2"
        )
    device = generator.device if generator is not None else "cpu"
    shift = int(torch.randint(1, batch, (1,), generator=generator, device=device))
    return (torch.arange(batch) + shift) % batch


def mixup(images: torch.Tensor, alphas: Sequence[float], partners: torch.Tensor) -> torch.Tensor:
    """``(1 - a) x + a x_other``; ``partners`` holds the other images, ``(B, 3, H, W)``."""
    a = per_sample(alphas, images)
    return torch.lerp(images, partners, a)
