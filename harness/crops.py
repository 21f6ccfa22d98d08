"""Batched square crops at per-image positions (index arithmetic, no per-image Python loop).

Used by pretext tasks that cut patches or random crops on the device inside their step, from
``ctx.generator`` (context prediction's 3x3 grid of patches, colorization's random crops).
"""

from __future__ import annotations

import torch


def crop_patches(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
                 ) -> torch.Tensor:
    """Cut ``K`` square patches of side ``size`` out of every image.

    Args:
        images: (B, C, H, W).
        top, left: (B, K) integer upper-left corners; every patch must lie inside its image.
        size: the patch side in pixels.
    Returns:
        (B, K, C, size, size): ``out[b, k] = images[b, :, top[b,k]:top[b,k]+size,
        left[b,k]:left[b,k]+size]``.
    Raises:
        ValueError: a patch reaches outside its image.
    """
    b, _, h, w = images.shape
    if top.shape != left.shape or top.shape[0] != b:
        raise ValueError(f"top {tuple(top.shape)} and left {tuple(left.shape)} must both be (B, K) "
                         f"with B = {b}")
    if int(top.min()) < 0 or int(left.min()) < 0 or int(top.max()) + size > h \
            or int(left.max()) + size > w:
        raise ValueError(f"a {size}x{size} patch reaches outside the {h}x{w} image "
                         f"(top {int(top.min())}..{int(top.max())}, "
                         f"left {int(left.min())}..{int(left.max())})")
    offsets = torch.arange(size, device=images.device)
    rows = top.long()[:, :, None] + offsets  # (B, K, size)
    cols = left.long()[:, :, None] + offsets  # (B, K, size)
    batch = torch.arange(b, device=images.device)[:, None, None, None]  # (B, 1, 1, 1)
    # Advanced indices separated by a slice: their broadcast shape (B, K, size, size) comes first.
    patches = images[batch, :, rows[:, :, :, None], cols[:, :, None, :]]  # (B, K, size, size, C)
    return patches.permute(0, 1, 4, 2, 3)  # (B, K, C, size, size)


def random_crop_flip(images: torch.Tensor, size: int, generator: torch.Generator
                     ) -> torch.Tensor:
    """One random ``size`` x ``size`` crop per image, mirrored left-right with probability 1/2
    (Caffe's ``crop_size`` + ``mirror: true``, the augmentation of Zhang et al. 2016's training).

    Args:
        images: (B, C, H, W) with H, W >= size.
        size: crop side.
        generator: the step's generator (on the images' device).
    Returns:
        (B, C, size, size).
    """
    b, _, h, w = images.shape
    device = images.device
    top = torch.randint(0, h - size + 1, (b, 1), generator=generator, device=device)  # (B, 1)
    left = torch.randint(0, w - size + 1, (b, 1), generator=generator, device=device)  # (B, 1)
    crops = crop_patches(images, top, left, size)[:, 0]  # (B, C, size, size)
    flip = torch.rand(b, generator=generator, device=device) < 0.5  # (B,)
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)
