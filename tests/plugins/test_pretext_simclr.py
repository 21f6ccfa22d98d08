"""SimCLR (Chen et al. 2020): NT-Xent against an independent NumPy computation, the contrastive
accuracy, the two views and their colour switches, the batch layout, and a short pretraining run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from harness_plugins.pretext_simclr import contrastive_accuracy
from PIL import Image

from harness.data.loading import Samples, collate
from harness.synthetic.dataset import SyntheticDataset
from harness.training import StepContext
from tests.plugins.pretraining import short_pretraining

SOLID = (153, 77, 51)  # an orange-brown


def build(registry, profile="quick", **overrides):
    backbone = registry.get("backbone", "tiny")
    spec = registry.get("pretext", "simclr")
    torch.manual_seed(0)
    return spec.factory(backbone.factory(backbone.settings()), spec.settings(profile, **overrides))


def nt_xent_numpy(z0: np.ndarray, z1: np.ndarray, tau: float) -> float:
    """Eq. 1 and Algorithm 1 of Chen et al., written out with loops: views 2k and 2k+1 of image k,
    l(i, j) = -log(exp(s_ij / tau) / sum_{m != i} exp(s_im / tau)), the mean over all 2N pairs."""
    n = len(z0)
    z = np.empty((2 * n, z0.shape[1]))
    z[0::2], z[1::2] = z0, z1
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    total = 0.0
    for i in range(2 * n):
        j = i + 1 if i % 2 == 0 else i - 1
        denominator = sum(math.exp(z[i] @ z[m] / tau) for m in range(2 * n) if m != i)
        total += -math.log(math.exp(z[i] @ z[j] / tau) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.5, 0.1])
def test_nt_xent_equals_an_independent_numpy_computation(registry, tau):
    task = build(registry, temperature=tau)
    assert task.criterion.temperature == tau
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    loss = task.criterion(torch.tensor(z0), torch.tensor(z1))
    assert float(loss) == pytest.approx(nt_xent_numpy(z0, z1, tau), rel=1e-6)


def test_paper_defaults(registry):
    s = registry.get("pretext", "simclr").settings()
    assert (s.temperature, s.projection_dim, s.lr, s.batch_size) == (0.5, 64, 3e-4, 128)
    assert (s.color_jitter, s.color_jitter_prob, s.grayscale, s.blur) == (1.0, 0.8, 0.2, 0.5)


def test_contrastive_accuracy_by_hand():
    z0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -0.5]])
    assert float(contrastive_accuracy(z0, 2 * z0)) == 1.0  # every view finds its twin
    # Cosines worked out by hand: views 1, 3, 4 pick their twins (4, 0, 1); view 0 picks view 5
    # (0.995 > 0.981), view 2 picks view 1 (-0.447), view 5 picks view 0 (0.995 > -0.845).
    z1 = torch.tensor([[1.0, 0.2], [0.2, 1.0], [1.0, -0.1]])
    assert float(contrastive_accuracy(z0, z1)) == pytest.approx(3 / 6)


def test_projection_head_is_sized_from_feature_info(registry):
    task = build(registry, projection_dim=32)
    linears = [m for m in task.projection.modules() if isinstance(m, torch.nn.Linear)]
    channels = task.backbone.feature_info[-1].channels
    assert linears[0].in_features == channels and linears[0].out_features == channels
    assert linears[-1].out_features == 32


def test_two_views_collate_into_a_list_of_two_batches(registry):
    task = build(registry)
    data = SyntheticDataset(n_images=10, seed=0, min_side=48, max_side=80,
                            fractions=(0.8, 0.1, 0.1), purpose="pretrain")
    samples = Samples(data, data.split("train")[:4], task.sample_transform(), labels=False)
    batch = collate([samples[i] for i in range(4)])
    views = batch["image"]
    assert isinstance(views, list) and len(views) == 2
    assert all(v.shape == (4, 3, 64, 64) for v in views)
    assert 0 <= float(min(v.min() for v in views)) and float(max(v.max() for v in views)) <= 1
    ctx = StepContext(0, 0, torch.Generator().manual_seed(0), torch.device("cpu"), True)
    out = task.training_step(batch, ctx)
    assert torch.isfinite(out.loss) and out.n == 4
    assert float(out.logs["chance"]) == pytest.approx(1 / 7)


def view_colours(task, seed: int, n: int = 20) -> torch.Tensor:
    """Mean colour of each view of a solid-colour image: (2n, 3)."""
    torch.manual_seed(seed)
    transform = task.sample_transform()
    image = Image.new("RGB", (80, 60), SOLID)
    return torch.stack([v.mean(dim=(1, 2)) for _ in range(n) for v in transform(image)])


def test_colour_augmentations_switch_off_and_on(registry):
    solid = torch.tensor(SOLID) / 255
    plain = view_colours(build(registry, color_jitter=0.0, grayscale=0.0, blur=0.0), seed=1)
    torch.testing.assert_close(plain, solid.expand_as(plain), atol=1 / 255, rtol=0)
    jittered = view_colours(build(registry, color_jitter_prob=1.0, grayscale=0.0), seed=1)
    assert (jittered - solid).abs().amax(dim=1).gt(2 / 255).float().mean() > 0.9
    grey = view_colours(build(registry, color_jitter=0.0, grayscale=1.0), seed=1)
    torch.testing.assert_close(grey[:, 0], grey[:, 2], atol=1 / 255, rtol=0)
    torch.testing.assert_close(grey[:, 1], grey[:, 2], atol=1 / 255, rtol=0)


@pytest.mark.slow
def test_short_pretraining_finds_the_positive_view_better_than_chance(registry, tmp_path):
    # The quick profile's augmentations (Chen et al.'s CIFAR-10 colour strength 0.5, no blur).
    _, info = short_pretraining(
        registry, tmp_path, {"name": "simclr", "epochs": 6, "max_images": 256, "batch_size": 32,
                             "image_size": 32}, 48, 64)
    metrics = info["metrics"]
    assert metrics["chance"] < 0.05
    assert metrics["contrastive_accuracy"] > 5 * metrics["chance"], metrics
