"""Losses shared by several plugins (each cites its paper and equation)."""

from __future__ import annotations

import torch


def emd_loss(target: torch.Tensor, pred: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """Per-image earth mover's distance between score distributions (NIMA, Talebi & Milanfar 2018,
    Eq. 1, after Hou et al. 2016): ``(1/M * sum_k |CDF_t(k) - CDF_p(k)|^r)^(1/r)``, r = 2.

    Args:
        target, pred: (B, M) distributions.
    Returns:
        (B,) distances; average them for the batch loss ("computed per image then averaged").
    """
    cdf_gap = torch.cumsum(target, dim=1) - torch.cumsum(pred, dim=1)  # (B, M)
    # A tiny epsilon keeps the gradient of x^(1/r) finite when the two CDFs coincide exactly.
    return (cdf_gap.abs().pow(r).mean(dim=1) + 1e-12).pow(1.0 / r)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy with a soft target, ``-sum_m t_m log softmax(z)_m``: (B, M) -> (B,).

    Its gradient w.r.t. the logits is ``softmax(z) - t`` (Zeng et al. 2020, Eq. 10).
    """
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1)
