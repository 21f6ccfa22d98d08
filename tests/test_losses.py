"""Shared losses (harness.losses) against hand-computed values and their documented gradients."""

from __future__ import annotations

import pytest
import torch

from harness.losses import half_squared_error, huber_loss


def test_half_squared_error_eq7_by_hand_and_gradient_is_pred_minus_target():
    pred = torch.tensor([[0.5, -0.25, 1.0], [0.0, 0.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0]])
    loss = half_squared_error(pred, target)
    # 1/2 (0.25^2 + 0.5^2 + 0.5^2) = 0.28125 ; 1/2 (1^2) = 0.5
    assert torch.allclose(loss, torch.tensor([0.28125, 0.5]))
    loss.sum().backward()
    assert torch.allclose(pred.grad, (pred - target).detach())


def test_huber_eq9_by_hand_both_branches():
    delta = 1 / 9
    pred = torch.tensor([[0.05, 0.5, -0.3]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 0.0]])
    loss = huber_loss(pred, target, delta)
    # |a| = 0.05 <= 1/9: 0.5 * 0.0025 = 0.00125
    # |a| = 0.5 > 1/9: (1/9) * (0.5 - 1/18) = 0.0493827...
    # |a| = 0.3 > 1/9: (1/9) * (0.3 - 1/18) = 0.0271604...
    expected = 0.00125 + (0.5 - 1 / 18) / 9 + (0.3 - 1 / 18) / 9
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.sum().backward()
    # the authors' backward: a clipped to [-delta, delta]
    assert torch.allclose(pred.grad, torch.tensor([[0.05, delta, -delta]]))


def test_huber_matches_torch_reference_and_rejects_bad_delta():
    generator = torch.Generator().manual_seed(0)
    pred, target = torch.randn(5, 7, generator=generator), torch.rand(5, 7, generator=generator)
    reference = torch.nn.functional.huber_loss(pred, target, reduction="none", delta=0.2).sum(1)
    assert torch.allclose(huber_loss(pred, target, 0.2), reference, atol=1e-6)
    with pytest.raises(ValueError, match="delta"):
        huber_loss(pred, target, 0.0)


# -- distribution distances and the masked reconstruction (auto-encoder / SAF paper) -------------
def test_l1_distance_is_the_sum_of_absolute_differences():
    from harness.losses import l1_distance

    target = torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    pred = torch.tensor([[0.25, 0.25, 0.5], [0.0, 0.5, 0.5]])
    # |0.25| + 0 + |0.25| = 0.5 ; 1 + 0.5 + 0.5 = 2
    assert torch.allclose(l1_distance(target, pred), torch.tensor([0.5, 2.0]))


def test_kl_divergence_matches_scipy_and_treats_0_log_0_as_0():
    from scipy.stats import entropy

    from harness.losses import kl_divergence

    target = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    pred = torch.tensor([[0.25, 0.25, 0.5], [0.4, 0.4, 0.2]], dtype=torch.float64)
    expected = [entropy(t, p) for t, p in zip(target.numpy(), pred.numpy())]
    assert torch.allclose(kl_divergence(target, pred), torch.tensor(expected, dtype=torch.float64))
    # first row by hand: 2 * 0.5 * ln(0.5 / 0.25) = ln 2
    assert kl_divergence(target, pred)[0].item() == pytest.approx(0.6931471805599453)


def test_js_divergence_matches_scipy_and_is_ln2_for_disjoint_supports():
    from scipy.spatial.distance import jensenshannon

    from harness.losses import js_divergence

    generator = torch.Generator().manual_seed(3)
    target = torch.softmax(torch.randn(4, 10, generator=generator, dtype=torch.float64), dim=1)
    pred = torch.softmax(torch.randn(4, 10, generator=generator, dtype=torch.float64), dim=1)
    # scipy returns the JS *distance*, the square root of the divergence (natural log).
    expected = torch.tensor([jensenshannon(t, p) ** 2 for t, p in zip(target.numpy(), pred.numpy())],
                            dtype=torch.float64)
    assert torch.allclose(js_divergence(target, pred), expected, atol=1e-10)
    disjoint = js_divergence(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    assert disjoint.item() == pytest.approx(0.6931471805599453, rel=1e-6)
    assert torch.allclose(js_divergence(target, pred), js_divergence(pred, target))


def test_masked_reconstruction_counts_only_valid_pixels():
    from harness.losses import masked_reconstruction

    target = torch.zeros(1, 3, 2, 2)
    recon = torch.zeros(1, 3, 2, 2)
    recon[0, :, 0, 0] = 0.5  # an error of 0.5 on the one valid pixel's 3 channels
    recon[0, :, 1, 1] = 9.0  # a huge error on padding, which must not count
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, :] = 1  # two valid pixels: (0, 0) and (0, 1)
    # mse: 3 * 0.25 / (2 pixels * 3 channels) = 0.125 ; l1: 3 * 0.5 / 6 = 0.25
    assert masked_reconstruction(recon, target, mask, "mse").item() == pytest.approx(0.125)
    assert masked_reconstruction(recon, target, mask, "l1").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="reconstruction"):
        masked_reconstruction(recon, target, mask, "ssim")
