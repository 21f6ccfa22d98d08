"""The distortion bank: Pfister et al.'s 21 aesthetic distortions and Sheng et al.'s 10 editing
operations as batched tensor ops that run unchanged on CPU and CUDA, with the original per-image
implementations kept as a ``reference`` backend. See docs/distortions.md.

- :func:`catalogue` / :func:`get`: the records (:class:`Distortion`), with every level's parameter.
- :func:`apply`: one distortion at one level per sample, ``(B, 3, H, W) -> (B, 3, H, W)``.
- :func:`pfister_batch`: every level of every Pfister distortion plus the references of a batch
  of base images, letterboxed, as a :class:`VariantBatch`.
- :data:`SHENG_CLASSES`, :func:`sheng_class_to_op`, :func:`sheng_op_to_class`,
  :func:`apply_sheng`: Sheng et al.'s 22-class labels.
"""

from __future__ import annotations

import torch

from harness.distortions.api import apply
from harness.distortions.catalogue import Distortion, DistortionError, catalogue, get
from harness.distortions.pfister import (
    CROP_REFERENCE,
    ORIGINAL,
    ROTATE_REFERENCE,
    VariantBatch,
    pfister_batch,
)
from harness.distortions.resample import letterbox
from harness.distortions.sheng import SHENG_CLASSES, class_to_level, mixup_partners
from harness.distortions.sheng import class_to_op as sheng_class_to_op
from harness.distortions.sheng import op_to_class as sheng_op_to_class


def apply_sheng(images: torch.Tensor, classes, generator: torch.Generator | None = None,
                backend: str = "fast") -> torch.Tensor:
    """Apply one of Sheng et al.'s 22 classes per sample (class 0 = *None*).

    ``classes``: an int or ``(B,)`` ints. Samples are grouped by operation; a mixup sample blends
    with the *input* image of another sample of this batch (``mixup_partners``).
    ``(B, 3, H, W) -> (B, 3, H, W)``.
    """
    batch = images.shape[0]
    if isinstance(classes, torch.Tensor):
        classes = classes.tolist() if classes.dim() else [int(classes)] * batch
    elif isinstance(classes, int):
        classes = [classes] * batch
    if len(classes) != batch:
        raise DistortionError(f"apply_sheng: got {len(classes)} classes for {batch} images")
    ops = [class_to_level(int(c)) for c in classes]
    out = images.clone()
    for name in dict.fromkeys(n for n, _ in ops if n != "none"):
        rows = [i for i, (n, _) in enumerate(ops) if n == name]
        levels = [ops[i][1] if ops[i][0] == name else 0 for i in range(batch)]
        if name == "sheng_mixup":  # partners come from the whole batch
            mixed = apply(images, name, levels, generator, backend)
        else:
            index = torch.tensor(rows, device=images.device)
            sub = apply(images.index_select(0, index), name, [levels[i] for i in rows], generator, backend)
            mixed = out.index_copy(0, index, sub)
        index = torch.tensor(rows, device=images.device)
        out.index_copy_(0, index, mixed.index_select(0, index))
    return out


__all__ = [
    "CROP_REFERENCE",
    "Distortion",
    "DistortionError",
    "ORIGINAL",
    "ROTATE_REFERENCE",
    "SHENG_CLASSES",
    "VariantBatch",
    "apply",
    "apply_sheng",
    "catalogue",
    "get",
    "letterbox",
    "mixup_partners",
    "pfister_batch",
    "sheng_class_to_op",
    "sheng_op_to_class",
]
