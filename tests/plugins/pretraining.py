"""A short pretraining run on synthetic images, for the pretexts' learning tests."""

from __future__ import annotations

from harness.config import resolve
from harness.progress import Bar
from harness.runner import Runner


def short_pretraining(registry, tmp_path, pretext: dict, min_side: int, max_side: int):
    """Pretrain ``pretext`` (a config section with its name) on the tiny backbone over 300
    synthetic images; returns the runner and the pretext.json content."""
    raw = {"pretext": pretext, "head": {"name": "nima"}, "backbone": {"name": "tiny"},
           "pretrain": {"dataset": "synthetic", "n_images": 300, "min_side": min_side,
                        "max_side": max_side},
           "run": {"progress": False}}
    runner = Runner(resolve(registry, raw), registry, tmp_path / "run")
    _, info, _ = runner.pretrain(Bar(None))
    return runner, info


def train_steps(module, batch, steps: int, ctx=None, lr: float | None = None):
    """``steps`` optimiser steps of ``module`` (a pretext or head) on one fixed ``batch``, with
    every parameter group's learning rate set to ``lr`` if given; returns the losses and the
    last step's output."""
    optimizer = module.configure_optimizers().optimizer
    for group in optimizer.param_groups if lr is not None else ():
        group["lr"] = lr
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        out = module.training_step(batch, ctx)
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    return losses, out
