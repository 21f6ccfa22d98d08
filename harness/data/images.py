"""Reading images and the geometric transforms every pipeline shares (letterbox, short-edge resize)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from harness.errors import ImageReadError


def read_rgb(path: str) -> Image.Image:
    """Decode ``path`` fully into an RGB image, or raise :class:`ImageReadError` saying why."""
    try:
        with Image.open(path) as image:
            image.load()  # force the full decode: a truncated JPEG fails here, not later
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageReadError(str(path), "file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageReadError(str(path), f"unreadable image ({error})") from None


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """Resize the long side to ``size`` keeping the aspect ratio, then pad with black to size x size.

    Pfister et al. 2021, §4.1: "We resize and pad all images to 224x224 pixels. This ensures that we
    do not accidentally destroy the image's composition."
    """
    w, h = image.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def resize_short(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the short side is ``size``, keeping the aspect ratio."""
    w, h = image.size
    scale = size / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR,
                        reducing_gap=3.0)


def centre_square(size: int):
    """A per-image transform: shorter edge to ``size``, the centred ``size`` square, a tensor."""

    def transform(image: Image.Image) -> torch.Tensor:
        image = resize_short(image, size)
        w, h = image.size
        left, top = (w - size) // 2, (h - size) // 2
        return to_tensor(image.crop((left, top, left + size, top + size)))

    return transform


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float32 in [0, 1].

    The conversion runs in NumPy: torch's intra-op threads would contend with the data-loader
    and training threads for every small image."""
    array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) * np.float32(1 / 255)
    return torch.from_numpy(np.ascontiguousarray(array))


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> PIL RGB."""
    array = (tensor.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(array)
