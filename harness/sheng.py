"""Sheng et al. 2020 [0]: the pieces of the degradation-identification + triplet pretext task.

Pure functions over tensors (losses, entropy weight, the 22-class operation table) and the
batched construction of the edited copies of a batch of patches. The task itself is
``plugins/pretext_degradation_triplet.py``; the editing operations are the ``sheng2020`` family of
the distortion bank (:mod:`harness.distortions`, parameter units in docs/distortions.md).

How a batch is built (docs/pretexts.md, ``degradation_triplet``, states why): every patch ``p``
gets ``K = 3`` distinct operations drawn from the 11 of Table 1 counted with *None*; each drawn
operation is applied to ``p`` with **every** one of its parameters (one copy per parameter), and
each copy is one 22-way classification sample. *None* is the unedited patch itself. So every class
is equally frequent (3/11 per patch), and the two copies ``m(p, θ₁)``, ``m(p, θ₂)`` the triplet
term (Eq. 2) needs are already there.

[0] Sheng, Dong, Chai, Wang, Zhou, Huang, Hu, Ji, Ma. Revisiting Image Aesthetic Assessment via
    Self-Supervised Feature Learning. AAAI 2020.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from harness.data.images import resize_short, to_tensor
from harness.distortions import SHENG_CLASSES, apply_sheng, catalogue
from harness.errors import UsageError

NONE = "none"
#: "t1 and t2 are two different parameters of a certain operation in Tab. 1 (except for rotation
#: and exposure)" [0, §Triplet loss].
NO_TRIPLET = frozenset({"sheng_rotation", "sheng_exposure"})
#: Operation names in Table 1's order, *None* first; each with its class indices, mildest first.
OPERATIONS: dict[str, tuple[int, ...]] = {}
for _index, (_name, _param) in enumerate(SHENG_CLASSES):
    OPERATIONS.setdefault(_name, ())
    OPERATIONS[_name] += (_index,)
N_CLASSES = len(SHENG_CLASSES)


# -- losses (Eq. 1-3) and the entropy weight ----------------------------------------------------
def degradation_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Eq. (1): ``-log P_t(p; W)``, the 22-way cross-entropy per sample: (N, 22), (N,) -> (N,)."""
    return F.cross_entropy(logits.float(), classes, reduction="none")


def feature_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``D`` of Eq. (2): squared L2 distance of the L2-normalised features ("h(p, W) is the
    normalized feature"): (N, C), (N, C) -> (N,), in [0, 4]."""
    return (F.normalize(a.float(), dim=1) - F.normalize(b.float(), dim=1)).pow(2).sum(dim=1)


def triplet_loss(anchor: torch.Tensor, mild: torch.Tensor, strong: torch.Tensor,
                 margin: float = 1.0) -> torch.Tensor:
    """Eq. (2): ``max{0, D(p, θ₁) - D(p, θ₂) + 1}`` per triplet, θ₁ the milder parameter.

    Args:
        anchor, mild, strong: (N, C) features of ``p``, ``m(p, θ₁)`` and ``m(p, θ₂)``.
        margin: the paper's 1.
    Returns:
        (N,) losses.
    """
    return F.relu(feature_distance(anchor, mild) - feature_distance(anchor, strong) + margin)


def entropy_weight(probs: torch.Tensor, alpha: float = 5 / 3) -> torch.Tensor:
    """§Entropy-based weighting: ``w_p = max{1 + α Σ_t P_t log P_t, 0}`` with ``0 log 0 = 0``.

    A confident prediction (one-hot) weighs 1; one whose entropy reaches ``1/α`` nats (0.6 for
    α = 5/3; uniform over 22 classes is log 22 = 3.09) weighs 0. Returned without gradient: the
    weight scales the loss, it is not itself minimised (else raising the entropy would be a
    shortcut to a zero loss). (N, T) -> (N,).
    """
    probs = probs.detach().float()
    plogp = torch.where(probs > 0, probs * probs.clamp_min(1e-30).log(), torch.zeros_like(probs))
    return (1.0 + alpha * plogp.sum(dim=1)).clamp_min(0.0)


# -- operations ----------------------------------------------------------------------------------
def resolve_operations(exclude: Iterable[str] = ()) -> list[str]:
    """The operations a run draws from (*None* always included), minus ``exclude``.

    ``exclude`` names operations as in the distortion catalogue (``sheng_jpeg``), without the
    prefix (``jpeg``), or by Sheng's attribute (``"much noise"``, Table 4's ablation unit).
    """
    records = {d.name: d for d in catalogue("sheng2020")}
    attributes = {d.attribute for d in records.values()}
    dropped: set[str] = set()
    for item in exclude:
        key = str(item).strip().lower()
        name = key if key in records else f"sheng_{key}"
        if name in records:
            dropped.add(name)
        elif key in attributes:
            dropped |= {n for n, d in records.items() if d.attribute == key}
        else:
            allowed = sorted(n.removeprefix("sheng_") for n in records) + sorted(attributes)
            raise UsageError(f"pretext.exclude_ops: {item!r} is not one of Sheng et al.'s "
                             f"operations or attributes; allowed: {', '.join(allowed)}")
    return [name for name in OPERATIONS if name not in dropped]


@dataclass
class EditedBatch:
    """The network inputs built from a batch of ``B`` patches, and what the losses need.

    Attributes:
        images: (N, 3, S, S); rows 0..B-1 are the unedited patches, the rest edited copies.
        classes: (N,) the 22-way label of each row (0 = *None*).
        source: (N,) the patch each row shows (edited or not), in 0..B-1.
        deg_coef: (N,) each row's coefficient in L_deg: ``1 / (B K n_params(t))`` for a copy of
            operation ``t``, ``1 / (B K)`` for an unedited patch whose draw included *None*, 0 for
            an unedited patch that is only a triplet anchor. Sums to 1 (Eq. 3's ``1/(|B||T|)``).
        anchor, mild, strong: (M,) row indices of the triplets ``(p, m(p, θ₁), m(p, θ₂))``.
        n_patches, n_ops: ``B`` and ``K``.
    """

    images: torch.Tensor
    classes: torch.Tensor
    source: torch.Tensor
    deg_coef: torch.Tensor
    anchor: torch.Tensor
    mild: torch.Tensor
    strong: torch.Tensor
    n_patches: int
    n_ops: int


def build_edits(patches: torch.Tensor, operations: list[str], n_ops: int,
                generator: torch.Generator | None, backend: str = "fast") -> EditedBatch:
    """Draw ``n_ops`` distinct operations per patch and render every parameter of each.

    One ``apply_sheng`` call renders every edit but mixup; mixup takes its second image from
    another patch of the batch, so it is rendered per parameter over distinct patches (with a
    single patch in the batch, mixup is left out of the draw).

    Args:
        patches: (B, 3, S, S) in [0, 1], square (rotation by 90° needs it).
        operations: from :func:`resolve_operations`; at least ``n_ops`` of them.
        n_ops: operations per patch (the paper's 3).
        generator: the step's generator, the only randomness used.
    """
    device, b = patches.device, patches.shape[0]
    if len(operations) < n_ops:
        raise UsageError(f"pretext.ops_per_patch={n_ops} but only {len(operations)} operations "
                         f"are left after exclude_ops ({', '.join(operations)})")
    width = max(len(OPERATIONS[name]) for name in operations)
    table = torch.full((len(operations), width), -1, dtype=torch.long)  # (O, P) class or -1
    for i, name in enumerate(operations):
        table[i, :len(OPERATIONS[name])] = torch.tensor(OPERATIONS[name])
    table = table.to(device)
    triplet_op = torch.tensor([n != NONE and n not in NO_TRIPLET and len(OPERATIONS[n]) == 2
                               for n in operations], device=device)
    n_params = (table >= 0).sum(dim=1)  # (O,)

    scores = torch.rand((b, len(operations)), generator=generator, device=device)
    if b < 2 and "sheng_mixup" in operations:
        scores[:, operations.index("sheng_mixup")] = 2.0  # never among the first n_ops
    drawn = scores.argsort(dim=1)[:, :n_ops]  # (B, K) operation indices

    cls = table[drawn]  # (B, K, P): class of each (patch, slot, parameter); 0 None, -1 absent
    sel = (cls > 0).nonzero(as_tuple=True)  # E edits, ordered by (patch, slot, parameter)
    edit_patch, edit_slot, edit_class = sel[0], sel[1], cls[sel]  # (E,) each
    rendered = torch.empty((len(edit_class), *patches.shape[1:]), dtype=patches.dtype,
                           device=device)  # (E, 3, S, S)
    mixups = set(OPERATIONS.get("sheng_mixup", ())) if "sheng_mixup" in operations else set()
    plain = ~torch.isin(edit_class, torch.tensor(sorted(mixups) or [-1], device=device))
    index = plain.nonzero().squeeze(1)  # (E1,)
    if len(index):
        rendered[index] = apply_sheng(patches[edit_patch[index]], edit_class[index], generator,
                                      backend)
    for c in sorted(mixups):
        # Distinct patches only (operations are distinct per patch), so the image mixed in is
        # always another patch; a lone mixup edit borrows from the whole batch.
        index = (edit_class == c).nonzero().squeeze(1)  # (E2,)
        if len(index) >= 2:
            rendered[index] = apply_sheng(patches[edit_patch[index]], c, generator, backend)
        elif len(index) == 1:
            classes = torch.zeros(b, dtype=torch.long, device=device)
            classes[edit_patch[index]] = c
            rendered[index] = apply_sheng(patches, classes, generator, backend)[edit_patch[index]]
    row_of = torch.full(cls.shape, -1, dtype=torch.long, device=device)  # (B, K, P)
    row_of[sel] = torch.arange(b, b + len(edit_class), device=device)
    edit_coef = 1.0 / (b * n_ops * n_params[drawn[edit_patch, edit_slot]].float())  # (E,)
    anchor_coef = (cls[:, :, 0] == 0).any(dim=1).float() / (b * n_ops)  # (B,): None drawn
    patch_ix, slot_ix = triplet_op[drawn].nonzero(as_tuple=True)  # (M,), (M,)
    return EditedBatch(
        images=torch.cat([patches, rendered]),
        classes=torch.cat([torch.zeros(b, dtype=torch.long, device=device), edit_class]),
        source=torch.cat([torch.arange(b, device=device), edit_patch]),
        deg_coef=torch.cat([anchor_coef, edit_coef]), anchor=patch_ix,
        mild=row_of[patch_ix, slot_ix, 0], strong=row_of[patch_ix, slot_ix, 1],
        n_patches=b, n_ops=n_ops)


# -- patches -------------------------------------------------------------------------------------
def random_patch(image: Image.Image, short_side: int, size: int) -> torch.Tensor:
    """§Implementation details: "resize the shorter edge of each input image to 256. Then we
    randomly crop one patch of resolution 227 x 227". Uses torch's global generator, which the
    data loader seeds per (seed, epoch, image). Returns (3, size, size) in [0, 1]."""
    image = resize_short(image, short_side)
    w, h = image.size
    x = int(torch.randint(0, w - size + 1, ()))
    y = int(torch.randint(0, h - size + 1, ()))
    return to_tensor(image.crop((x, y, x + size, y + size)))
