"""Colorization (Zhang et al. 2016): the in-gamut bins, soft-encoding, prior, rebalancing weights
(Eq. 4), the loss (Eq. 2), the prior estimate from images, and a short pretraining run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from harness_plugins.pretext_colorization import colorization_loss, pixel_logs
from skimage.color import rgb2lab

from harness.ab_bins import (
    decode_mean,
    densify,
    gamut_bins,
    nearest_bin,
    rebalance_weights,
    smoothed_prior,
    soft_encode,
)
from tests.plugins.pretraining import short_pretraining


def random_ab(n: int, seed: int = 0) -> np.ndarray:
    """ab of random 8-bit sRGB colours, converted by scikit-image (an independent Lab)."""
    rgb = np.random.default_rng(seed).integers(0, 256, size=(n, 1, 3)) / 255
    return rgb2lab(rgb)[:, 0, 1:]


def build(registry, **overrides):
    backbone = registry.get("backbone", "tiny")
    spec = registry.get("pretext", "colorization")
    torch.manual_seed(0)
    return spec.factory(backbone.factory(backbone.settings()), spec.settings("quick", **overrides))


# ------------------------------------------------------------------------------- in-gamut bins
def test_in_gamut_bins_follow_the_documented_rule_with_scikit_image():
    """Rule: a grid centre is a bin when some 8-bit sRGB colour has it as nearest centre. Recompute
    it from the RGB cube's faces with scikit-image's Lab; the count is 261 (Zhang et al.: 313)."""
    bins = gamut_bins().numpy()
    assert bins.shape == (261, 2)
    levels = np.arange(256) / 255
    u, v = (t.ravel() for t in np.meshgrid(levels, levels, indexing="ij"))
    faces = [np.stack(f, axis=1) for c in (np.zeros_like(u), np.ones_like(u))
             for f in ((c, u, v), (u, c, v), (u, v, c))]
    ab = rgb2lab(np.concatenate(faces)[:, None, :])[:, 0, 1:]
    expected = {tuple(x) for x in (np.round(ab / 10) * 10).tolist()}
    assert {tuple(x) for x in bins.tolist()} == expected
    assert np.all(bins % 10 == 0) and np.abs(bins).max() <= 110


def test_every_srgb_colour_inside_the_cube_falls_in_a_bin():
    bins = {tuple(x) for x in gamut_bins().numpy().tolist()}
    nearest = np.round(random_ab(20000, seed=1) / 10) * 10
    assert {tuple(x) for x in nearest.tolist()} <= bins
    assert (100.0, 100.0) not in bins and (-110.0, -110.0) not in bins  # far outside sRGB


# ------------------------------------------------------------------------------- soft-encoding
def test_soft_encoding_by_hand():
    centres = gamut_bins()
    index, weight = soft_encode(torch.tensor([[3.0, 4.0]]), centres, k=5, sigma=5.0)
    # The 5 nearest centres of (3, 4) and their squared distances.
    expected = [((0, 0), 25), ((0, 10), 45), ((10, 0), 65), ((10, 10), 85), ((-10, 0), 185)]
    got = [tuple(centres[i].tolist()) for i in index[0]]
    assert got == [tuple(map(float, c)) for c, _ in expected]
    w = np.array([math.exp(-d / 50) for _, d in expected])
    np.testing.assert_allclose(weight[0].numpy(), w / w.sum(), rtol=1e-5)


def test_decoding_the_soft_encoding_returns_the_colour_within_the_bin_spacing():
    centres = gamut_bins()
    ab = torch.tensor(random_ab(5000, seed=2), dtype=torch.float32)
    index, weight = soft_encode(ab, centres, k=5, sigma=5.0)
    z = densify(index, weight, len(centres))
    np.testing.assert_allclose(z.sum(1).numpy(), 1, atol=1e-6)
    assert ((z > 0).sum(1) == 5).all()
    error = (decode_mean(z, centres) - ab).norm(dim=1)
    assert float(error.max()) < 10.0  # the bin spacing
    assert float(error.mean()) < 5.0
    assert torch.equal(index[:, 0], nearest_bin(ab, centres))  # q* = argmax Z is the nearest bin


# ------------------------------------------------------------------------ prior and weights
def test_smoothed_prior_spreads_one_bin_with_a_gaussian_of_sigma_5():
    centres = gamut_bins()
    r = int(nearest_bin(torch.tensor([[0.0, 0.0]]), centres))
    counts = torch.zeros(len(centres))
    counts[r] = 7
    prior = smoothed_prior(counts, centres, sigma=5.0).double().numpy()
    d2 = ((centres.numpy() - [0.0, 0.0]) ** 2).sum(1)
    kernel = np.exp(-d2 / 50)
    np.testing.assert_allclose(prior, kernel / kernel.sum(), rtol=1e-5, atol=1e-9)
    assert prior[r] / prior[nearest_bin(torch.tensor([[10.0, 0.0]]), centres)] == \
        pytest.approx(math.exp(2), rel=1e-5)  # a neighbour 10 units away: e^{-100/50}
    np.testing.assert_allclose(smoothed_prior(counts, centres, sigma=0).numpy()[r], 1.0)


def test_rebalancing_weights_have_prior_weighted_mean_one():
    prior = torch.rand(261, generator=torch.Generator().manual_seed(0))
    prior = prior ** 4 / (prior ** 4).sum()  # a peaked prior
    for lam in (0.5, 0.1, 1.0):
        w = rebalance_weights(prior, lam).double()
        assert float((prior.double() * w).sum()) == pytest.approx(1.0, abs=1e-6)
        mix = (1 - lam) * prior.double() + lam / 261
        np.testing.assert_allclose((w * mix).numpy(), float(w[0] * mix[0]), rtol=1e-5)  # w ∝ 1/mix
    np.testing.assert_allclose(rebalance_weights(prior, 1.0).numpy(), 1.0, rtol=1e-6)
    assert float(rebalance_weights(prior, 0.5).argmax()) == float(prior.argmin())  # rare: heavy


# ---------------------------------------------------------------------------------- the loss
def test_eq2_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]])
    index = torch.tensor([[0, 1], [2, 0]])
    weight = torch.tensor([[0.75, 0.25], [0.6, 0.4]])
    v = torch.tensor([2.0, 0.5])
    logp = torch.log_softmax(logits, 1)
    per_pixel = [-(0.75 * logp[0, 0] + 0.25 * logp[0, 1]), -(0.6 * logp[1, 2] + 0.4 * logp[1, 0])]
    expected = (2.0 * per_pixel[0] + 0.5 * per_pixel[1]) / 2
    assert float(colorization_loss(logits, index, weight, v)) == pytest.approx(float(expected))


def test_pixel_metrics_and_their_chance_levels_by_hand():
    logits = torch.eye(3)[[0, 1, 1, 2]] * 5  # predicts bins 0, 1, 1, 2
    target = torch.tensor([0, 1, 2, 2])
    v = torch.tensor([1.0, 1.0, 3.0, 3.0])
    constant = torch.tensor([0.5, 0.25, 0.25])
    logs = pixel_logs(logits, target[:, None], torch.ones(4, 1), v, torch.ones(4), constant,
                      torch.tensor(0), torch.tensor(2))
    expected = -(math.log(0.5) + math.log(0.25) + 3 * math.log(0.25) + 3 * math.log(0.25)) / 4
    assert float(logs["loss_constant"]) == pytest.approx(expected)
    assert float(logs["acc"]) == pytest.approx(3 / 4)
    assert float(logs["acc_constant"]) == pytest.approx(1 / 4)  # always bin 0
    assert float(logs["balanced_acc"]) == pytest.approx((1 + 1 + 3) / 8)
    assert float(logs["balanced_acc_constant"]) == pytest.approx(6 / 8)  # always bin 2


# ------------------------------------------------------------------ the prior from the images
def test_prepare_estimates_the_prior_from_colourful_images_only(registry):
    task = build(registry, prior_images=3)
    size = task.settings.resize
    orange = torch.tensor([0.9, 0.5, 0.1])[None, :, None, None].expand(2, 3, size, size)
    grey = torch.full((2, 3, size, size), 0.4)
    batches = [{"image": grey}, {"image": orange.clone()}, {"image": orange.clone()}]
    task.prepare(iter(batches))
    ab = torch.tensor(rgb2lab(np.array([[[0.9, 0.5, 0.1]]]))[0, :, 1:], dtype=torch.float32)
    peak = int(nearest_bin(ab, task.centres))
    assert int(task.prior.argmax()) == peak
    # Grey images are skipped; 3 images in all were read (2 grey, then 1 orange).
    counts = torch.zeros(len(task.centres))
    counts[peak] = 1
    np.testing.assert_allclose(task.prior.numpy(),
                               smoothed_prior(counts, task.centres, 5.0).numpy(), rtol=1e-5)
    assert float((task.prior * task.weights).sum()) == pytest.approx(1.0, abs=1e-5)
    # The chance predictor is the soft-encoding of the one orange colour of every pixel.
    index, weight = soft_encode(ab, task.centres)
    np.testing.assert_allclose(task.constant.numpy(),
                               densify(index, weight, len(task.centres))[0].numpy(), atol=1e-6)


def test_unprepared_task_weights_every_bin_equally_and_steps(registry):
    task = build(registry)
    np.testing.assert_allclose(task.weights.numpy(), 1.0, rtol=1e-6)
    assert task.centres.shape == (261, 2)
    decoder_in = task.decoder[1].in_channels
    assert decoder_in == task.backbone.feature_info[-1].channels


# ------------------------------------------------------------------- a short pretraining run
@pytest.mark.slow
def test_short_pretraining_predicts_colours_better_than_any_constant_bin(registry, tmp_path):
    runner, info = short_pretraining(
        registry, tmp_path, {"name": "colorization", "epochs": 5, "max_images": 192,
                             "prior_images": 192, "batch_size": 16, "image_size": 48,
                             "resize": 56, "milestones": [10], "lr": 1e-3}, 56, 80)
    metrics = info["metrics"]
    assert metrics["loss"] < 0.97 * metrics["loss_constant"], metrics
    assert metrics["balanced_acc"] > 1.5 * metrics["balanced_acc_constant"], metrics
    assert (runner.cache.entry(info["cache_key"]) / "pretext.json").is_file()
