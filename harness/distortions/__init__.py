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

from harness.distortions.api import apply, apply_sheng
from harness.distortions.catalogue import Distortion, DistortionError, catalogue, get
from harness.distortions.pfister import (
    CROP_REFERENCE,
    ORIGINAL,
    ROTATE_REFERENCE,
    VariantBatch,
    pfister_batch,
)
from harness.distortions.resample import letterbox
from harness.distortions.sheng import SHENG_CLASSES, mixup_partners
from harness.distortions.sheng import class_to_op as sheng_class_to_op
from harness.distortions.sheng import op_to_class as sheng_op_to_class

__all__ = [
    "CROP_REFERENCE",
    "ORIGINAL",
    "ROTATE_REFERENCE",
    "SHENG_CLASSES",
    "Distortion",
    "DistortionError",
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
