"""Pfister et al. 2021's losses (Eq. 1-5), ranking pairs, targets and variants, against values
worked out by hand and against the distortion bank's own ``pfister_batch``."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from harness.distortions import CROP_REFERENCE, ORIGINAL, catalogue, pfister_batch
from harness.pretext_pfister import (
    classification_loss,
    classification_targets,
    distortion_table,
    loss_balance,
    make_variants,
    norm_level,
    norm_levels,
    ranking_loss,
    ranking_pairs,
    regression_items,
    regression_loss,
)
from harness.pretext_pfister_task import base_transform

NAMES = [d.name for d in catalogue("pfister2021")]


def rows(*spec):
    """(base, distortion, level, reference) tensors from (base, distortion, level, reference) rows."""
    return [torch.tensor(column) for column in zip(*spec)]


def pair_set(better, worse):
    return set(zip(better.tolist(), worse.tolist()))


# ------------------------------------------------------------------------------------- Eq. 1
def test_eq1_three_levels_pairs_and_margin_by_hand():
    # Row 0 the reference, rows 1-3 one distortion at levels 1, 2, 3.
    fields = rows((0, ORIGINAL, 0, 0), (0, 0, 1, 0), (0, 0, 2, 0), (0, 0, 3, 0))
    better, worse = ranking_pairs(*fields)
    assert pair_set(better, worse) == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    scores = torch.tensor([0.9, 0.8, 0.75, 0.2])
    # max(0, s_j - s_i + 0.2): (0,1) 0.1, (0,2) 0.05, (1,2) 0.15; the other three pairs are 0.
    assert float(ranking_loss(scores, better, worse, 0.2)) == pytest.approx(0.30)
    assert float(ranking_loss(scores, better, worse, 0.0)) == pytest.approx(0.0)
    # A perfectly ordered list separated by more than the margin costs nothing.
    assert float(ranking_loss(torch.tensor([0.9, 0.6, 0.35, 0.1]), better, worse)) == 0.0


def test_eq1_pairs_need_the_same_sign_the_same_distortion_and_the_same_image():
    fields = rows((0, ORIGINAL, 0, 0), (0, 7, -2, 0), (0, 7, -1, 0), (0, 7, 1, 0),
                  (0, 8, 1, 0),  # another distortion of the same image
                  (1, ORIGINAL, 0, 5), (1, 7, 1, 5), (1, 7, 2, 5))  # another image
    better, worse = ranking_pairs(*fields)
    assert pair_set(better, worse) == {(0, 1), (0, 2), (2, 1), (0, 3), (0, 4),
                                       (5, 6), (5, 7), (6, 7)}


def test_crops_rank_against_their_own_reference():
    fields = rows((0, ORIGINAL, 0, 0), (0, CROP_REFERENCE, 0, 1),
                  (0, NAMES.index("hcrop"), 1, 1), (0, NAMES.index("hcrop"), 2, 1))
    better, worse = ranking_pairs(*fields)
    assert pair_set(better, worse) == {(1, 2), (1, 3), (2, 3)}


def test_a_full_batch_has_500_pairs_per_image():
    # Per distortion and side with n levels: n pairs with the reference + n(n-1)/2 among them.
    # Technical 6 x 15 = 90; style 4 x 30 + tint 30 + shadows 15+6 + highlights 6+15
    # + temperature 10+15 + vibrance 3+10 = 230; composition 6 x 30 = 180.
    images = torch.rand(2, 3, 24, 36)
    vb = pfister_batch(images, 16, torch.Generator().manual_seed(0))
    better, worse = ranking_pairs(vb.base, vb.distortion, vb.level, vb.reference)
    assert len(better) == 2 * 500
    assert bool((vb.base[better] == vb.base[worse]).all())


# ------------------------------------------------------------------------------------- Eq. 2
def test_eq2_targets_are_the_index_within_the_aspect():
    table = distortion_table()
    assert table.sizes == (6, 9, 6)
    expected = {"jpeg_compression": (0, 0), "impulse_noise": (0, 5), "brightness": (1, 0),
                "exposure": (1, 3), "vibrance": (1, 8), "rotate": (2, 0), "hcrop": (2, 1),
                "ratio": (2, 5)}
    distortion = torch.tensor([NAMES.index(n) for n in expected] + [ORIGINAL, CROP_REFERENCE])
    aspect, target = classification_targets(distortion)
    assert list(zip(aspect.tolist(), target.tolist())) == [*expected.values(), (-1, -1), (-1, -1)]


def test_eq2_loss_is_the_cross_entropy_on_the_own_aspect_head():
    tech = torch.tensor([[2.0, 0.0, 0, 0, 0, 0], [0.0] * 6, [1.0] * 6])
    style = torch.zeros(3, 9)
    style[1, 3] = 1.0
    comp = torch.zeros(3, 6)
    aspect, target = torch.tensor([0, 1, -1]), torch.tensor([0, 3, -1])
    # Row 0: technical class 0 with logit 2 among five zeros; row 1: style class 3 with logit 1
    # among eight zeros; row 2 is a reference and not classified.
    expected = -math.log(math.exp(2) / (math.exp(2) + 5)) - math.log(math.e / (math.e + 8))
    assert float(classification_loss([tech, style, comp], aspect, target)) == pytest.approx(expected)


# ------------------------------------------------------------------------------------- Eq. 3
STYLE_NORMS = {  # Table 1's ranges; norm(i) = +i/n_pos, i/n_neg, written out
    "brightness": {-5: -1.0, -4: -0.8, -3: -0.6, -2: -0.4, -1: -0.2,
                   1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},
    "exposure": {-5: -1.0, -4: -0.8, -3: -0.6, -2: -0.4, -1: -0.2,
                 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},
    "shadows": {-5: -1.0, -4: -0.8, -3: -0.6, -2: -0.4, -1: -0.2, 1: 1 / 3, 2: 2 / 3, 3: 1.0},
    "highlights": {-3: -1.0, -2: -2 / 3, -1: -1 / 3, 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},
    "temperature": {-4: -1.0, -3: -0.75, -2: -0.5, -1: -0.25,
                    1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},
    "vibrance": {-2: -1.0, -1: -0.5, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0},
}
for _name in ("contrast", "saturation", "tint"):
    STYLE_NORMS[_name] = STYLE_NORMS["brightness"]


@pytest.mark.parametrize("name", sorted(STYLE_NORMS))
def test_norm_of_every_style_level_by_hand(name):
    d = catalogue("pfister2021")[NAMES.index(name)]
    assert d.aspect == "style" and set(d.levels) == set(STYLE_NORMS[name])
    for level, value in STYLE_NORMS[name].items():
        assert norm_level(level, d.levels) == pytest.approx(value)
    assert norm_level(0, d.levels) == 0.0
    batch = norm_levels(torch.full((len(d.levels),), NAMES.index(name)), torch.tensor(d.levels))
    torch.testing.assert_close(batch, torch.tensor([STYLE_NORMS[name][k] for k in d.levels]))


def test_norm_levels_agree_with_the_bank_strength_on_every_row():
    vb = pfister_batch(torch.rand(1, 3, 24, 36), 16, torch.Generator().manual_seed(0))
    torch.testing.assert_close(norm_levels(vb.distortion, vb.level), vb.strength.float())


def test_eq3_items_and_loss_by_hand():
    brightness, hcrop = NAMES.index("brightness"), NAMES.index("hcrop")
    vb = make_variants([torch.rand(3, 24, 36)], 16, torch.Generator().manual_seed(0),
                       [brightness, hcrop])
    assert vb.distortion[:2].tolist() == [ORIGINAL, CROP_REFERENCE] and len(vb) == 22
    r, c, t = regression_items(vb)
    # 20 edits at their own output + the original at brightness and the centred crop at hcrop.
    assert len(r) == 22
    refs = {(row, col) for row, col, target in zip(r.tolist(), c.tolist(), t.tolist())
            if target == 0}
    assert refs == {(0, brightness), (1, hcrop)}
    # Zero outputs: each side contributes 0.2^2 + 0.4^2 + 0.6^2 + 0.8^2 + 1 = 2.2, four sides.
    assert float(regression_loss(torch.zeros(len(vb), 21), r, c, t)) == pytest.approx(8.8)
    outputs = torch.zeros(len(vb), 21)
    outputs[r, c] = t
    outputs[0, hcrop] = 5.0  # not a term: the original is hcrop's reference only via the crop
    assert float(regression_loss(outputs, r, c, t)) == 0.0


# ------------------------------------------------------------------------------------ Eq. 4-5
def test_loss_balance_by_hand():
    assert float(loss_balance(torch.tensor(0.0))) == 1.0
    assert float(loss_balance(torch.tensor(50.0))) == pytest.approx(math.e)
    assert float(loss_balance(torch.tensor(100.0), 50)) == pytest.approx(math.e ** 2)
    assert float(loss_balance(torch.tensor(5.0), 10)) == pytest.approx(math.exp(0.5))


# ------------------------------------------------------------------------------------ variants
def test_subset_variants_match_pfister_batch_row_for_row():
    images = [torch.rand(3, 24, 36), torch.rand(3, 36, 24), torch.rand(3, 24, 36)]
    full = pfister_batch(images, 16, torch.Generator().manual_seed(3))
    mirror = make_variants(images, 16, torch.Generator().manual_seed(3), range(21))
    for field in ("images", "base", "distortion", "level", "reference", "strength"):
        torch.testing.assert_close(getattr(mirror, field), getattr(full, field))
    chosen = [NAMES.index(n) for n in ("defocus_blur", "contrast", "rotate")]
    subset = make_variants(images, 16, None, chosen)
    keep = torch.isin(full.distortion, torch.tensor([*chosen, ORIGINAL, -3]))
    torch.testing.assert_close(subset.images, full.images[keep])
    assert len(subset) == 3 * (1 + 1 + 5 + 10 + 10)


@pytest.mark.parametrize("width,height", [(100, 100), (150, 100), (100, 151), (97, 203),
                                          (640, 427), (300, 1000), (1001, 250)])
def test_base_transform_gives_canvases_every_crop_fits(width, height):
    pixels, size = base_transform(16)(Image.new("RGB", (width, height), (200, 90, 10)))
    h, w = size.tolist()
    assert pixels.dtype == torch.uint8 and pixels.shape == (3, 72, 72)
    assert min(h, w) == 24 and max(h, w) % 6 == 0 and max(h, w) <= 72
    assert (w >= h) == (width >= height)
    base = pixels[:, :h, :w].float() / 255
    assert bool((base[0] > 0.7).all()) and float(pixels[:, h:, :].float().sum()) == 0
    vb = pfister_batch([base], 16, torch.Generator().manual_seed(0))  # every crop window fits
    assert len(vb) == 174
