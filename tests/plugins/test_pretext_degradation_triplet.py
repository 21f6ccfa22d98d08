"""The degradation_triplet pretext (Sheng et al. 2020): Eq. (3)'s assembly with the entropy
weight, the warm-up / plateau switch and its resume state, the held-out metrics, a short
pretraining run that learns, and the command the issue asks for."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from harness.conformance import check
from harness.errors import UsageError
from harness.sheng import OPERATIONS, build_edits, random_patch
from harness.training import StepContext, Trainer, step_generator


def make(registry, **overrides):
    spec, bspec = registry.get("pretext", "degradation_triplet"), registry.get("backbone", "tiny")
    torch.manual_seed(0)
    settings = spec.settings("quick", **{"image_size": 32, "resize": 36, **overrides})
    return spec.factory(bspec.factory(bspec.settings()), settings)


def ctx(seed=5, training=True):
    return StepContext(0, 0, step_generator(torch.device("cpu"), seed), torch.device("cpu"),
                       training)


def independent_objective(task, patches, seed, weighted, lam):
    """Eq. (3) written out patch by patch, operation by operation, from the same edits."""
    edits = build_edits(patches, task.operations, 3, step_generator(torch.device("cpu"), seed))
    features = task.backbone(edits.images).detach().double()
    probs = torch.softmax(task.classifier(features.float()).detach().double(), 1).numpy()
    feats = features.numpy()
    b, k = len(patches), 3

    def weight(r):
        p = probs[r]
        return max(1 + 5 / 3 * sum(x * math.log(x) for x in p if x > 0), 0) if weighted else 1.0

    def h(r):
        return feats[r] / np.linalg.norm(feats[r])

    total = 0.0
    for p in range(b):
        rows = [r for r in range(len(edits.classes)) if edits.source[r] == p and r >= b]
        ops = {}
        for r in rows:
            ops.setdefault(_op(edits.classes[r]), []).append(r)
        if edits.deg_coef[p] > 0:
            ops["none"] = [p]
        assert len(ops) == k
        for name, op_rows in ops.items():
            deg = np.mean([weight(r) * -math.log(probs[r][int(edits.classes[r])])
                           for r in op_rows])
            trp = 0.0
            if name not in ("none", "sheng_rotation", "sheng_exposure"):
                mild, strong = sorted(op_rows, key=lambda r: int(edits.classes[r]))
                d1 = np.sum((h(p) - h(mild)) ** 2)
                d2 = np.sum((h(p) - h(strong)) ** 2)
                trp = (weight(mild) + weight(strong)) / 2 * max(0.0, d1 - d2 + 1)
            total += deg + lam * trp
    return total / (b * k)


def _op(cls):
    return next(name for name, classes in OPERATIONS.items() if int(cls) in classes)


@pytest.mark.parametrize("weighted,triplet", [(False, False), (True, True), (False, True)])
def test_eq3_with_entropy_weight_matches_an_independent_computation(registry, weighted,
                                                                    triplet):
    task = make(registry, warmup_epochs=0 if triplet else 5,
                entropy_warmup_epochs=0 if weighted else 5, lambda_trp=0.5)
    assert (task.triplet_on, task.entropy_on) == (triplet, weighted)
    patches = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    task.train()
    with torch.no_grad():  # a sharper classifier so that some weights are neither 0 nor 1
        task.classifier.weight.mul_(40)
    out = task.training_step({"image": patches}, ctx(seed=7))
    assert out.loss.requires_grad
    expected = independent_objective(task, patches, 7, weighted, 0.5 if triplet else 0.0)
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-4)
    if weighted:
        assert 0 < float(out.logs["weight"]) < 1


def test_validation_is_the_unweighted_full_objective_in_every_phase(registry):
    task = make(registry, warmup_epochs=3, lambda_trp=0.02)
    patches = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    task.eval()
    with torch.no_grad():
        out = task.validation_step({"image": patches}, ctx(seed=3, training=False))
    assert not task.triplet_on
    assert float(out.loss) > float(out.logs["deg"])  # the triplet term is in
    expected = independent_objective(task, patches, 3, weighted=False, lam=0.02)
    assert float(out.loss) == pytest.approx(expected, rel=1e-4)


def test_triplet_and_entropy_switch_on_after_warmup_and_survive_resume(registry):
    task = make(registry, warmup_epochs=2, entropy_warmup_epochs=1)
    assert not task.triplet_on and not task.entropy_on
    task.on_epoch_end(0, 1.0, None)
    assert not task.triplet_on and task.entropy_on
    task.on_epoch_end(1, 1.0, None)
    assert task.triplet_on and task.triplet_epoch == 2
    state = task.resume_state()
    fresh = make(registry, warmup_epochs=2, entropy_warmup_epochs=1)
    fresh.load_resume_state(state, None)
    assert fresh.triplet_on and fresh.entropy_on and fresh.triplet_epoch == 2


def test_plateau_of_the_validation_loss_switches_on_early(registry):
    task = make(registry, warmup_epochs=30, plateau_patience=2, plateau_min_delta=0.01)
    for epoch, val_loss in enumerate([3.0, 2.5, 2.49, 2.52]):
        task.on_epoch_end(epoch, val_loss, None)
        # 2.49 is not 1 % below 2.5: one bad epoch; 2.52: two -> on after epoch 4
        assert task.triplet_on == (epoch == 3)
    assert task.triplet_epoch == 4 and task.entropy_on


def test_metrics_chance_and_settings_errors(registry):
    task = make(registry, exclude_ops=["rotation"])
    metrics = task.pretext_metrics({"acc": 0.5, "triplet_order": 0.9, "triplet_margin": 0.1,
                                    "deg": 1.0, "trp": 0.5, "loss": 1.01})
    assert metrics["chance"] == pytest.approx(1 / 19)  # 22 classes minus three rotations
    assert metrics["degradation_accuracy"] == 0.5 and metrics["triplet_satisfaction"] == 0.9
    with pytest.raises(UsageError, match="exclude_ops: 'blurr'"):
        make(registry, exclude_ops=["blurr"])
    with pytest.raises(ValueError, match="resize .* must be at least image_size"):
        make(registry, resize=16)


def test_optimizer_is_nesterov_sgd_with_step_decay(registry):
    spec = registry.get("pretext", "degradation_triplet")
    paper = spec.settings()
    assert (paper.lr, paper.batch_size, paper.lr_step, paper.lr_gamma, paper.lambda_trp,
            paper.warmup_epochs, paper.entropy_alpha, paper.image_size, paper.resize) == (
        0.1, 64, 10, 0.2, 0.02, 30, 5 / 3, 227, 256)
    task = make(registry, lr=0.1, lr_step=10)
    optimization = task.configure_optimizers()
    group = optimization.optimizer.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 5e-4
    for _ in range(10):
        optimization.optimizer.step()
        optimization.scheduler.step()
    assert group["lr"] == pytest.approx(0.02)


def test_plugins_check_passes(registry):
    results = check(registry, "pretext", registry.get("pretext", "degradation_triplet"))
    assert all(ok for _, ok in results), results


@pytest.mark.slow
def test_short_pretraining_identifies_degradations_above_three_times_chance(registry):
    """Held-out patches of other synthetic images; tiny backbone, 32-px patches."""
    spec = registry.get("dataset", "synthetic")
    data = spec.factory(spec.settings("quick", n_images=300), "pretrain")
    ids = data.split("train")
    torch.manual_seed(0)
    patches = torch.stack([random_patch(data.load_image(int(i)), 40, 32) for i in ids[:192]])
    train = [{"image": patches[i:i + 16]} for i in range(0, 160, 16)]
    val = [{"image": patches[160:192]}]
    task = make(registry, epochs=6, lr=0.05, lr_step=4, warmup_epochs=4)
    trainer = Trainer(task, label="pretext 'degradation_triplet'", epochs=6,
                      device=torch.device("cpu"), seed=0)
    result = trainer.fit(lambda epoch, start: train[start:], len(train), lambda: val,
                         lambda b: b)
    metrics = task.pretext_metrics({k[4:]: v for k, v in result.best_logs.items()
                                    if k.startswith("val_")})
    assert metrics["degradation_accuracy"] > 3 * metrics["chance"], metrics
    assert 0 <= metrics["triplet_satisfaction"] <= 1


@pytest.mark.slow
def test_harness_run_degradation_triplet_with_linear_probe_on_alexnet(capsys, tmp_path):
    """The issue's command (quick profile on the synthetic default), a little shorter."""
    import sys

    from harness.cli import main

    out = tmp_path / "run"
    args = ["harness", "run", "--pretext", "degradation_triplet", "--head", "linear_probe",
            "--backbone", "alexnet", "--out", str(out), "--set", "run.progress=false",
            "--set", "dataset.n_images=120", "--set", "pretext.max_images=64",
            "--set", "pretext.epochs=2", "--set", "pretext.warmup_epochs=1",
            "--set", "head.epochs=2"]
    old, sys.argv = sys.argv, args
    try:
        main()
    except SystemExit as done:
        assert not done.code, capsys.readouterr().err
    finally:
        sys.argv = old
    printed = capsys.readouterr().out
    assert "per block" in printed and "conv5" in printed
    pretext = json.loads((out / "pretext.json").read_text())
    assert {"degradation_accuracy", "chance", "triplet_satisfaction"} <= set(pretext["metrics"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["blocks"]) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
