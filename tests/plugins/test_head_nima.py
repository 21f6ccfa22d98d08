"""The nima head: Talebi & Milanfar's EMD head with Pfister et al.'s §4.5 fine-tuning protocol
(frozen until the first plateau, ReduceLROnPlateau x0.5 after 5, early stopping after 10)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from harness.config import resolve
from harness.data.records import AVA_LABELS
from harness.runner import Runner
from harness.training import Trainer


def make(registry, **overrides):
    backbone_spec = registry.get("backbone", "tiny")
    spec = registry.get("head", "nima")
    torch.manual_seed(0)
    return spec.factory(backbone_spec.factory(backbone_spec.settings()), spec.settings(**overrides),
                        AVA_LABELS)


def batch(n=4, size=32):
    dist = torch.zeros(n, 10)
    dist[:, 4] = 1.0  # every image: all votes at score 5
    return {"image": torch.rand(n, 3, size, size), "dist": dist}


def test_defaults_are_the_papers():
    from harness_plugins.head_nima import NimaSettings

    s = NimaSettings()
    assert (s.lr_backbone, s.lr_head, s.weight_decay) == (1e-4, 1e-3, 4e-5)
    assert (s.lr_patience, s.lr_factor, s.patience, s.unfreeze_patience) == (5, 0.5, 10, 5)
    assert s.freeze_until_plateau and not s.freeze_batchnorm and s.dropout == 0.75


def test_optimizer_groups_and_schedule(registry):
    head = make(registry)
    optimization = head.configure_optimizers()
    optimizer, scheduler = optimization.optimizer, optimization.scheduler
    assert isinstance(optimizer, torch.optim.Adam) and optimization.monitor
    lrs = [group["lr"] for group in optimizer.param_groups]
    assert lrs == [1e-4, 1e-3]
    assert all(group["weight_decay"] == 4e-5 for group in optimizer.param_groups)
    backbone_ids = {id(p) for p in head.backbone.parameters()}
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == backbone_ids
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (scheduler.factor, scheduler.patience, scheduler.threshold_mode) == (0.5, 5, "abs")


def test_emd_loss_and_predicted_mean_by_hand(registry):
    head = make(registry, dropout=0.0)
    with torch.no_grad():
        head.classifier[1].weight.zero_()
        head.classifier[1].bias.copy_(torch.log(torch.tensor([0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0])
                                                + 1e-30))
    head.eval()
    prediction = head.predict(torch.rand(2, 3, 32, 32))
    # Half the mass at 5, half at 6: mean 5.5.
    torch.testing.assert_close(prediction.mean, torch.tensor([5.5, 5.5]))
    out = head.training_step(batch(2), None)
    # CDF gap 0.5 at bin 5 only: EMD = sqrt(0.25 / 10) per image.
    assert float(out.loss.detach()) == pytest.approx(math.sqrt(0.025), rel=1e-4)


def train_three_steps(head):
    optimization = head.configure_optimizers()
    head.train()
    for _ in range(3):
        optimization.optimizer.zero_grad()
        head.training_step(batch(), None).loss.backward()
        optimization.optimizer.step()


def test_frozen_phase_keeps_the_backbone_weights_and_tracks_batchnorm_statistics(registry):
    head = make(registry)
    before = {k: v.clone() for k, v in head.backbone.state_dict().items()}
    classifier = head.classifier[1].weight.clone()
    train_three_steps(head)
    after = head.backbone.state_dict()
    for key, value in before.items():
        if "running" in key or "num_batches" in key:  # the authors' code: BN keeps tracking
            assert not torch.equal(after[key], value), key
        else:
            torch.testing.assert_close(after[key], value, msg=key)
    assert not torch.equal(head.classifier[1].weight, classifier)


def test_freeze_batchnorm_keeps_the_statistics_too(registry):
    head = make(registry, freeze_batchnorm=True)
    before = {k: v.clone() for k, v in head.backbone.state_dict().items()}
    train_three_steps(head)
    for key, value in head.backbone.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=key)


def epoch_ends(head, optimization, losses):
    """Drive the schedule as the Trainer does: scheduler.step(val), then on_epoch_end."""
    frozen, lrs = [], []
    for epoch, loss in enumerate(losses):
        optimization.scheduler.step(loss)
        head.on_epoch_end(epoch, loss, optimization)
        frozen.append(head.frozen)
        lrs.append(optimization.optimizer.param_groups[0]["lr"])
    return frozen, lrs


def test_unfreezes_at_the_first_plateau_and_restarts_the_lr_schedule(registry):
    head = make(registry)
    optimization = head.configure_optimizers()
    # Improves twice, then flat: epochs 2-6 are five epochs without improvement (the plateau);
    # 0.89995 is not a significant improvement on 0.9 (min_delta 1e-4, absolute).
    losses = [1.0, 0.9, 0.9, 0.89995, 0.9, 0.9, 0.9] + [0.9] * 7
    frozen, lrs = epoch_ends(head, optimization, losses)
    assert frozen == [True] * 6 + [False] * 8
    assert all(p.requires_grad for p in head.backbone.parameters())
    # Without the restart the LR would halve at epoch 7 (six bad epochs); with it, six more flat
    # epochs after unfreezing are needed: epoch 12.
    assert lrs[:12] == [1e-4] * 12 and lrs[12] == 5e-5


def test_min_delta_is_the_same_absolute_threshold_as_early_stopping(registry):
    head = make(registry, min_delta=0.01, unfreeze_patience=1)
    optimization = head.configure_optimizers()
    frozen, _ = epoch_ends(head, optimization, [1.0, 0.995])
    assert frozen == [True, False]  # 0.005 < 0.01 is no improvement
    head = make(registry, min_delta=0.01, unfreeze_patience=1)
    frozen, _ = epoch_ends(head, head.configure_optimizers(), [1.0, 0.98])
    assert frozen == [True, True]


def test_without_the_frozen_phase_the_backbone_trains_from_the_start(registry):
    head = make(registry, freeze_until_plateau=False)
    assert not head.frozen and all(p.requires_grad for p in head.backbone.parameters())


def test_unfrozen_state_survives_a_resume(registry):
    head = make(registry, unfreeze_patience=1)
    optimization = head.configure_optimizers()
    epoch_ends(head, optimization, [1.0, 1.0])
    state = head.resume_state()
    fresh = make(registry, unfreeze_patience=1)
    fresh.load_resume_state(state, fresh.configure_optimizers())
    assert not fresh.frozen and all(p.requires_grad for p in fresh.backbone.parameters())


def test_a_run_reports_the_epochs_it_trained(registry, tmp_path):
    raw = {"pretext": {"name": "random"}, "backbone": {"name": "tiny"},
           "dataset": {"name": "synthetic", "n_images": 80}, "run": {"progress": False},
           "head": {"name": "nima", "image_size": 32, "resize": 36, "epochs": 4,
                    "batch_size": 16, "unfreeze_patience": 1, "patience": 2}}
    result = Runner(resolve(registry, raw), registry, tmp_path / "run").run()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == result.metrics
    assert 1 <= metrics["epochs"] <= 4 and metrics["best_epoch"] <= metrics["epochs"]
    assert {"srcc", "plcc", "mae"} <= set(metrics)


def test_trainer_runs_the_head_through_a_plateau(registry):
    head = make(registry, unfreeze_patience=1, lr_patience=1)
    batches = [batch(8) for _ in range(2)]
    trainer = Trainer(head, label="head 'nima'", epochs=3, device=torch.device("cpu"), seed=0,
                      min_delta=1e9)  # nothing is ever an improvement: a plateau every epoch
    head.settings.min_delta = 1e9
    result = trainer.fit(lambda epoch, start: batches[start:], 2, lambda: batches[:1], lambda b: b)
    assert result.epochs_run == 3 and not head.frozen
