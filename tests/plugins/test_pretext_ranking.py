"""The ranking, ranking_cls and ranking_regr pretexts: their steps against the shared losses, the
quick profile's sampling of distortions, their metrics, and a short run in which they learn."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from harness.config import resolve
from harness.conformance import check
from harness.errors import UsageError
from harness.pretext_pfister_task import base_transform
from harness.runner import Runner
from harness.training import StepContext, step_generator


def make(registry, name, **overrides):
    backbone_spec = registry.get("backbone", "tiny")
    spec = registry.get("pretext", name)
    torch.manual_seed(0)
    settings = spec.settings(**{"image_size": 32, "batch_size": 2, **overrides})
    return spec.factory(backbone_spec.factory(backbone_spec.settings()), settings)


def loader_batch(size=32, n=2):
    """What the data loader gives the task: padded canvases and their sizes."""
    torch.manual_seed(1)
    transform = base_transform(size)
    items = [transform(Image.fromarray((torch.rand(40 + 9 * i, 60, 3) * 255).byte().numpy()))
             for i in range(n)]
    return {"image": [torch.stack([p for p, _ in items]), torch.stack([s for _, s in items])]}


def ctx(step=0):
    device = torch.device("cpu")
    return StepContext(0, step, step_generator(device, 0, 0, step), device, True)


@pytest.mark.parametrize("name", [pytest.param("ranking", marks=pytest.mark.slow),
                                  pytest.param("ranking_cls", marks=pytest.mark.slow),
                                  "ranking_regr"])
def test_plugins_check_passes(registry, name):
    results = check(registry, "pretext", registry.get("pretext", name))
    assert all(ok for _, ok in results), results


def test_defaults_are_section_4_3():
    from harness.pretext_pfister_task import PfisterSettings

    s = PfisterSettings()
    assert (s.epochs, s.batch_size, s.image_size, s.lr) == (20, 8, 224, 1e-4)
    assert (s.rms_decay, s.momentum, s.weight_decay, s.lr_decay) == (0.9, 0.9, 4e-5, 0.98)
    assert (s.margin, s.temperature, s.distortions_per_step) == (0.2, 50.0, None)


def test_optimizer_is_rmsprop_with_exponential_decay(registry):
    optimization = make(registry, "ranking").configure_optimizers()
    group = optimization.optimizer.param_groups[0]
    assert isinstance(optimization.optimizer, torch.optim.RMSprop)
    assert (group["lr"], group["alpha"], group["momentum"], group["weight_decay"]) == (
        1e-4, 0.9, 0.9, 4e-5)
    optimization.scheduler.step()
    assert optimization.optimizer.param_groups[0]["lr"] == pytest.approx(0.98e-4)


def test_heads_have_the_papers_output_sizes(registry):
    assert make(registry, "ranking").score[1].out_features == 1
    assert [h[1].out_features for h in make(registry, "ranking_cls").classify] == [6, 9, 6]
    assert make(registry, "ranking_regr").regress[1].out_features == 21
    assert not hasattr(make(registry, "ranking"), "regress")


def test_a_full_batch_has_every_variant(registry):
    vb, scale = make(registry, "ranking").variants(loader_batch(), None)
    assert len(vb) == 2 * 174 and scale == 1.0


def test_quick_sampling_draws_k_distortions_and_scales_the_sums(registry):
    task = make(registry, "ranking_regr", distortions_per_step=3)
    vb, scale = task.variants(loader_batch(), ctx().generator)
    assert scale == 7.0 and len(set(vb.distortion[vb.distortion >= 0].tolist())) == 3
    again, _ = task.variants(loader_batch(), ctx().generator)
    torch.testing.assert_close(vb.images, again.images)  # the step's generator decides
    other, _ = task.variants(loader_batch(), ctx(5).generator)
    assert set(other.distortion.tolist()) != set(vb.distortion.tolist())


@pytest.mark.parametrize("name,other", [("ranking", None), ("ranking_cls", "class_loss"),
                                        ("ranking_regr", "regr_loss")])
def test_the_loss_is_eq_4_5_of_the_logged_losses(registry, name, other):
    task = make(registry, name)
    out = task.training_step(loader_batch(), ctx())
    rank = float(out.logs["rank_loss"])
    # Per base image ~500 pairs at margin 0.2 bound the ranking loss.
    assert 0 < rank <= 500 * 1.2 and 0 <= float(out.logs["pair_acc"]) <= 1
    expected = rank if other is None else math.exp(rank / 50) + math.exp(float(out.logs[other]) / 50)
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)
    assert out.n == 2 * 174


def test_classification_logs_an_accuracy_per_aspect(registry):
    out = make(registry, "ranking_cls").training_step(loader_batch(), ctx())
    for aspect in ("technical", "style", "composition"):
        assert 0 <= float(out.logs[f"class_acc_{aspect}"]) <= 1
    metrics = make(registry, "ranking_cls").pretext_metrics(
        {k: float(v) for k, v in out.logs.items()} | {"loss": float(out.loss)})
    assert {"pair_accuracy", "pair_accuracy_style", "class_accuracy_technical", "loss"} <= set(metrics)


def test_regression_outputs_for_the_analysis(registry):
    task = make(registry, "ranking_regr").eval()
    assert task.distortion_intensities(torch.rand(3, 3, 32, 32)).shape == (3, 21)
    with pytest.raises(UsageError, match="ranking_regr"):
        make(registry, "ranking").distortion_intensities(torch.rand(1, 3, 32, 32))


def test_image_size_must_allow_whole_crop_margins(registry):
    with pytest.raises(ValueError, match="multiple of 4"):
        registry.get("pretext", "ranking").settings(image_size=30)


@pytest.mark.slow
def test_a_short_run_learns_to_order_held_out_pairs(registry, tmp_path):
    """Pretraining on synthetic images: held-out pair ordering well above chance, MAE falls."""
    raw = {"pretext": {"name": "ranking_regr", "image_size": 32, "batch_size": 4, "epochs": 10,
                       "lr": 3e-3, "max_images": 192, "distortions_per_step": 4},
           "head": {"name": "nima", "image_size": 32, "resize": 36, "epochs": 1,
                    "batch_size": 16},
           "backbone": {"name": "tiny"}, "dataset": {"name": "synthetic", "n_images": 40},
           "pretrain": {"dataset": "synthetic", "n_images": 320},
           "run": {"progress": False}}
    Runner(resolve(registry, raw), registry, tmp_path / "run").run()
    info = json.loads((tmp_path / "run" / "pretext.json").read_text())
    history = info["history"]
    # This run measured 0.81 held-out pair accuracy (0.5 is chance); the tiny backbone at 32
    # pixels plateaus there, and thread counts move the last digit, so CI asks for 0.75.
    assert info["metrics"]["pair_accuracy"] >= 0.75, history
    assert history[-1]["val_regr_mae"] < history[0]["val_regr_mae"], history
    assert info["budget"]["epochs"] == 10


def test_new_layers_start_at_zero(registry):
    task = make(registry, "ranking_regr").eval()
    features = torch.rand(3, task.backbone.num_features)
    torch.testing.assert_close(torch.sigmoid(task.score(features)), torch.full((3, 1), 0.5))
    torch.testing.assert_close(task.regress(features), torch.zeros(3, 21))
