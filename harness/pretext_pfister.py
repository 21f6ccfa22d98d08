"""What Pfister et al.'s three pretext tasks share [0]: the losses of Eq. 1-5 as pure functions, the
ranking pairs, the regression targets, and the variants of a batch of base images.

The task module built from them is :mod:`harness.pretext_pfister_task`; the plugins ``ranking``,
``ranking_cls`` and ``ranking_regr`` only choose which losses it adds up. Conventions (the rows of a
:class:`harness.distortions.VariantBatch`): ``distortion`` indexes ``catalogue("pfister2021")``
(Table 1 order: 6 technical, 9 style, 6 composition), negative for reference rows; ``reference``
is the row of each row's level-0 image.

[0] Pfister, Kobs, Hotho. Self-Supervised Multi-Task Pretraining Improves Image Aesthetic
    Assessment. CVPR Workshops (NTIRE) 2021, §3.3-3.4 and §4.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from harness.distortions import (
    CROP_REFERENCE,
    ORIGINAL,
    ROTATE_REFERENCE,
    VariantBatch,
    apply,
    catalogue,
    pfister_batch,
)
from harness.distortions import composition
from harness.distortions.resample import letterbox, resize, short_side_size

ASPECTS = ("technical", "style", "composition")
#: §4.3: "We set the hyperparameter m ... to 0.2 in our experiments."
MARGIN = 0.2
#: §3.4: "We set T = 50 according to the author's recommendation [24]."
TEMPERATURE = 50.0


@dataclass(frozen=True)
class DistortionTable:
    """Per-distortion lookups, ``catalogue("pfister2021")`` order.

    Attributes:
        names: the 21 names.
        aspect: (21,) index into :data:`ASPECTS`.
        within: (21,) index of the distortion within its aspect: Eq. 2's class target.
        n_pos, n_neg: (21,) number of positive / negative levels (Table 1's ranges).
        sizes: |D_tech|, |D_style|, |D_comp| = (6, 9, 6).
    """

    names: tuple[str, ...]
    aspect: torch.Tensor
    within: torch.Tensor
    n_pos: torch.Tensor
    n_neg: torch.Tensor
    sizes: tuple[int, ...]


@lru_cache(maxsize=1)
def distortion_table() -> DistortionTable:
    dists = catalogue("pfister2021")
    aspect = [ASPECTS.index(d.aspect) for d in dists]
    within = [aspect[:j].count(a) for j, a in enumerate(aspect)]
    return DistortionTable(
        names=tuple(d.name for d in dists), aspect=torch.tensor(aspect), within=torch.tensor(within),
        n_pos=torch.tensor([sum(k > 0 for k in d.levels) for d in dists]),
        n_neg=torch.tensor([sum(k < 0 for k in d.levels) for d in dists]),
        sizes=tuple(aspect.count(a) for a in range(len(ASPECTS))))


# -- Eq. 3's targets ------------------------------------------------------------------------------
def norm_level(level: int, levels: Sequence[int]) -> float:
    """Eq. 3's ``norm(i)``: non-negative levels to [0, 1], non-positive ones to [-1, 0].

    ``+i / n_pos`` for ``i > 0`` and ``i / n_neg`` for ``i < 0``, with n_pos / n_neg the number of
    positive / negative levels of the distortion (the code's ``change_steps``): exposure
    (levels -5..5) -1 -> -0.2, -5 -> -1.0; shadows (-5..3) +1, +2, +3 -> 1/3, 2/3, 1.
    """
    if level == 0:
        return 0.0
    side = sum(1 for k in levels if (k > 0) == (level > 0) and k != 0)
    return level / side


def norm_levels(distortion: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """:func:`norm_level` of every row: (N,), (N,) -> (N,) float; 0 for reference rows."""
    table = distortion_table()
    d = distortion.clamp(min=0).cpu()
    side = torch.where(level.cpu() > 0, table.n_pos[d], table.n_neg[d]).clamp(min=1)  # (N,)
    out = torch.where(distortion.cpu() >= 0, level.cpu() / side, torch.zeros(()))
    return out.float().to(level.device)


# -- Eq. 1: ranking -------------------------------------------------------------------------------
def ranking_pairs(base: torch.Tensor, distortion: torch.Tensor, level: torch.Tensor,
                  reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs of Eq. 1: same base image, same distortion, same sign of level, ``|i| < |j|``.

    Level 0 is the distortion's reference row, so every edit also pairs with it.

    Args:
        base, distortion, level, reference: (N,) the rows' fields.
    Returns:
        ``(better, worse)``: (P,) row indices; ``better`` is the less distorted image of each pair.
    """
    edited = (distortion >= 0).nonzero().squeeze(1)  # (M,)
    b, d, lv = base[edited], distortion[edited], level[edited]  # (M,) each
    same = ((b[:, None] == b[None, :]) & (d[:, None] == d[None, :])
            & (lv[:, None].sign() == lv[None, :].sign())
            & (lv[:, None].abs() < lv[None, :].abs()))  # (M, M): row i better than row j
    i, j = same.nonzero(as_tuple=True)
    better = torch.cat([reference[edited], edited[i]])  # (P,)
    worse = torch.cat([edited, edited[j]])  # (P,)
    return better, worse


def ranking_loss(scores: torch.Tensor, better: torch.Tensor, worse: torch.Tensor,
                 margin: float = MARGIN) -> torch.Tensor:
    """Eq. 1 as the text and the authors' code mean it (the printed equation swaps the scores):
    ``sum over pairs of max(0, f(I_worse) - f(I_better) + m)``; a margin ranking loss.

    Args:
        scores: (N,) sigmoid scores; better, worse: (P,) rows of each pair.
    Returns:
        () the sum over pairs.
    """
    return F.relu(scores[worse] - scores[better] + margin).sum()


# -- Eq. 2: classification ------------------------------------------------------------------------
def classification_targets(distortion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2's targets: the aspect of each row and its distortion's index within that aspect.

    (N,) -> (aspect (N,), target (N,)); reference rows get aspect -1 (they are not classified).
    """
    table = distortion_table()
    d = distortion.clamp(min=0).cpu()
    edited = distortion.cpu() >= 0
    aspect = torch.where(edited, table.aspect[d], -1).to(distortion.device)
    target = torch.where(edited, table.within[d], -1).to(distortion.device)
    return aspect, target


def classification_loss(logits: Sequence[torch.Tensor], aspect: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
    """Eq. 2: softmax cross-entropy of each edited image on its own aspect's head, summed.

    Args:
        logits: one (N, |D_a|) tensor per aspect a (technical 6, style 9, composition 6).
        aspect, target: (N,) from :func:`classification_targets` (aspect -1: not classified).
    Returns:
        () the sum over edited rows.
    """
    total = logits[0].new_zeros(())
    for a, head in enumerate(logits):
        rows = aspect == a  # (N,)
        total = total + F.cross_entropy(head[rows], target[rows], reduction="sum")
    return total


# -- Eq. 3: regression ----------------------------------------------------------------------------
def regression_items(batch: VariantBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The terms of Eq. 3: ``(row, output column, target)`` for every edited row (its own
    distortion's output, ``norm(level)``) and, per base image and distortion, its level-0
    reference (target 0; the code's "originals get regressed only once").

    Returns:
        rows (K,), columns (K,), targets (K,) float.
    """
    edited = (batch.distortion >= 0).nonzero().squeeze(1)  # (M,)
    d = batch.distortion[edited]  # (M,)
    key = batch.base[edited] * len(distortion_table().names) + d  # (M,): one per (base, distortion)
    keys, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((len(keys),), len(batch), device=key.device, dtype=torch.long)
    first = first.scatter_reduce(0, inverse, edited, reduce="amin")  # (U,) a row of each group
    rows = torch.cat([edited, batch.reference[first]])  # (K,)
    columns = torch.cat([d, batch.distortion[first]])  # (K,)
    targets = torch.cat([norm_levels(d, batch.level[edited]),
                         torch.zeros(len(first), device=d.device)])  # (K,)
    return rows, columns, targets


def regression_loss(outputs: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
    """Eq. 3: the squared error at the output of the applied distortion only, summed.

    Args:
        outputs: (N, |D_all|) linear outputs; rows, columns, targets: (K,) from
            :func:`regression_items`.
    Returns:
        () the sum over the K terms.
    """
    return (outputs[rows, columns] - targets).pow(2).sum()


# -- Eq. 4-5: multi-task --------------------------------------------------------------------------
def loss_balance(loss: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """``h(L) = exp(L / T)`` of Eq. 4-5 (Liang & Zhang 2020's loss balancing), T = 50."""
    return torch.exp(loss / temperature)


# -- the variants of a batch ----------------------------------------------------------------------
def make_variants(images: Sequence[torch.Tensor], size: int, generator: torch.Generator | None,
                  distortions: Sequence[int] | None = None,
                  composition_references: bool = True) -> VariantBatch:
    """Every level of the chosen distortions of every base image, with the references they need.

    ``distortions=None`` is :func:`harness.distortions.pfister_batch` itself (all 21, 174 rows per
    base image, the paper). A subset builds the same rows for those distortions only, with the
    same building blocks (so a cheap profile does not render variants it then drops); the
    ``distortion`` field still indexes the full catalogue.

    Args:
        images: (3, H, W) float tensors in [0, 1], sizes may differ.
        size: the letterboxed side.
        generator: the only randomness (noise, motion-blur angles).
        distortions: catalogue indices, or None for all.
        composition_references: crops and rotations rank against the centred crop / 0° rotation.
    """
    if distortions is None:
        return pfister_batch(list(images), size, generator,
                             composition_references=composition_references)
    dists = catalogue("pfister2021")
    chosen = sorted(set(int(j) for j in distortions))

    def reference_code(j: int) -> int:
        if composition_references and dists[j].name in composition.CROPS:
            return CROP_REFERENCE
        if composition_references and dists[j].name == "rotate":
            return ROTATE_REFERENCE
        return ORIGINAL

    codes = [c for c in (ORIGINAL, CROP_REFERENCE, ROTATE_REFERENCE)
             if c == ORIGINAL or any(reference_code(j) == c for j in chosen)]
    layout = [(c, 0) for c in codes] + [(j, k) for j in chosen for k in dists[j].levels]
    per_base, device = len(layout), images[0].device
    out = torch.empty(len(images) * per_base, 3, size, size, device=device)
    groups: dict[tuple, list[int]] = {}
    for b, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(b)
    for members in groups.values():
        h, w = images[members[0]].shape[-2:]
        stack = torch.stack([images[b].float() for b in members])  # (nb, 3, H, W)
        frames = resize(stack, *short_side_size(h, w, size))  # (nb, 3, h, w): Pfister's O
        canvases = resize(stack, *short_side_size(h, w, int(round(1.5 * size))))  # C
        variants = _variants(frames, canvases, chosen, codes, generator)
        for slot, key in enumerate(layout):
            rows = torch.tensor([b * per_base + slot for b in members], device=device)
            out.index_copy_(0, rows, letterbox(variants[key], size))
    slot_of = {key: i for i, key in enumerate(layout)}
    ref_slot = [slot_of[(c, 0)] if c < 0 else slot_of[(reference_code(c), 0)] for c, _ in layout]
    n = len(images)
    offsets = torch.arange(n).repeat_interleave(per_base) * per_base  # (n * per_base,)
    return VariantBatch(
        images=out, base=torch.arange(n).repeat_interleave(per_base).to(device),
        distortion=torch.tensor([c for c, _ in layout]).repeat(n).to(device),
        level=torch.tensor([k for _, k in layout]).repeat(n).to(device),
        reference=(torch.tensor(ref_slot).repeat(n) + offsets).to(device),
        strength=torch.tensor([0.0 if c < 0 else dists[c].strength(k)
                               for c, k in layout]).repeat(n).to(device),
        names=tuple(d.name for d in dists))


def _variants(frames: torch.Tensor, canvases: torch.Tensor, chosen: list[int], codes: list[int],
              generator: torch.Generator | None) -> dict[tuple[int, int], torch.Tensor]:
    """{(code, level): (nb, 3, h, w)} for equal-size frames, as ``pfister_batch`` builds them."""
    dists = catalogue("pfister2021")
    nb, hw = frames.shape[0], tuple(frames.shape[-2:])
    out = {(ORIGINAL, 0): frames}
    if CROP_REFERENCE in codes:
        out[(CROP_REFERENCE, 0)] = composition.crop(canvases, hw, "hcrop", [0] * nb)
    if ROTATE_REFERENCE in codes:
        out[(ROTATE_REFERENCE, 0)] = composition.rotate(canvases, hw, [0.0] * nb)
    for j in chosen:
        d = dists[j]
        n, levels = len(d.levels), list(d.levels) * nb  # levels sample-major
        if d.name in composition.CROPS:
            x = composition.crop(canvases.repeat_interleave(n, 0), hw, d.name, levels)
        elif d.name == "rotate":
            x = composition.rotate(canvases.repeat_interleave(n, 0), hw,
                                   [d.params[k] for k in levels])
        else:
            x = apply(frames.repeat_interleave(n, 0), d.name, levels, generator)
        x = x.view(nb, n, *x.shape[1:])  # (nb, n, 3, h, w)
        for i, k in enumerate(d.levels):
            out[(j, k)] = x[:, i]
    return out
