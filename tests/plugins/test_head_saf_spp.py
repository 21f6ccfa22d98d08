"""The saf_spp head: group pooling and split-regressor shapes, the ablation switches, masked SPP on
mixed aspect ratios, continuing the auto-encoder pretext, and a run with cross-dataset evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from harness_plugins.backbone_tiny import TinySettings
from harness_plugins.backbone_tiny import build as tiny
from harness_plugins.head_saf_spp import GroupedLinear, SafSpp, SafSppSettings
from harness_plugins.pretext_autoencoder_semantic import (
    AutoencoderSemantic,
    AutoencoderSemanticSettings,
)
from PIL import Image

from harness.aspect import ShortEdgeCanvas
from harness.config import resolve
from harness.data.records import AVA_LABELS
from harness.errors import ConfigError, UsageError
from harness.losses import js_divergence, kl_divergence, l1_distance
from harness.runner import Runner
from harness.training import StepContext, step_generator

CTX = StepContext(0, 0, step_generator(torch.device("cpu"), 0), torch.device("cpu"), True)


def make_head(seed: int = 0, **overrides) -> SafSpp:
    torch.manual_seed(seed)
    settings = SafSppSettings(**{"image_size": 32, "max_aspect": 1.5, **overrides})
    return SafSpp(tiny(TinySettings()), settings, AVA_LABELS)


def batch_of(images: torch.Tensor, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    dist = torch.softmax(torch.randn(len(images), 10, generator=generator), dim=1)
    return {"image": images, "dist": dist}


def test_group_pooling_and_split_regressor_shapes():
    head = make_head()
    # tiny has 128 channels: c = 120 (rounded down to a multiple of M = 10) via a 1x1 conv, P = 12
    assert head.channels == 120 and head.groups == 10
    assert isinstance(head.bottleneck.layers[0], torch.nn.Conv2d)
    grouped = [m for m in head.regressor.modules() if isinstance(m, GroupedLinear)]
    assert len(grouped) == 1 and grouped[0].weight.shape == (10, 12 * 21, 1)
    _, _, z, extent = head.encode(torch.rand(3, 4, 64, 64))
    assert z.shape == (3, 120, 4, 4)
    assert head.logits(z, extent).shape == (3, 10)
    activation = head.activation(z, extent)
    assert activation.shape == (3, 10) and torch.allclose(activation.sum(1), torch.ones(3))


def test_split_regressor_keeps_groups_apart_and_the_joint_one_mixes_them():
    for split in (True, False):
        head = make_head(split=split)
        z = torch.rand(2, 120, 4, 4, requires_grad=True)
        head.logits(z, torch.tensor([[4, 4], [3, 2]]))[:, 3].sum().backward()
        grad = z.grad.abs().sum(dim=(0, 2, 3))  # (120,) per channel
        group3 = grad[36:48]  # P = 12 maps per group
        if split:
            assert group3.gt(0).all() and grad[:36].sum() == 0 and grad[48:].sum() == 0
        else:
            assert grad[:36].sum() > 0 and grad[48:].sum() > 0


def test_split_false_builds_one_joint_regressor():
    head = make_head(split=False)
    assert not any(isinstance(m, GroupedLinear) for m in head.modules())
    linear = head.regressor[-1]
    assert isinstance(linear, torch.nn.Linear)
    assert (linear.in_features, linear.out_features) == (120 * 21, 10)
    hidden = make_head(split=True, regressor_hidden=8)
    assert [m.weight.shape for m in hidden.regressor if isinstance(m, GroupedLinear)] == [
        (10, 12 * 21, 8), (10, 8, 1)]


@pytest.mark.parametrize("kind, loss", [("l1", l1_distance), ("kl", kl_divergence),
                                        ("js", js_divergence)])
def test_activation_loss_is_the_chosen_distance_to_softmaxed_group_means(kind, loss):
    on = make_head(activation=kind, act_weight=0.7)
    off = make_head(activation_loss=False)
    off.load_state_dict(on.state_dict())
    batch = batch_of(torch.rand(4, 3, 48, 64))  # plain images: the whole map is valid
    out_on, out_off = on.training_step(batch, CTX), off.training_step(batch, CTX)
    assert "act" in out_on.logs and "act" not in out_off.logs
    # independently: mean of each group of 12 maps over all cells, softmax, the distance
    z = on.bottleneck(on.backbone.forward_features(batch["image"], [-1])[0])  # (4, 120, 3, 4)
    group_means = z.reshape(4, 10, 12, *z.shape[-2:]).mean(dim=(2, 3, 4))  # (4, 10)
    expected = loss(batch["dist"], torch.softmax(group_means, dim=1)).mean().detach()
    assert float(out_on.logs["act"]) == pytest.approx(float(expected), rel=1e-5)
    assert float((out_on.loss - out_off.loss).detach()) == pytest.approx(0.7 * float(expected), rel=1e-4)
    # without the activation loss the total is exactly EMD + reconstruction
    assert float(out_off.loss) == pytest.approx(float(out_off.logs["emd"] + out_off.logs["rec"]),
                                                rel=1e-6)


def test_rec_weight_zero_skips_the_decoder():
    head = make_head(rec_weight=0.0)
    out = head.training_step(batch_of(torch.rand(2, 4, 64, 64)), CTX)
    out.loss.backward()
    assert "rec" not in out.logs
    assert all(p.grad is None for p in head.decoder.parameters())
    assert any(p.grad is not None for p in head.backbone.parameters())


def test_channel_fit_drop_and_bad_channel_counts():
    head = make_head(channel_fit="drop")
    assert head.channels == 120 and not list(head.bottleneck.parameters())
    with pytest.raises(ConfigError, match="head.bottleneck_channels=125"):
        make_head(bottleneck_channels=125)
    assert make_head(bottleneck_channels=200).channels == 200


def test_padding_does_not_change_the_prediction():
    head = make_head().eval()
    image = torch.rand(1, 3, 48, 80)  # multiples of tiny's stride 16: features tile exactly
    canvas = torch.zeros(1, 4, 96, 96)
    canvas[:, :3, :48, :80] = image
    canvas[:, 3, :48, :80] = 1
    plain, padded = head.predict(image), head.predict(canvas)
    assert torch.allclose(plain.dist, padded.dist, atol=1e-5)
    assert torch.allclose(plain.mean, padded.mean, atol=1e-5)


def test_mixed_aspect_ratios_and_canvases_of_different_sizes_train_and_predict():
    head = make_head(image_size=32, max_aspect=2.0)
    transform = head.sample_transform(True)
    assert isinstance(transform, ShortEdgeCanvas) and transform.flip
    assert not head.sample_transform(False).flip
    images = [Image.new("RGB", size, (40 * i, 90, 200 - 40 * i))
              for i, size in enumerate([(300, 200), (200, 300), (400, 200), (250, 250)])]
    canvases = torch.stack([transform(image) for image in images])  # (4, 4, 64, 64)
    assert canvases.shape == (4, 4, 64, 64)
    wide = torch.zeros(3, 4, 64, 112)  # a non-square canvas with three different extents
    for i, (h, w) in enumerate([(64, 112), (32, 96), (40, 40)]):
        wide[i, :, :h, :w] = torch.rand(4, h, w)
        wide[i, 3, :h, :w] = 1
    for images in (canvases, wide):
        out = head.training_step(batch_of(images), CTX)
        assert torch.isfinite(out.loss)
        out.loss.backward()
        prediction = head.predict(images)
        assert prediction.mean.shape == (len(images),) and prediction.dist.shape == (len(images), 10)
        assert prediction.mean.min() >= 1 and prediction.mean.max() <= 10


def pretext_checkpoint(name: str = "autoencoder_semantic", **settings) -> dict:
    torch.manual_seed(9)
    task = AutoencoderSemantic(tiny(TinySettings()), AutoencoderSemanticSettings(**settings))
    return {"pretext": task.state_dict(), "pretext_name": name, "backbone":
            task.backbone.state_dict(), "config": {"pretext": {"name": name, **task.settings
                                                               .model_dump()}}}


def test_continues_the_auto_encoder_pretexts_bottleneck_and_decoder():
    checkpoint = pretext_checkpoint()
    head = make_head()
    head.load_pretext(checkpoint)
    for key, value in head.state_dict().items():
        if key.startswith(("bottleneck.", "decoder.")):
            torch.testing.assert_close(value, checkpoint["pretext"][key])
    assert head.decoder_source == "pretext autoencoder_semantic"
    # another pretext (or continue_decoder=false): a fresh decoder, untouched
    for head, checkpoint in ((make_head(), pretext_checkpoint("rotnet")),
                             (make_head(continue_decoder=False), pretext_checkpoint())):
        before = {k: v.clone() for k, v in head.decoder.state_dict().items()}
        head.load_pretext(checkpoint)
        assert all(torch.equal(before[k], v) for k, v in head.decoder.state_dict().items())
        assert head.decoder_source == "fresh"


def test_a_mismatched_auto_encoder_is_a_one_line_error_naming_the_setting():
    with pytest.raises(UsageError, match="head.bottleneck_channels=60"):
        make_head().load_pretext(pretext_checkpoint(bottleneck_channels=60))


def tid2013_layout(registry, tmp_path):
    if "tid2013" not in [spec.name for spec in registry.list("dataset")]:
        pytest.skip("the tid2013 dataset plugin is not installed")
    from harness.synthetic.layouts import write_layout

    write_layout("tid2013", tmp_path / "tid", n_images=30, seed=4, min_side=48, max_side=72,
                 quirks=False)
    return tmp_path / "tid"


@pytest.mark.slow
def test_run_continues_the_auto_encoder_and_evaluates_cross_dataset(registry, tmp_path):
    root = tid2013_layout(registry, tmp_path)
    raw = {"pretext": {"name": "autoencoder_semantic", "epochs": 1, "image_size": 32,
                       "max_aspect": 1.5, "batch_size": 8, "max_images": 16},
           "head": {"name": "saf_spp", "epochs": 1, "image_size": 32, "max_aspect": 1.5,
                    "batch_size": 8},
           "backbone": {"name": "tiny"}, "dataset": {"name": "synthetic", "n_images": 60},
           "pretrain": {"dataset": "synthetic", "n_images": 24},
           "eval": {"dataset": "tid2013", "root": str(root), "use_split": "all"},
           "run": {"progress": False}}
    result = Runner(resolve(registry, raw), registry, tmp_path / "run").run()
    metrics = result.metrics
    assert metrics["saf"]["decoder"] == "pretext autoencoder_semantic"
    assert {"srcc", "plcc", "std_srcc", "std_plcc", "emd"} <= set(metrics)
    cross = metrics["cross"]["tid2013"]
    assert cross["split"] == "all" and {"srcc", "plcc"} <= set(cross)
    frame = pd.read_csv(result.out / "predictions_tid2013.csv")
    assert len(frame) == cross["n_test"] and np.isfinite(frame["pred_mean"]).all()
    cache = torch.load(next((tmp_path / "cache").rglob("checkpoint.pt")), weights_only=False)
    assert any(k.startswith("decoder.") for k in cache["pretext"])
    assert result.pretext["metrics"]["psnr_db"] > 0
