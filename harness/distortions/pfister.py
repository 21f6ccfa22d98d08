"""All of Pfister et al.'s variants of a batch of base images, in one pass: :func:`pfister_batch`.

Pfister et al. [0] train on each base image together with every level of every distortion
(``train_pre/dataset.py``, ``SSPexelsSmall``): 171 edits, the unedited image, and two more
references — the centred crop (``crop_original``, the level-0 image of the four crop distortions)
and the 0° rotation (``rotate_original``) — all letterboxed to 224 x 224 (``pad_square``). The
ranking / classification / regression losses compare each edit with its reference and with the
other levels of the same distortion (``IA.calc_loss``).

[0] Pfister et al., CVPRW 2021, Sec. 3-4 and Table 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.distortions import composition
from harness.distortions.api import apply, check_images, fork
from harness.distortions.catalogue import Distortion, DistortionError, catalogue, get
from harness.distortions.reference import apply_reference, pillow_composition
from harness.distortions.resample import letterbox, resize, short_side_size
from harness.distortions.technical import to_uint8

ORIGINAL, CROP_REFERENCE, ROTATE_REFERENCE = -1, -2, -3


@dataclass(frozen=True)
class VariantBatch:
    """The rows :func:`pfister_batch` produces, and what each row is.

    Rows are base-major: the rows of base image ``b`` are contiguous — first its references
    (``ORIGINAL``, then ``CROP_REFERENCE`` and ``ROTATE_REFERENCE`` when kept), then every
    distortion in ``catalogue("pfister2021")`` order, each level in increasing order.

    Attributes:
        images: ``(N, 3, S, S)`` letterboxed variants, float in [0, 1].
        base: ``(N,)`` index of the base image.
        distortion: ``(N,)`` index into :attr:`names`; negative for reference rows
            (:data:`ORIGINAL` = -1, :data:`CROP_REFERENCE` = -2, :data:`ROTATE_REFERENCE` = -3).
        level: ``(N,)`` level, 0 for reference rows.
        reference: ``(N,)`` row of this row's level-0 reference (a reference row points to itself):
            the centred crop for the crop distortions, the 0° rotation for ``rotate``, the
            original otherwise.
        strength: ``(N,)`` signed level / number of levels on that side (Pfister's regression
            target), 0 for references.
        names: the distortion names, ``catalogue("pfister2021")`` order.
    """

    images: torch.Tensor
    base: torch.Tensor
    distortion: torch.Tensor
    level: torch.Tensor
    reference: torch.Tensor
    strength: torch.Tensor
    names: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> VariantBatch:
        """The same batch on ``device``."""
        return VariantBatch(
            *(
                t.to(device)
                for t in (
                    self.images,
                    self.base,
                    self.distortion,
                    self.level,
                    self.reference,
                    self.strength,
                )
            ),
            names=self.names,
        )


def _layout(composition_references: bool) -> list[tuple[int, int]]:
    """(distortion index or reference code, level) of the rows of one base image."""
    rows = [(ORIGINAL, 0)]
    if composition_references:
        rows += [(CROP_REFERENCE, 0), (ROTATE_REFERENCE, 0)]
    for j, d in enumerate(catalogue("pfister2021")):
        rows += [(j, k) for k in d.levels]
    return rows


def _reference_code(d: Distortion, composition_references: bool) -> int:
    if composition_references and d.name in composition.CROPS:
        return CROP_REFERENCE
    if composition_references and d.name == "rotate":
        return ROTATE_REFERENCE
    return ORIGINAL


def _as_list(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return list(images)
    if isinstance(images, Sequence) and not isinstance(images, str) and len(images) > 0:
        return list(images)
    raise DistortionError(
        "pfister_batch: images must be a (B, 3, H, W) tensor or a non-empty list "
        "of (3, H, W) tensors"
    )


def _frames(image: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pfister's ``O`` (short side ``size``) and canvas ``C`` (short side 1.5 ``size``)."""
    h, w = image.shape[-2:]
    frame = resize(image[None], *short_side_size(h, w, size))
    canvas = resize(image[None], *short_side_size(h, w, round(1.5 * size)))
    return frame, canvas


def _variants_fast(frames, canvases, generator) -> dict[tuple[int, int], torch.Tensor]:
    """Every (distortion, level) of a group of equal-size frames: {(code, level): (nb, 3, h, w)}."""
    nb, hw = frames.shape[0], tuple(frames.shape[-2:])
    out = {
        (ORIGINAL, 0): frames,
        (CROP_REFERENCE, 0): composition.crop(canvases, hw, "hcrop", [0] * nb),
        (ROTATE_REFERENCE, 0): composition.rotate(canvases, hw, [0.0] * nb),
    }
    for j, d in enumerate(catalogue("pfister2021")):
        levels = list(d.levels) * nb  # (nb * n,), sample-major below
        n = len(d.levels)
        if d.name in composition.CROPS:
            x = composition.crop(canvases.repeat_interleave(n, 0), hw, d.name, levels)
        elif d.name == "rotate":
            x = composition.rotate(
                canvases.repeat_interleave(n, 0), hw, [d.params[k] for k in levels]
            )
        else:
            x = apply(frames.repeat_interleave(n, 0), d.name, levels, generator)
        x = x.view(nb, n, *x.shape[1:])
        for i, k in enumerate(d.levels):
            out[(j, k)] = x[:, i]
    return out


def _variants_reference(frames, canvases, generator) -> dict[tuple[int, int], torch.Tensor]:
    nb, hw = frames.shape[0], tuple(frames.shape[-2:])
    canvas_codes = list(to_uint8(canvases).permute(0, 2, 3, 1).cpu().numpy())
    frame_codes = list(to_uint8(frames).permute(0, 2, 3, 1).cpu().numpy())
    crop_d, rot_d = get("hcrop"), get("rotate")

    def refs(d):
        arrays = [pillow_composition(d, f, 0, c) / 255.0 for f, c in zip(frame_codes, canvas_codes)]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).to(frames)

    out = {
        (ORIGINAL, 0): frames,
        (CROP_REFERENCE, 0): refs(crop_d),
        (ROTATE_REFERENCE, 0): refs(rot_d),
    }
    for j, d in enumerate(catalogue("pfister2021")):
        n = len(d.levels)
        levels = list(d.levels) * nb
        canv = [c for c in canvas_codes for _ in range(n)]
        x = apply_reference(frames.repeat_interleave(n, 0), d, levels, fork(generator), canv)
        x = x.view(nb, n, *x.shape[1:])
        for i, k in enumerate(d.levels):
            out[(j, k)] = x[:, i]
    assert all(v.shape[-2:] == hw for v in out.values())
    return out


def pfister_batch(
    images,
    size: int = 224,
    generator: torch.Generator | None = None,
    backend: str = "fast",
    composition_references: bool = True,
) -> VariantBatch:
    """Every variant of every base image, letterboxed to ``size × size``.

    Each base image is resized to short side ``size`` (the frame ``O`` every technical, style and
    ratio edit applies to) and to short side ``1.5 size`` (the canvas ``C`` of crops and
    rotations); its 171 edits and references are letterboxed (long side to ``size``, black
    padding, Pfister's ``pad_square``). Base images of equal size are processed together.

    Args:
        images: ``(B, 3, H, W)`` or a list of ``(3, H, W)`` float tensors in [0, 1] (sizes may
            differ).
        size: the model's input size (224 in the paper).
        generator: source of all randomness (noise, motion-blur angles).
        backend: ``"fast"`` or ``"reference"`` (per-image original implementations).
        composition_references: keep the code's crop and 0°-rotation references (174 rows per
            base image); ``False`` ranks crops and rotations against the original (172 rows).

    Returns:
        A :class:`VariantBatch`.
    """
    bases = _as_list(images)
    for i, image in enumerate(bases):
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise DistortionError(
                f"pfister_batch: base image {i} must be a (3, H, W) tensor; "
                f"got {getattr(image, 'shape', type(image).__name__)}"
            )
        try:
            check_images(image[None], catalogue("pfister2021")[0])
        except DistortionError as error:
            problem = str(error).split("[0, 1], ")[1].split(";")[0]
            raise DistortionError(
                f"pfister_batch: base image {i} must be float (3, H, W) in [0, 1]; {problem}"
            ) from None
    if backend not in ("fast", "reference"):
        raise DistortionError(
            f"pfister_batch: unknown backend {backend!r}; choose 'fast' or 'reference'"
        )
    layout = _layout(composition_references)
    per_base = len(layout)
    device = bases[0].device
    out = torch.empty(len(bases) * per_base, 3, size, size, device=device, dtype=torch.float32)
    groups: dict[tuple, list[int]] = {}
    for b, image in enumerate(bases):
        groups.setdefault(tuple(image.shape), []).append(b)
    make = _variants_fast if backend == "fast" else _variants_reference
    for members in groups.values():
        pairs = [_frames(bases[b].float(), size) for b in members]
        frames, canvases = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
        variants = make(frames, canvases, generator)
        for slot, key in enumerate(layout):
            rows = torch.tensor([b * per_base + slot for b in members], device=device)
            out.index_copy_(0, rows, letterbox(variants[key], size))
    return _index(out, len(bases), layout, composition_references)


def _index(
    images: torch.Tensor, n_bases: int, layout, composition_references: bool
) -> VariantBatch:
    dists = catalogue("pfister2021")
    per_base = len(layout)
    slot_of = {key: i for i, key in enumerate(layout)}
    code = torch.tensor([c for c, _ in layout])
    level = torch.tensor([k for _, k in layout])
    ref_slot = torch.tensor(
        [
            slot_of[(c, 0)]
            if c < 0
            else slot_of[(_reference_code(dists[c], composition_references), 0)]
            for c, _ in layout
        ]
    )
    strength = torch.tensor([0.0 if c < 0 else dists[c].strength(k) for c, k in layout])
    offsets = torch.arange(n_bases).repeat_interleave(per_base) * per_base
    device = images.device
    return VariantBatch(
        images=images,
        base=torch.arange(n_bases).repeat_interleave(per_base).to(device),
        distortion=code.repeat(n_bases).to(device),
        level=level.repeat(n_bases).to(device),
        reference=(ref_slot.repeat(n_bases) + offsets).to(device),
        strength=strength.repeat(n_bases).to(device),
        names=tuple(d.name for d in dists),
    )
