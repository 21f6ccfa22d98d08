"""The gaussian_mv head (Zeng et al. 2020): targets, losses, gradients, predictions, schedule, and
end-to-end runs, against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from harness.config import resolve
from harness.conformance import check
from harness.data.records import AVA_LABELS, LabelSpec
from harness.errors import UsageError
from harness.runner import Runner
from tests.plugins.pretraining import train_steps

AADB_LABELS = LabelSpec(kinds=frozenset({"score", "binary"}), scale=(0.0, 1.0), threshold=0.5)

# Row 0: one vote at 4, two at 5, one at 6: mu = 5, sigma_s^2 = 0.5.
# Row 1: one vote at 1, one at 10: mu = 5.5, sigma_s^2 = 20.25 (0.5 * 20.25 > 1.5: capped).
VOTES = torch.tensor([[0, 0, 0, 1, 2, 1, 0, 0, 0, 0],
                      [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]], dtype=torch.float32)


def gaussian(mu: float, var: float, points) -> np.ndarray:
    """exp(-(b - mu)^2 / (2 var)) at ``points``, L1-normalised: written out independently."""
    w = np.array([math.exp(-((b - mu) ** 2) / (2 * var)) for b in points])
    return w / w.sum()


def make(registry, labels=AVA_LABELS, **overrides):
    backbone_spec = registry.get("backbone", "tiny")
    spec = registry.get("head", "gaussian_mv")
    torch.manual_seed(0)
    return spec.factory(backbone_spec.factory(backbone_spec.settings()), spec.settings(**overrides),
                        labels)


def vote_batch(binary=None) -> dict:
    batch = {"dist": VOTES / VOTES.sum(1, keepdim=True), "index": torch.tensor([7, 8])}
    if binary is not None:
        batch["binary"] = torch.tensor(binary)
    return batch


# ------------------------------------------------------------------------------------ targets
def test_gaussian_mv_target_by_hand_with_and_without_the_cap(registry):
    target = make(registry).target(vote_batch()).numpy()
    bins = range(1, 11)
    expected = np.stack([gaussian(5.0, 0.25, bins), gaussian(5.5, 1.5, bins)])
    np.testing.assert_allclose(target, expected, atol=1e-6)
    assert target[0, 4] == pytest.approx(1 / (1 + 2 * math.exp(-2) + 2 * math.exp(-8)
                                              + 2 * math.exp(-18) + 2 * math.exp(-32)
                                              + math.exp(-50)), rel=1e-5)


def test_other_distribution_targets_by_hand(registry):
    rsd = make(registry, target="rsd").target(vote_batch()).numpy()
    np.testing.assert_allclose(rsd[0], [0, 0, 0, .25, .5, .25, 0, 0, 0, 0], atol=1e-7)
    nv = make(registry, target="gaussian_nv").target(vote_batch()).numpy()
    np.testing.assert_allclose(nv[1], gaussian(5.5, 20.25, range(1, 11)), atol=1e-6)
    code = make(registry, form="code").target(vote_batch()).numpy()  # exp(-(b-mu)^2 / var)
    np.testing.assert_allclose(code[0], gaussian(5.0, 0.125, range(1, 11)), atol=1e-6)


def test_two_class_targets_eq4_eq5(registry):
    score = make(registry, target="score").target(vote_batch()).numpy()
    np.testing.assert_allclose(score, [[0.5, 0.5], [0.45, 0.55]], atol=1e-6)  # mu / 10
    binary = make(registry, target="binary")
    np.testing.assert_allclose(binary.target(vote_batch()).numpy(), [[1, 0], [0, 1]])  # mu > 5
    # the dataset's own binary column wins where there is one
    np.testing.assert_allclose(binary.target(vote_batch(binary=[1, 0])).numpy(), [[0, 1], [1, 0]])


def test_score_only_dataset_gets_a_gaussian_on_the_authors_nine_bins(registry):
    head = make(registry, labels=AADB_LABELS)
    np.testing.assert_allclose(head.bins.numpy(), np.linspace(0, 1, 9), atol=1e-7)
    target = head.target({"score": torch.tensor([0.5, 1.0])}).numpy()
    var = (8 / 9) ** 2  # SCORE_ONLY_VAR = 1 on the 1..10 grid, scaled to 9 bins
    np.testing.assert_allclose(target[0], gaussian(5.0, var, range(1, 10)), atol=1e-6)
    np.testing.assert_allclose(target[1], gaussian(9.0, var, range(1, 10)), atol=1e-6)
    score = make(registry, labels=AADB_LABELS, target="score").target(
        {"score": torch.tensor([0.25])})
    np.testing.assert_allclose(score.numpy(), [[0.75, 0.25]], atol=1e-7)  # top = 1


def test_impossible_targets_are_one_line_usage_errors(registry):
    with pytest.raises(UsageError, match=r"head.target=rsd needs vote histograms.*"
                                         r"binary, score labels; choose head.target=binary or score or "
                                         r"gaussian_mv$"):
        make(registry, labels=AADB_LABELS, target="rsd")
    binary_only = LabelSpec(kinds=frozenset({"binary"}))
    with pytest.raises(UsageError, match="head.target=gaussian_mv needs.*choose head.target=binary$"):
        make(registry, labels=binary_only)
    make(registry, labels=binary_only, target="binary")  # fine
    with pytest.raises(UsageError, match="scale"):
        make(registry, labels=LabelSpec(kinds=frozenset({"score"}), scale=(-1.0, 1.0)),
             target="score")
    head_cls = registry.get("head", "gaussian_mv").factory
    assert head_cls.accepts(LabelSpec(kinds=frozenset())) is not None
    assert head_cls.accepts(AADB_LABELS) is None


def test_rows_without_votes_name_the_records(registry):
    batch = vote_batch()
    batch["dist"] = batch["dist"].clone()
    batch["dist"][1] = 0
    with pytest.raises(Exception, match=r"records \[7, 8\].*row 1 has no votes"):
        make(registry).target(batch)


# --------------------------------------------------------------------- losses and gradients
def test_ce_gradient_is_prediction_minus_target_eq10(registry):
    head = make(registry)
    target = head.target(vote_batch())
    z = torch.randn(2, 10, generator=torch.Generator().manual_seed(1), requires_grad=True)
    loss = head.loss(z, target)
    expected = -(target * torch.log_softmax(z, 1)).sum(1)
    assert torch.allclose(loss, expected)
    loss.sum().backward()
    assert torch.allclose(z.grad, torch.softmax(z, 1).detach() - target, atol=1e-6)


def test_two_class_ce_is_eq11_on_one_output_with_gradient_sigma_minus_p(registry):
    head = make(registry, target="score")
    target = head.target(vote_batch())  # p = 0.5, 0.55
    z = torch.tensor([[0.3], [-1.2]], requires_grad=True)
    loss = head.loss(z, target)
    p = target[:, 1:]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, p, reduction="none")[:, 0]
    assert torch.allclose(loss, bce, atol=1e-6)
    loss.sum().backward()
    assert torch.allclose(z.grad, (torch.sigmoid(z) - p).detach(), atol=1e-6)


def test_linear_losses_eq7_eq9_on_raw_outputs(registry):
    head = make(registry, target="score", loss="mse")
    target = head.target(vote_batch())  # p = 0.5, 0.55
    z = torch.tensor([[0.7], [0.55]], requires_grad=True)
    loss = head.loss(z, target)
    assert torch.allclose(loss, torch.tensor([0.5 * 0.2**2, 0.0]), atol=1e-7)  # Eq. 8
    huber = make(registry, loss="huber")
    t = huber.target(vote_batch())
    z = (t + torch.linspace(-0.3, 0.3, 10)).requires_grad_(True)
    huber.loss(z, t).sum().backward()
    assert torch.allclose(z.grad, torch.linspace(-0.3, 0.3, 10).clamp(-1 / 9, 1 / 9).expand(2, 10),
                          atol=1e-6)


def test_emd_loss_on_softmax(registry):
    head = make(registry, loss="emd")
    target = head.target(vote_batch())
    loss = head.loss(torch.log(target + 1e-30), target)  # prediction == target
    assert loss.max() < 1e-5
    shifted = torch.roll(target, 1, dims=1)  # all mass one bin up: EMD = sqrt(mean(cdf gap^2))
    gap = torch.cumsum(target - shifted, 1)
    assert torch.allclose(head.loss(torch.log(shifted + 1e-30), target),
                          gap.pow(2).mean(1).sqrt(), atol=1e-5)


# ---------------------------------------------------------------------------- predictions
def with_outputs(head, z: torch.Tensor):
    head.outputs = lambda images: z
    return head.predict(torch.zeros(len(z), 3, 8, 8))


def test_predict_distribution_mean_and_dist_on_ava(registry):
    z = torch.log(torch.tensor([[0.0, 0, 0, 0, .5, .5, 0, 0, 0, 0]]) + 1e-30)
    prediction = with_outputs(make(registry), z)
    assert prediction.mean.item() == pytest.approx(5.5, abs=1e-5)  # sum b_m p_m
    assert prediction.dist.shape == (1, 10) and prediction.binary is None  # mean > threshold


def test_predict_linear_outputs_clip_and_renormalise(registry):
    z = torch.tensor([[-1.0, 1.0, 3.0, 0, 0, 0, 0, 0, 0, 0]])
    prediction = with_outputs(make(registry, loss="mse"), z)
    np.testing.assert_allclose(prediction.dist[0, :3].numpy(), [0, .25, .75], atol=1e-6)
    assert prediction.mean.item() == pytest.approx(2.75, abs=1e-5)


def test_predict_score_only_maps_bins_back_to_the_scale(registry):
    probs = torch.tensor([[0, 0, 0, .5, 0, 0, .5, 0, 0]])  # bins 4 and 7 of 9 -> 0.375, 0.75
    prediction = with_outputs(make(registry, labels=AADB_LABELS), torch.log(probs + 1e-30))
    assert prediction.mean.item() == pytest.approx(0.5625, abs=1e-6)
    assert prediction.dist is None  # not a distribution over the dataset's own bins


def test_predict_two_class_top_times_p_high(registry):
    z = torch.tensor([[0.0], [2.0]])
    binary = with_outputs(make(registry, target="binary"), z)
    np.testing.assert_allclose(binary.mean.numpy(), 10 * torch.sigmoid(z[:, 0]).numpy(), rtol=1e-6)
    assert binary.binary.tolist() == [0, 1] and binary.dist is None  # P(high) > 0.5
    score = with_outputs(make(registry, labels=AADB_LABELS, target="score", loss="huber"),
                         torch.tensor([[0.3], [1.4]]))
    np.testing.assert_allclose(score.mean.numpy(), [0.3, 1.0], atol=1e-6)  # clipped to [0, 1]
    assert score.binary is None


# ------------------------------------------------------------------------------ optimisation
def test_sgd_and_one_decade_of_exponential_decay_over_ten_epochs(registry):
    head = make(registry)
    optimization = head.configure_optimizers()
    group = optimization.optimizer.param_groups[0]
    assert isinstance(optimization.optimizer, torch.optim.SGD)
    assert (group["momentum"], group["weight_decay"]) == (0.9, 1e-4)
    lrs = []
    for _ in range(10):
        lrs.append(group["lr"])
        optimization.scheduler.step()
    np.testing.assert_allclose(lrs, np.logspace(-3, -4, 10), rtol=1e-9)  # the authors' schedule
    assert make(registry, target="score").lr == pytest.approx(1e-2)
    assert make(registry, target="binary").lr == pytest.approx(1e-3)
    assert make(registry, loss="huber").lr == pytest.approx(10 ** -1.5)
    assert make(registry, lr=0.05).lr == 0.05


def test_training_lowers_the_loss_on_a_fixed_batch(registry):
    head = make(registry, image_size=16)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    dist = torch.softmax(torch.randn(4, 10, generator=torch.Generator().manual_seed(1)), 1)
    batch = {"image": images, "dist": dist, "index": torch.arange(4)}
    head.train()
    before = [p.detach().clone() for p in head.backbone.parameters()]
    losses, _ = train_steps(head, batch, 10, lr=0.05)
    assert losses[-1] < 0.8 * losses[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, head.backbone.parameters()))


def test_plugins_check_passes(registry):
    results = check(registry, "head", registry.get("head", "gaussian_mv"))
    assert all(ok for _, ok in results), results


# ------------------------------------------------------------------------------ end to end
def run(registry, tmp_path, dataset=None, **head):
    raw = {"pretext": {"name": "random"}, "backbone": {"name": "tiny"}, "profile": "quick",
           "head": {"name": "gaussian_mv", "epochs": 2, "image_size": 32, "batch_size": 8,
                    **head},
           "dataset": dataset or {"name": "synthetic", "n_images": 60, "min_side": 32,
                                  "max_side": 48},
           "run": {"progress": False}}
    out = tmp_path / "_".join(["run", raw["dataset"]["name"]]
                              + [f"{k}{v}" for k, v in head.items()])
    Runner(resolve(registry, raw), registry, out).run()
    return pd.read_csv(out / "predictions.csv"), json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_end_to_end_gaussian_mv_writes_distributions_and_their_metrics(registry, tmp_path):
    frame, metrics = run(registry, tmp_path)
    pred = frame[[f"pred_p{m}" for m in range(1, 11)]].to_numpy()
    np.testing.assert_allclose(pred.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(frame["pred_mean"], pred @ np.arange(1, 11), atol=1e-4)
    for name in ("srcc", "plcc", "acc", "kl", "emd", "std_srcc", "std_plcc"):
        assert math.isfinite(metrics[name]), name
    assert metrics["head_setup"]["target"] == "gaussian_mv"
    assert metrics["head_setup"]["lr"] == pytest.approx([0.01, 0.001])  # quick profile


@pytest.mark.slow
def test_end_to_end_score_target_has_no_distribution_columns(registry, tmp_path):
    frame, metrics = run(registry, tmp_path, target="score")
    assert not any(c.startswith("pred_p") for c in frame.columns)
    assert frame["pred_mean"].between(0, 10).all()
    assert "acc" in metrics and "kl" not in metrics


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ava", "aadb"])
def test_end_to_end_on_generated_ava_and_aadb_layouts(registry, tmp_path, fmt):
    layouts = pytest.importorskip("harness.synthetic.layouts")
    if fmt not in [spec.name for spec in registry.list("dataset")]:
        pytest.skip(f"the {fmt} dataset plugin is not installed")
    layouts.write_layout(fmt, tmp_path / fmt, n_images=80, seed=0, min_side=32, max_side=48,
                         quirks=False)
    frame, metrics = run(registry, tmp_path, {"name": fmt, "root": str(tmp_path / fmt)})
    assert math.isfinite(metrics["srcc"]) and math.isfinite(metrics["acc"])
    if fmt == "ava":  # votes: a distribution over the 10 bins, scored against the raw votes
        assert math.isfinite(metrics["kl"]) and math.isfinite(metrics["std_plcc"])
        assert frame["pred_mean"].between(1, 10).all()
    else:  # scores in [0, 1]: 9 bins spanning the scale, mapped back; no distribution columns
        assert metrics["head_setup"]["bins"] == pytest.approx(np.linspace(0, 1, 9).tolist())
        assert frame["pred_mean"].between(0, 1).all() and "kl" not in metrics
