"""Analyses of finished runs: ``harness analyze cross-distortion`` (Pfister et al. 2021, Fig. 4).

Pfister et al. feed the held-out images of their pretraining data, at every level of one
distortion, through the pretrained ``ranking_regr`` network (before fine-tuning) and plot the
outputs of the regression neurons as violins: the brightness neuron follows the brightness level,
and the contrast neuron falls as brightness rises — a cross-distortion relation the loss never
asked for (Eq. 3 only trains the applied distortion's own output).

The run directory names its pretraining checkpoint: ``pretext.json``'s ``cache_key`` in the cache
of ``config.json``'s ``run.cache_dir`` (or ``$HARNESS_CACHE``); the task is rebuilt from
``config.json`` through the plugin registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.cache import CheckpointCache
from harness.config import TOP_LEVEL, resolve
from harness.distortions import catalogue, get
from harness.errors import ImageReadError, UsageError
from harness.io import read_json
from harness.pretext_pfister import make_variants
from harness.registry import Registry


@dataclass
class CrossDistortion:
    """Regression outputs of chosen neurons across the levels of one distortion.

    Attributes:
        distortion: the distortion fed at every level.
        levels: its levels, 0 (the reference) included, increasing.
        neurons: the distortion names whose outputs were read.
        outputs: (n_images, n_levels, n_neurons) regression outputs.
    """

    distortion: str
    levels: list[int]
    neurons: list[str]
    outputs: np.ndarray

    def medians(self) -> dict[str, dict[int, float]]:
        """Per neuron, the median output at each level."""
        med = np.median(self.outputs, axis=0)  # (n_levels, n_neurons)
        return {n: {lv: float(med[i, j]) for i, lv in enumerate(self.levels)}
                for j, n in enumerate(self.neurons)}


def default_neurons(distortion: str) -> list[str]:
    """The distortion's own neuron and the next distortion of the same aspect (catalogue order,
    wrapping): brightness -> contrast, as in Fig. 4."""
    same = [d.name for d in catalogue("pfister2021") if d.aspect == get(distortion).aspect]
    return [distortion, same[(same.index(distortion) + 1) % len(same)]]


def load_pretext(run_dir: Path, registry: Registry):
    """The pretrained task of a run, rebuilt from ``config.json`` with the cached weights."""
    run_dir = Path(run_dir)
    for name in ("config.json", "pretext.json"):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} has no {name}; pass a run directory of `harness run`")
    saved_config, info = read_json(run_dir / "config.json"), read_json(run_dir / "pretext.json")
    config = resolve(registry, {k: v for k, v in saved_config.items()
                                if k in TOP_LEVEL and v is not None})
    path = CheckpointCache(config.run.resolved_cache_dir()).entry(str(info.get("cache_key"))) \
        / "checkpoint.pt"
    if not path.is_file():
        raise UsageError(f"{run_dir}: its pretraining checkpoint {path} is not in the cache "
                         f"(run.cache_dir or HARNESS_CACHE); run the same configuration again")
    task = config.pretext.spec.factory(config.backbone.spec.factory(config.backbone.settings),
                                       config.pretext.settings)
    if not hasattr(task, "distortion_intensities"):
        raise UsageError(f"pretext {config.pretext.name!r} has no distortion-intensity outputs; "
                         f"the cross-distortion analysis needs a ranking_regr run")
    task.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["pretext"])
    return task.eval(), config


def held_out_bases(config, task, max_images: int) -> tuple[list[torch.Tensor], int]:
    """Up to ``max_images`` test-split images of the run's pretraining data as base images (the
    paper feeds "all test images of our collected dataset"); returns them and the skip count."""
    from harness.runner import load_dataset

    dataset = load_dataset(config.pretrain, "pretrain")
    split = "test" if len(dataset.splits.get("test", [])) else "val"
    transform, bases, skipped = task.sample_transform(), [], 0
    for index in dataset.split(split)[:max_images]:
        try:
            pixels, (h, w) = transform(dataset.load_image(int(index)))
        except ImageReadError:
            skipped += 1
            continue
        bases.append(pixels[:, :h, :w].float() / 255.0)
    if not bases:
        raise UsageError(f"the {split} split of pretraining dataset {dataset.name!r} has no "
                         f"readable images")
    return bases, skipped


@torch.no_grad()
def cross_distortion(task, bases: list[torch.Tensor], distortion: str, neurons: list[str],
                     generator: torch.Generator | None = None, chunk: int = 16) -> CrossDistortion:
    """Feed every level of ``distortion`` of each base image through the regression outputs.

    Args:
        task: a pretrained task with ``distortion_intensities`` (``ranking_regr``).
        bases: (3, H, W) base images in [0, 1] (the task's canvas, see ``base_transform``).
        distortion, neurons: catalogue names.
        generator: randomness of noisy distortions.
        chunk: base images per forward pass.
    """
    names = [d.name for d in catalogue("pfister2021")]
    for name in [distortion, *neurons]:
        if name not in names:
            raise UsageError(f"{name!r} is not one of Pfister et al.'s distortions: "
                             f"{', '.join(names)}")
    j, columns = names.index(distortion), [names.index(n) for n in neurons]
    levels = [0, *get(distortion).levels]
    settings, device = task.settings, next(task.parameters()).device
    results = []
    for start in range(0, len(bases), chunk):
        group = [b.to(device) for b in bases[start:start + chunk]]
        vb = make_variants(group, settings.image_size, generator, [j],
                           settings.composition_references)
        edited = (vb.distortion == j).nonzero().squeeze(1)  # (n * L',)
        reference = vb.reference[edited].view(len(group), -1)[:, :1]  # (n, 1)
        rows = torch.cat([reference, edited.view(len(group), -1)], dim=1)  # (n, L) level order
        outputs = task.distortion_intensities(vb.images)[:, columns]  # (N, n_neurons)
        results.append(outputs[rows].cpu().numpy())  # (n, L, n_neurons)
    order = np.argsort(levels)  # rows came reference first, then the levels in order
    return CrossDistortion(distortion, sorted(levels), list(neurons),
                           np.concatenate(results)[:, order])


def violin_plot(result: CrossDistortion, path: Path) -> Path:
    """A PNG with one violin panel per neuron, levels on the x-axis (Fig. 4 of Pfister et al.)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(result.neurons), figsize=(4.5 * len(result.neurons), 3.6),
                             squeeze=False)
    for k, (ax, neuron) in enumerate(zip(axes[0], result.neurons)):
        ax.violinplot([result.outputs[:, i, k] for i in range(len(result.levels))],
                      positions=result.levels, showmedians=True, widths=0.8)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_xticks(result.levels)
        ax.set_xlabel(f"{result.distortion} level")
        ax.set_ylabel(f"{neuron} output")
        ax.set_title(f"{neuron} neuron")
    fig.suptitle(f"Regression outputs across {result.distortion} levels "
                 f"({result.outputs.shape[0]} held-out images)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
