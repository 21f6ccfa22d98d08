"""The runner: resuming a killed run, unreadable images, plugins that fail, cross-dataset eval."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from harness import hookimpl, training
from harness.config import resolve
from harness.errors import DataError, ImageReadError, NonFiniteLossError
from harness.registry import build_registry
from harness.runner import Runner
from harness.types import DatasetSpec, PretextSpec
from harness_plugins.pretext_rotnet import RotNet, RotNetSettings
from harness.synthetic.dataset import SyntheticDataset

HEAD = {"name": "nima", "image_size": 32, "resize": 36, "epochs": 3, "batch_size": 16,
        "freeze_until_plateau": False}
BASE = {"pretext": {"name": "random"}, "head": HEAD, "backbone": {"name": "tiny"},
        "dataset": {"name": "synthetic", "n_images": 80}, "run": {"progress": False}}


class Flaky(SyntheticDataset):
    """The synthetic dataset with some images that cannot be read."""

    broken: set[int] = set()

    def load_image(self, index):
        if index in self.broken:
            raise ImageReadError(f"/data/flaky/{index}.jpg", "unreadable image (truncated)")
        return super().load_image(index)


def flaky_factory(broken):
    def load(settings, purpose):
        dataset = Flaky(n_images=settings.n_images, seed=0, min_side=48, max_side=64,
                        fractions=(0.7, 0.1, 0.2), purpose=purpose)
        dataset.broken = broken
        return dataset
    return load


class FlakyPlugin:
    def __init__(self, broken):
        self.broken = broken

    @hookimpl
    def harness_datasets(self):
        return [DatasetSpec(name="flaky", summary="synthetic with unreadable images",
                            factory=flaky_factory(self.broken), defaults={"n_images": 200})]


class NanRotNet(RotNet):
    def training_step(self, batch, ctx):
        out = super().training_step(batch, ctx)
        if ctx.step == 2:
            out.loss = out.loss * float("nan")
        return out


class NanPlugin:
    @hookimpl
    def harness_pretexts(self):
        return [PretextSpec(name="nan_rotnet", summary="diverges", factory=NanRotNet,
                            defaults=RotNetSettings)]


def run(registry, tmp_path, **overrides):
    raw = {**BASE, **overrides}
    return Runner(resolve(registry, raw), registry, tmp_path / "run").run()


def test_killed_head_training_resumes_where_it_stopped(registry, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    reference = run(registry, tmp_path / "a", run={"progress": False})
    calls = {"n": 0}
    original = training.Trainer._train_step

    def dies_at_step_5(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(training.Trainer, "_train_step", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run(registry, tmp_path / "b", run={"progress": False, "checkpoint_minutes": 0})
    out = tmp_path / "b" / "run"
    assert (out / "config.json").exists() and (out / "head_resume.pt").exists()
    assert not (out / "metrics.json").exists()
    monkeypatch.setattr(training.Trainer, "_train_step", original)
    resumed = run(registry, tmp_path / "b", run={"progress": False, "checkpoint_minutes": 0})
    assert resumed.resumed and "resuming at epoch" in caplog.text
    a = pd.read_csv(reference.out / "predictions.csv")
    b = pd.read_csv(resumed.out / "predictions.csv")
    np.testing.assert_allclose(a.pred_mean, b.pred_mean, atol=1e-5)


def test_unreadable_images_are_skipped_and_listed(tmp_path):
    registry = build_registry([FlakyPlugin({3, 150})])
    result = run(registry, tmp_path, dataset={"name": "flaky", "n_images": 200})
    skipped = pd.read_csv(result.out / "skipped.csv")
    assert sorted(skipped.image_id) == ["syn0_150", "syn0_3"]
    assert set(skipped.reason) == {"unreadable image (truncated)"}
    assert result.metrics["skipped"] == 2
    frame = pd.read_csv(result.out / "predictions.csv")
    assert not set(skipped.image_id) & set(frame.image_id)


def test_too_many_unreadable_images_stop_the_run_naming_the_folder(tmp_path):
    registry = build_registry([FlakyPlugin(set(range(0, 200, 20)))])  # 5 %
    with pytest.raises(DataError) as error:
        run(registry, tmp_path, dataset={"name": "flaky", "n_images": 200})
    assert "/data/flaky" in str(error.value) and "\n" not in str(error.value)


def test_non_finite_loss_names_the_plugin_and_step(tmp_path):
    registry = build_registry([NanPlugin()])
    with pytest.raises(NonFiniteLossError) as error:
        run(registry, tmp_path, pretext={"name": "nan_rotnet", "epochs": 1, "image_size": 32,
                                         "batch_size": 4, "max_images": 16},
            pretrain={"dataset": "synthetic", "n_images": 40})
    message = str(error.value)
    assert "pretext 'nan_rotnet'" in message and "step 2" in message


def test_cross_dataset_evaluation(registry, tmp_path):
    result = run(registry, tmp_path, eval={"dataset": "synthetic", "seed": 7, "n_images": 40})
    cross = result.metrics["cross"]["synthetic"]
    assert cross["n_test"] == 8 and {"srcc", "plcc"} <= set(cross)
    frame = pd.read_csv(result.out / "predictions_synthetic.csv")
    assert len(frame) == 8


def test_label_fraction_is_stratified_and_seeded(registry, tmp_path):
    result = run(registry, tmp_path, head={**HEAD, "label_fraction": 0.5, "epochs": 1})
    assert result.metrics["train_images"] == 28


def test_a_different_configuration_in_the_same_folder_is_refused(registry, tmp_path):
    run(registry, tmp_path)
    (tmp_path / "run" / "metrics.json").unlink()
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="different configuration"):
        run(registry, tmp_path, seed=1)


def test_imagenet_pretext_loads_a_tiny_state_dict(registry, tmp_path):
    spec = registry.get("backbone", "tiny")
    torch.manual_seed(5)
    source = spec.factory(spec.settings())
    path = tmp_path / "tiny_imagenet.pt"
    torch.save(source.state_dict(), path)
    result = run(registry, tmp_path, pretext={"name": "imagenet", "weights": str(path)},
                 head={**HEAD, "epochs": 1})
    saved = torch.load(result.out.parent / "run" / "model.pt", weights_only=False)
    pretext = json.loads((result.out / "pretext.json").read_text())
    assert pretext["facts"]["sha256"]
    cache = torch.load(next((tmp_path / "cache").rglob("checkpoint.pt")), weights_only=False)
    torch.testing.assert_close(cache["backbone"], source.state_dict())
    assert saved["arch"] == "tiny"
