"""The linear_probe head (Zhang et al.'s per-block protocol, Sheng et al. 2020 Table 2): the
frozen-backbone check, per-probe / per-block selection, predictions, the regression variant,
label fractions, and end-to-end runs with the per-block section of metrics.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from harness.config import resolve
from harness.conformance import check
from harness.data.records import AVA_LABELS, LabelSpec
from harness.data.sampling import stratified_fraction
from harness.errors import UsageError
from harness.metrics import accuracy
from harness.runner import Runner
from harness.training import StepContext, Trainer, step_generator

BINARY_ONLY = LabelSpec(kinds=frozenset({"binary"}), scale=(0.0, 1.0), threshold=0.5)


def make(registry, labels=AVA_LABELS, backbone="tiny", **overrides):
    spec, bspec = registry.get("head", "linear_probe"), registry.get("backbone", backbone)
    torch.manual_seed(0)
    settings = spec.settings("quick", **{"image_size": 32, "resize": 36, **overrides})
    return spec.factory(bspec.factory(bspec.settings()), settings, labels)


def batches(n=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        score = torch.rand(8, generator=g) * 9 + 1
        out.append({"image": torch.rand(8, 3, size, size, generator=g), "score": score,
                    "binary": (score > 5).long(), "index": torch.arange(8)})
    return out


def ctx(training=True):
    return StepContext(0, 0, step_generator(torch.device("cpu"), 0), torch.device("cpu"), training)


# ------------------------------------------------------------------------ frozen backbone
def test_backbone_weights_and_batchnorm_statistics_unchanged_only_probes_get_gradients(registry):
    head = make(registry, epochs=2)
    before = {k: v.clone() for k, v in head.backbone.state_dict().items()}
    assert any("running_mean" in k for k in before)  # the tiny backbone has BatchNorm
    data = batches()
    trainer = Trainer(head, label="head 'linear_probe'", epochs=2, device=torch.device("cpu"),
                      seed=0)
    trainer.fit(lambda epoch, start: data[start:], len(data), lambda: data, lambda b: b)
    head.finalize({})
    assert not head.backbone.training and head.training  # train() keeps the backbone in eval
    for key, value in head.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None and not p.requires_grad for p in head.backbone.parameters())
    probe_params = [p for probes in head.probes for p in probes.parameters()]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in probe_params)
    names = {n for n, p in head.named_parameters() if p.requires_grad}
    assert names and all(n.startswith("probes.") for n in names)


def test_one_optimizer_group_per_learning_rate_over_probes_only(registry):
    head = make(registry, lrs=[0.1, 0.01, 0.001], lr_step=2)
    optimization = head.configure_optimizers()
    groups = optimization.optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.1, 0.01, 0.001]
    assert all(g["nesterov"] and g["momentum"] == 0.9 and g["weight_decay"] == 5e-4
               for g in groups)
    for j, group in enumerate(groups):
        expected = {id(p) for probes in head.probes for p in probes[j].parameters()}
        assert {id(p) for p in group["params"]} == expected
    for _ in range(2):
        optimization.optimizer.step()
        optimization.scheduler.step()
    assert groups[1]["lr"] == pytest.approx(0.01 * 0.2)


# ------------------------------------------------------------------------ selection
def test_each_block_keeps_its_best_lr_at_its_best_epoch_and_the_best_block_wins(registry):
    head = make(registry, lrs=[0.1, 0.01], blocks=["block3", "block4"], select_by="loss")
    # epoch 1: block3 lr 0.01 best (loss 0.4); block4 lr 0.1 best (0.5)
    head._val[:] = torch.tensor([[[0.6, 6, 10], [0.4, 7, 10]], [[0.5, 6, 10], [0.9, 5, 10]]],
                                dtype=torch.float64)
    head.on_epoch_end(0, 0.0, None)
    snapshot = head.probes[0][1].weight.detach().clone()
    with torch.no_grad():  # epoch 2: everything moves; only block4 lr 0.01 improves (to 0.3)
        for probes in head.probes:
            for p in probes:
                p.weight.add_(1.0)
    head._val[:] = torch.tensor([[[0.7, 6, 10], [0.5, 7, 10]], [[0.8, 6, 10], [0.3, 8, 10]]],
                                dtype=torch.float64)
    block4_epoch2 = head.probes[1][1].weight.detach().clone()
    head.on_epoch_end(1, 0.0, None)
    result = head.finalize({})
    assert head.chosen.tolist() == [1, 1]
    assert torch.equal(head.probes[0][1].weight, snapshot)  # rolled back to its epoch 1
    assert torch.equal(head.probes[1][1].weight, block4_epoch2)
    assert result["best_block"] == "block4"
    assert result["blocks"]["block3"] == pytest.approx(
        {"lr": 0.01, "best_epoch": 1, "val_loss": 0.04, "val_acc": 0.7, "dim": 64 * 4 * 4})
    assert result["blocks"]["block4"]["best_epoch"] == 2
    assert result["blocks"]["block4"]["val_acc"] == pytest.approx(0.8)


@pytest.mark.parametrize("select_by,task,lr", [("acc", "classification", 0.01),
                                               ("auto", "classification", 0.01),
                                               ("loss", "classification", 0.1),
                                               ("auto", "regression", 0.1)])
def test_select_by_accuracy_or_loss(registry, select_by, task, lr):
    head = make(registry, lrs=[0.1, 0.01], blocks=["block4"], select_by=select_by, task=task)
    # lr 0.1: loss 0.02, acc 0.6; lr 0.01: loss 0.09, acc 0.8
    head._val[:] = torch.tensor([[[0.2, 6, 10], [0.9, 8, 10]]], dtype=torch.float64)
    head.on_epoch_end(0, 0.0, None)
    assert head.finalize({})["blocks"]["block4"]["lr"] == lr


# ------------------------------------------------------------------------ predictions
def test_predict_is_pool_norm_linear_of_the_chosen_probe(registry):
    head = make(registry, lrs=[0.1, 0.01])
    head.train()
    for batch in batches():  # give the feature BatchNorm some statistics
        head.training_step(batch, ctx())
    head.eval()
    head.chosen[:] = torch.tensor([1, 0, 1, 0])
    head.best_block.fill_(2)
    images = batches(1, seed=5)[0]["image"]
    prediction = head.predict(images)
    maps = head.backbone.forward_features(images)
    for i, (g, fmap) in enumerate(zip(head.geometry, maps)):
        pooled = F.adaptive_avg_pool2d(fmap, g.side).flatten(1)
        norm = head.norms[i]
        z = (pooled - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
        probe = head.probes[i][int(head.chosen[i])]
        logits = z @ probe.weight.T + probe.bias
        assert torch.equal(prediction.blocks[g.name].binary, logits.argmax(1)), g.name
        assert torch.isnan(prediction.blocks[g.name].mean).all()
    assert torch.equal(prediction.binary, prediction.blocks["block3"].binary)


def test_regression_targets_loss_and_predictions_on_the_score_scale(registry):
    head = make(registry, task="regression", lrs=[0.01], blocks=["block4"])
    batch = batches(1)[0]
    with torch.no_grad():
        head.probes[0][0].weight.zero_()
        head.probes[0][0].bias.fill_(0.5)
    out = head.training_step(batch, ctx())
    expected = ((0.5 - (batch["score"] - 1) / 9) ** 2).mean()  # AVA scale (1, 10)
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    head.eval()
    prediction = head.predict(batch["image"])
    assert torch.allclose(prediction.mean, torch.full((8,), 5.5))
    assert prediction.binary is None  # the runner thresholds the score


def test_impossible_label_combinations_are_one_line_usage_errors(registry):
    with pytest.raises(UsageError, match="task='regression' needs score labels.*binary"):
        make(registry, labels=BINARY_ONLY, task="regression")
    score_only = LabelSpec(kinds=frozenset({"score"}), scale=(0.0, 9.0), threshold=4.5)
    with pytest.raises(UsageError, match="task='classification' needs binary labels"):
        make(registry, labels=score_only)
    spec = registry.get("head", "linear_probe")
    assert spec.factory.accepts(BINARY_ONLY) is None
    assert spec.factory.accepts(LabelSpec(kinds=frozenset({"distribution"}))) is not None


def test_plugins_check_passes(registry):
    results = check(registry, "head", registry.get("head", "linear_probe"))
    assert all(ok for _, ok in results), results


# ------------------------------------------------------------------------ label fractions
def test_label_fraction_is_seeded_and_per_class():
    from harness.data.records import Records

    binary = np.array([1] * 300 + [0] * 100)
    records = Records(image_id=np.arange(400).astype(str), path=np.array([""] * 400),
                      binary=binary)
    indices = np.arange(400)
    first = stratified_fraction(records, indices, 0.05, seed=3)
    assert sorted(np.bincount(binary[first]).tolist()) == [5, 15]  # round(0.05 n) per class
    assert np.array_equal(first, stratified_fraction(records, indices, 0.05, seed=3))
    assert not np.array_equal(first, stratified_fraction(records, indices, 0.05, seed=4))


# ------------------------------------------------------------------------ end to end
def run(registry, tmp_path, dataset=None, name="run", **head):
    raw = {"pretext": {"name": "random"}, "backbone": {"name": "tiny"}, "profile": "quick",
           "head": {"name": "linear_probe", "epochs": 2, "image_size": 32, "resize": 36,
                    "batch_size": 8, **head},
           "dataset": dataset or {"name": "synthetic", "n_images": 80, "min_side": 40,
                                  "max_side": 56},
           "run": {"progress": False}}
    out = tmp_path / name
    Runner(resolve(registry, raw), registry, out).run()
    return pd.read_csv(out / "predictions.csv"), json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_end_to_end_blocks_section_and_best_block_predictions(registry, tmp_path):
    frame, metrics = run(registry, tmp_path)
    blocks = metrics["blocks"]
    assert list(blocks) == ["block1", "block2", "block3", "block4"]
    for entry in blocks.values():
        assert 0 <= entry["acc"] <= 1 and entry["n_test"] == len(frame)
        assert entry["lr"] in (0.1, 0.01, 0.001) and "srcc" not in entry
    assert metrics["acc"] == blocks[metrics["best_block"]]["acc"]
    assert metrics["acc"] == accuracy(frame["target_binary"], frame["pred_binary"])
    assert frame["pred_mean"].isna().all() and "srcc" not in metrics


@pytest.mark.slow
def test_end_to_end_regression_reports_srcc_per_block_and_label_fraction(registry, tmp_path):
    frame, metrics = run(registry, tmp_path, name="regr", task="regression", label_fraction=0.25)
    for entry in metrics["blocks"].values():
        assert all(math.isfinite(entry[k]) for k in ("srcc", "plcc", "acc", "mse"))
    assert metrics["srcc"] == metrics["blocks"][metrics["best_block"]]["srcc"]
    dataset = registry.get("dataset", "synthetic")
    data = dataset.factory(dataset.settings(n_images=80, min_side=40, max_side=56), "labelled")
    train = data.split("train")
    per_class = np.bincount(data.records.binary[train].astype(int), minlength=2)
    assert metrics["train_images"] == sum(max(1, round(0.25 * n)) for n in per_class if n)


@pytest.mark.slow
def test_end_to_end_on_a_generated_cuhkpq_folder(registry, tmp_path):
    layouts = pytest.importorskip("harness.synthetic.layouts")
    if "cuhkpq" not in [spec.name for spec in registry.list("dataset")]:
        pytest.skip("the cuhkpq dataset plugin is not installed")
    layouts.write_layout("cuhkpq", tmp_path / "pq", n_images=80, seed=0, min_side=40,
                         max_side=56, quirks=False)
    frame, metrics = run(registry, tmp_path, {"name": "cuhkpq", "root": str(tmp_path / "pq")},
                         name="pq")
    assert metrics["labels"]["kinds"] == ["binary"]
    assert set(metrics["blocks"]) == {"block1", "block2", "block3", "block4"}
    assert all(set(e) >= {"acc", "lr", "val_acc"} for e in metrics["blocks"].values())
    with pytest.raises(UsageError, match="needs score labels"):
        run(registry, tmp_path, {"name": "cuhkpq", "root": str(tmp_path / "pq")}, name="pq2",
            task="regression")


def test_cli_prints_a_per_block_table():
    from rich.console import Console

    from harness.cli import blocks_table

    console = Console(record=True, width=120)
    console.print(blocks_table({"conv1": {"acc": 0.61, "lr": 0.01, "n_test": 5},
                                "conv2": {"acc": 0.72, "srcc": 0.5, "lr": 0.1}}, "conv2"))
    text = console.export_text()
    assert "best on validation" in text and "conv2 *" in text and "conv1 *" not in text
    assert "ACC ↑" in text and "SRCC ↑" in text
    assert "0.61" in text and "0.72" in text and "n_test" not in text
