"""``harness plugins check NAME``: does one plugin honour its contract?

For a pretext or head: build it on the tiny backbone with its ``quick`` settings, run one
forward/backward on a few synthetic images, require a finite loss and finite gradients, and the
same loss twice under the same seed. For a dataset: load it (from a generated copy of its on-disk
layout where it has one) and read an image of every split. For a backbone: its feature taps must
match ``feature_info`` and a backward pass must reach every block.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data.loading import Samples, collate
from harness.data.records import Dataset
from harness.registry import Registry
from harness.training import StepContext, step_generator
from harness.types import PluginSpec

BATCH = 4
Result = tuple[str, bool]


def check(registry: Registry, kind: str, spec: PluginSpec) -> list[Result]:
    """Run the checks for one plugin; returns (description, passed) lines."""
    checks = {"pretext": _check_pretext, "head": _check_head, "dataset": _check_dataset,
              "backbone": _check_backbone}[kind]
    results: list[Result] = []
    try:
        checks(registry, spec, results)
    except Exception as error:  # report, never crash: this is a diagnostic command
        last = traceback.extract_tb(error.__traceback__)[-1]
        results.append((f"{kind} {spec.name!r} raised {type(error).__name__}: {error} "
                        f"({Path(last.filename).name}:{last.lineno})", False))
    return results


def _tiny_backbone(registry: Registry):
    spec = registry.get("backbone", "tiny")
    return spec.factory(spec.settings())


def _synthetic(registry: Registry, purpose: str) -> Dataset:
    spec = registry.get("dataset", "synthetic")
    return spec.factory(spec.settings("quick", n_images=20), purpose)


def _batch(dataset: Dataset, transform: Callable, labels: bool) -> dict[str, Any]:
    samples = Samples(dataset, dataset.split("train")[:BATCH], transform, labels=labels)
    batch = collate([samples[i] for i in range(len(samples))])
    batch.pop("skipped")
    return batch


def _settings(spec: PluginSpec, tmp: Path, backbone) -> Any:
    """Quick settings; a required ``weights`` file is satisfied with the tiny backbone's weights."""
    overrides = {}
    if "weights" in spec.defaults.model_fields and spec.defaults.model_fields["weights"].is_required():
        path = tmp / "tiny_weights.pt"
        torch.save(backbone.state_dict(), path)
        overrides["weights"] = str(path)
    return spec.settings("quick", **overrides)


def _run_twice(make: Callable[[], Any], step: Callable[[Any], torch.Tensor]) -> list[float]:
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        losses.append(float(step(make())))
    return losses


def _ctx() -> StepContext:
    return StepContext(0, 0, step_generator(torch.device("cpu"), 0), torch.device("cpu"), True)


def _gradients_ok(module: torch.nn.Module) -> tuple[bool, bool]:
    grads = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
    return bool(grads), all(torch.isfinite(g).all() for g in grads)


def _check_pretext(registry: Registry, spec: PluginSpec, results: list[Result]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(spec, Path(tmp), _tiny_backbone(registry))

        def make():
            return spec.factory(_tiny_backbone(registry), settings)

        task = make()
        results.append((f"pretext {spec.name!r} builds on the tiny backbone", True))
        if not task.trains:
            task.initialize()
            results.append((f"pretext {spec.name!r} initialises the backbone", True))
            return
        data = _synthetic(registry, "pretrain")
        batch = _batch(data, task.sample_transform(), labels=False)

        def step(task) -> torch.Tensor:
            task.train()
            out = task.training_step(batch, _ctx())
            out.loss.backward()
            return out.loss

        out = task.training_step(batch, _ctx())
        results.append((f"one training step gives a finite loss ({float(out.loss.detach()):.4g})",
                        bool(torch.isfinite(out.loss))))
        out.loss.backward()
        has, finite = _gradients_ok(task)
        results.append(("backward reaches the parameters with finite gradients", has and finite))
        has_backbone, _ = _gradients_ok(task.backbone)
        results.append(("the backbone receives gradients", has_backbone))
        task.configure_optimizers()
        results.append(("configure_optimizers returns an optimizer", True))
        a, b = _run_twice(make, step)
        results.append((f"the same seed gives the same loss twice ({a:.6g}, {b:.6g})",
                        np.isclose(a, b, rtol=1e-5, atol=1e-7)))


def _check_head(registry: Registry, spec: PluginSpec, results: list[Result]) -> None:
    data = _synthetic(registry, "labelled")
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(spec, Path(tmp), _tiny_backbone(registry))

    def make():
        return spec.factory(_tiny_backbone(registry), settings, data.labels)

    head = make()
    results.append((f"head {spec.name!r} builds on the tiny backbone", True))
    batch = _batch(data, head.sample_transform(True), labels=True)

    def step(head) -> torch.Tensor:
        head.train()
        out = head.training_step(batch, _ctx())
        out.loss.backward()
        return out.loss

    head.train()
    out = head.training_step(batch, _ctx())
    results.append((f"one training step gives a finite loss ({float(out.loss.detach()):.4g})",
                    bool(torch.isfinite(out.loss))))
    out.loss.backward()
    has, finite = _gradients_ok(head)
    results.append(("backward reaches the parameters with finite gradients", has and finite))
    head.configure_optimizers()
    head.eval()
    prediction = head.predict(batch["image"])
    shape_ok = tuple(prediction.mean.shape) == (len(batch["image"]),)
    if prediction.dist is not None:
        shape_ok &= tuple(prediction.dist.shape) == (len(batch["image"]), data.labels.n_bins)
    results.append(("predict returns one score (and distribution) per image", shape_ok))
    a, b = _run_twice(make, step)
    results.append((f"the same seed gives the same loss twice ({a:.6g}, {b:.6g})",
                    np.isclose(a, b, rtol=1e-5, atol=1e-7)))


def _check_dataset(registry: Registry, spec: PluginSpec, results: list[Result]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if spec.name == "synthetic":
            dataset = spec.factory(spec.settings("quick", n_images=20), "labelled")
        elif spec.synthetic_format:
            from harness.synthetic.layouts import write_layout

            write_layout(spec.synthetic_format, Path(tmp), n_images=40, seed=0, min_side=48,
                         max_side=64, quirks=False)
            dataset = spec.factory(spec.settings("quick", root=tmp), "labelled")
        else:
            results.append((f"dataset {spec.name!r} has no synthetic layout to test against "
                            f"(DatasetSpec.synthetic_format); only its records were checked",
                            True))
            return
        results.append((f"dataset {spec.name!r} loads: {dataset!r}", isinstance(dataset, Dataset)))
        for name, index in dataset.splits.items():
            if len(index):
                image = dataset.load_image(int(index[0]))
                results.append((f"split {name!r}: reads an image ({image.size[0]}x{image.size[1]})",
                                image.mode == "RGB"))
        records, labels = dataset.records, dataset.labels
        consistent = all(getattr(records, column) is not None for column, kind in
                         (("votes", "distribution"), ("score", "score"), ("binary", "binary"))
                         if labels.has(kind))
        results.append((f"declared labels {sorted(labels.kinds)} are present", consistent))


def _check_backbone(registry: Registry, spec: PluginSpec, results: list[Result]) -> None:
    def make():
        return spec.factory(spec.settings())

    backbone = make()
    x = torch.rand(2, 3, 64, 64)
    features = backbone.forward_features(x)
    ok = len(features) == len(backbone.feature_info) and all(
        f.shape[1] == info.channels for f, info in zip(features, backbone.feature_info))
    results.append((f"forward_features matches feature_info ({len(features)} blocks)", ok))
    pooled = backbone(x)
    results.append((f"forward gives (B, {backbone.num_features}) pooled features",
                    tuple(pooled.shape) == (2, backbone.num_features)))
    pooled.sum().backward()
    has, finite = _gradients_ok(backbone)
    results.append(("backward reaches the parameters with finite gradients", has and finite))

    def step(model) -> torch.Tensor:
        return model(x).sum()

    a, b = _run_twice(make, step)
    results.append((f"the same seed builds the same network ({a:.6g}, {b:.6g})",
                    np.isclose(a, b, rtol=1e-5)))
