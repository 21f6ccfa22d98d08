"""Helpers for the distortion tests: real photographs (scikit-image samples, no download), PSNR."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def load_photo(name: str, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """A scikit-image sample as ``(H, W, 3)`` uint8, resized to ``size`` = (width, height)."""
    import skimage.data

    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    return np.array(image.resize(size, Image.BILINEAR))


def to_tensor(arrays) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` arrays -> float ``(B, 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def to_arrays(images: torch.Tensor) -> np.ndarray:
    """``(B, 3, H, W)`` -> float64 ``(B, H, W, 3)``."""
    return images.detach().double().permute(0, 2, 3, 1).cpu().numpy()


def psnr(a, b) -> float:
    """PSNR (dB) of two images with values in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)
