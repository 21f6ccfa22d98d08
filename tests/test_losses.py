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
