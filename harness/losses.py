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


def half_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE loss of Zeng et al. 2020, Eq. 7 (Eq. 8 for one output):
    ``1/2 * sum_m (t_m - y_m)^2`` on linear outputs ``pred``: (B, M) -> (B,).

    The 1/2 makes the gradient w.r.t. ``pred`` equal ``pred - target`` (as the authors'
    ``myLoss.m`` backward). Average over the batch for the 1/(2N) of Eq. 7.
    """
    return 0.5 * (pred - target).pow(2).sum(dim=1)


def huber_loss(pred: torch.Tensor, target: torch.Tensor, delta: float = 1 / 9) -> torch.Tensor:
    """Per-sample Huber loss of Zeng et al. 2020, Eq. 9 (after Murray & Gordo 2017), summed over
    the M outputs: ``1/2 a^2`` where ``|a| <= delta``, else ``delta * (|a| - delta/2)``, with
    ``a = pred - target`` on linear outputs: (B, M) -> (B,).

    ``delta = 1/9`` is the paper's "Following [36], we fixed ε = 1/9". The gradient is ``a``
    clipped to ``[-delta, delta]`` (the authors' ``myLoss.m`` backward).
    """
    if not delta > 0:
        raise ValueError(f"huber delta must be > 0, got {delta}.")
    a = (pred - target).abs()  # (B, M)
    per_output = torch.where(a <= delta, 0.5 * a.pow(2), delta * (a - 0.5 * delta))  # (B, M)
    return per_output.sum(dim=1)


def l1_distance(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Per-sample L1 distance between distributions, ``sum_m |t_m - p_m|``: (B, M) -> (B,).

    The activation loss of the auto-encoder/SAF paper (Table 4's default, its "weak constraint":
    "L1 distance calculates the sum of the absolute value of the difference between the target
    value and the output value").
    """
    return (target - pred).abs().sum(dim=1)


def kl_divergence(target: torch.Tensor, pred: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample Kullback-Leibler divergence ``KL(t || p) = sum_m t_m (log t_m - log p_m)`` in
    nats, with ``0 log 0 = 0``: (B, M) -> (B,). ``pred`` is clamped at ``eps`` inside the log.

    The KL activation loss of the auto-encoder/SAF paper's Table 4 (target = ground truth).
    """
    log_ratio = torch.log(target.clamp_min(eps)) - torch.log(pred.clamp_min(eps))  # (B, M)
    return torch.where(target > 0, target * log_ratio, torch.zeros_like(log_ratio)).sum(dim=1)


def js_divergence(target: torch.Tensor, pred: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample Jensen-Shannon divergence ``1/2 KL(t || m) + 1/2 KL(p || m)``, ``m = (t + p)/2``,
    in nats (bounded by ln 2): (B, M) -> (B,).

    The JS activation loss of the auto-encoder/SAF paper's Table 4 (Lin, IEEE TIT 1991, Eq. 4.1).
    """
    middle = 0.5 * (target + pred)  # (B, M)
    return 0.5 * kl_divergence(target, middle, eps) + 0.5 * kl_divergence(pred, middle, eps)


def masked_reconstruction(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                          kind: str = "mse") -> torch.Tensor:
    """Per-image reconstruction error over the valid pixels only (padding excluded).

    ``mse``: mean of ``(x_hat - x)^2``, ``l1``: mean of ``|x_hat - x|``, both over the channels
    and the pixels where ``mask`` is 1 (an auto-encoder's reconstruction loss; the paper's formula
    is lost from its text, see docs/saf.md).

    Args:
        recon, target: (B, C, H, W) images.
        mask: (B, 1, H, W) validity, 1 inside the image, 0 on padding.
        kind: ``"mse"`` or ``"l1"``.
    Returns:
        (B,) errors.
    """
    if kind not in ("mse", "l1"):
        raise ValueError(f"reconstruction loss must be 'mse' or 'l1', got {kind!r}")
    gap = recon - target  # (B, C, H, W)
    error = gap.pow(2) if kind == "mse" else gap.abs()
    valid = mask.sum(dim=(1, 2, 3)).clamp_min(1.0) * recon.shape[1]  # (B,)
    return (error * mask).sum(dim=(1, 2, 3)) / valid
