"""harness.sheng (Sheng et al. 2020): the entropy weight, the triplet loss, the 22-class table and
the construction of the edited copies, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from harness.distortions import SHENG_CLASSES, apply_sheng, sheng_class_to_op, sheng_op_to_class
from harness.errors import UsageError
from harness.sheng import (
    N_CLASSES,
    OPERATIONS,
    build_edits,
    degradation_loss,
    entropy_weight,
    feature_distance,
    random_patch,
    resolve_operations,
    triplet_loss,
)

#: Table 1 of the paper, milder parameter first (the triplet's θ₁).
TABLE1 = {"sheng_jpeg": (60, 10), "sheng_gaussian_noise": (0.2, 0.8),
          "sheng_rotation": (90, 180, 270), "sheng_downsampling": (4, 6),
          "sheng_quantization": (64, 8), "sheng_pixelation": (4, 8), "sheng_exposure": (0.5, 3.0),
          "sheng_gaussian_blur": (0.2, 0.8), "sheng_patch_shuffle": (0.1, 0.5),
          "sheng_mixup": (0.1, 0.4)}


# -------------------------------------------------------------------------- entropy weight
def test_entropy_weight_uniform_is_zero_one_hot_is_one():
    uniform = torch.full((1, 22), 1 / 22)
    one_hot = torch.zeros(1, 22)
    one_hot[0, 5] = 1
    # uniform: 1 - 5/3 log 22 = -4.15 -> clipped to 0
    assert float(entropy_weight(uniform)) == 0.0
    assert float(entropy_weight(one_hot)) == 1.0


def test_entropy_weight_middle_cases_by_hand():
    probs = torch.zeros(3, 22)
    probs[0, :2] = torch.tensor([0.9, 0.1])
    probs[1, :2] = torch.tensor([0.8, 0.2])
    probs[2, :2] = torch.tensor([0.5, 0.5])
    # 0.9 ln 0.9 + 0.1 ln 0.1 = -0.3250830, so w = 1 - 5/3 * 0.3250830 = 0.4581950
    expected = [1 + 5 / 3 * (0.9 * math.log(0.9) + 0.1 * math.log(0.1)),
                1 + 5 / 3 * (0.8 * math.log(0.8) + 0.2 * math.log(0.2)),
                0.0]  # 1 - 5/3 ln 2 = -0.155 -> 0
    got = entropy_weight(probs).tolist()
    assert got[0] == pytest.approx(0.4581950, abs=1e-6)
    assert got[1] == pytest.approx(0.1659963, abs=1e-6)
    assert got == pytest.approx(expected, abs=1e-6)


def test_entropy_weight_alpha_and_no_gradient():
    probs = torch.tensor([[0.9, 0.1]], requires_grad=True)
    w = entropy_weight(probs, alpha=1.0)
    assert float(w) == pytest.approx(1 + 0.9 * math.log(0.9) + 0.1 * math.log(0.1), abs=1e-6)
    assert not w.requires_grad


# ------------------------------------------------------------------------- triplet loss
def test_feature_distance_is_squared_distance_of_normalised_features():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    assert float(feature_distance(a, b)) == pytest.approx(2.0)  # |(1,0) - (0,1)|^2
    assert float(feature_distance(a, 7 * a)) == pytest.approx(0.0, abs=1e-7)


def test_triplet_loss_by_hand():
    anchor = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    mild = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    strong = torch.tensor([[0.0, 3.0], [3.0, 3.0]])
    # row 0: D1 = 2 - sqrt 2, D2 = 2 -> max(0, -sqrt 2 + 1) = 0 (satisfied by the margin)
    # row 1: D1 = 2, D2 = 2 - sqrt 2 -> 2 - (2 - sqrt 2) + 1 = 1 + sqrt 2
    loss = triplet_loss(anchor, mild, strong).tolist()
    assert loss == pytest.approx([0.0, 1 + math.sqrt(2)], abs=1e-6)
    assert float(triplet_loss(anchor[:1], mild[:1], strong[:1], margin=2.0)) == pytest.approx(
        2 - math.sqrt(2), abs=1e-6)


def test_degradation_loss_is_minus_log_probability():
    logits = torch.tensor([[math.log(3.0), 0.0, 0.0]])  # P = (3/5, 1/5, 1/5)
    assert float(degradation_loss(logits, torch.tensor([0]))) == pytest.approx(math.log(5 / 3))
    assert float(degradation_loss(logits, torch.tensor([2]))) == pytest.approx(math.log(5))


# ------------------------------------------------------------------------- class table
def test_22_class_mapping_round_trips_and_matches_table_1():
    assert N_CLASSES == 22 == len(SHENG_CLASSES)
    assert sheng_class_to_op(0) == ("none", None)
    for c in range(22):
        assert sheng_op_to_class(*sheng_class_to_op(c)) == c
    assert OPERATIONS["none"] == (0,)
    for name, params in TABLE1.items():
        assert tuple(sheng_class_to_op(c)[1] for c in OPERATIONS[name]) == params
    assert sorted(c for classes in OPERATIONS.values() for c in classes) == list(range(22))


def test_exclude_ops_by_name_prefix_or_attribute():
    assert len(resolve_operations()) == 11
    left = resolve_operations(["jpeg", "sheng_mixup", "Soft / Grainy"])
    assert "none" in left and "sheng_jpeg" not in left and "sheng_mixup" not in left
    assert not {"sheng_downsampling", "sheng_quantization", "sheng_pixelation"} & set(left)
    assert len(left) == 11 - 5
    with pytest.raises(UsageError, match="exclude_ops: 'sharpen'.*allowed: .*jpeg"):
        resolve_operations(["sharpen"])


# ------------------------------------------------------------------------- edited batches
def test_edits_three_distinct_ops_every_parameter_and_coefficients():
    patches = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    edits = build_edits(patches, resolve_operations(), 3, torch.Generator().manual_seed(0))
    b = 6
    assert torch.equal(edits.images[:b], patches) and edits.classes[:b].eq(0).all()
    assert float(edits.deg_coef.sum()) == pytest.approx(1.0)
    for p in range(b):
        rows = [r for r in range(b, len(edits.classes)) if edits.source[r] == p]
        ops = [sheng_class_to_op(int(edits.classes[r]))[0] for r in rows]
        none = bool(edits.deg_coef[p] > 0)
        assert len(set(ops)) + none == 3  # three distinct operations, None counted
        if none:
            assert float(edits.deg_coef[p]) == pytest.approx(1 / (b * 3))
        for r, op in zip(rows, ops):  # every parameter once; Eq. 3's 1/(|B||T|) per operation
            assert ops.count(op) == len(OPERATIONS[op])
            assert float(edits.deg_coef[r]) == pytest.approx(1 / (b * 3 * len(OPERATIONS[op])))
            if op not in ("sheng_gaussian_noise", "sheng_patch_shuffle", "sheng_mixup"):
                redone = apply_sheng(patches[p:p + 1], int(edits.classes[r]))[0]
                assert torch.allclose(edits.images[r], redone, atol=1e-6), op
    # triplets: same patch, same operation, θ₁ (milder) then θ₂, never rotation/exposure/None
    assert len(edits.anchor) > 0
    for a, m, s in zip(edits.anchor.tolist(), edits.mild.tolist(), edits.strong.tolist()):
        op_m, p_m = sheng_class_to_op(int(edits.classes[m]))
        op_s, p_s = sheng_class_to_op(int(edits.classes[s]))
        assert op_m == op_s and op_m not in ("sheng_rotation", "sheng_exposure", "none")
        assert (p_m, p_s) == TABLE1[op_m]
        assert int(edits.source[m]) == a == int(edits.source[s])


def test_classes_are_balanced_over_many_patches():
    patches = torch.rand(1100, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    edits = build_edits(patches, resolve_operations(), 3, torch.Generator().manual_seed(3))
    counts = torch.bincount(edits.classes[1100:], minlength=22)
    counts[0] = int((edits.deg_coef[:1100] > 0).sum())
    # each class: 3/11 of the patches (300), binomial sd ~ 15
    assert counts.min() > 240 and counts.max() < 360, counts.tolist()


def test_mixup_blends_another_patch_and_single_patch_batches_skip_it():
    patches = torch.stack([torch.full((3, 8, 8), v) for v in (0.0, 0.5, 1.0, 0.25)])
    ops = ["none", "sheng_mixup", "sheng_exposure"]
    edits = build_edits(patches, ops, 3, torch.Generator().manual_seed(0))
    for row in range(4, len(edits.classes)):
        if sheng_class_to_op(int(edits.classes[row]))[0] != "sheng_mixup":
            continue
        alpha = sheng_class_to_op(int(edits.classes[row]))[1]
        value = float(edits.images[row].mean())
        # (1 - a) x + a y with y another patch: never x itself
        candidates = [(1 - alpha) * x + alpha * y for x in (0, .5, 1, .25)
                      for y in (0, .5, 1, .25) if x != y]
        assert min(abs(value - c) for c in candidates) < 1e-5
    single = build_edits(patches[:1], ops, 2, torch.Generator().manual_seed(0))
    assert sorted(int(c) for c in single.classes[1:]) == [14, 15]
    with pytest.raises(UsageError, match="ops_per_patch=3 but only 2"):
        build_edits(patches, ["none", "sheng_jpeg"], 3, None)


def test_random_patch_resizes_the_short_edge_then_crops():
    from PIL import Image

    image = Image.new("RGB", (300, 150), (10, 200, 30))
    torch.manual_seed(0)
    patch = random_patch(image, 72, 64)
    assert patch.shape == (3, 64, 64)
    assert torch.allclose(patch[:, 0, 0], torch.tensor([10, 200, 30]) / 255)
