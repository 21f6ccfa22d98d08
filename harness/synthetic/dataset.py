"""The built-in synthetic dataset: procedural photo-like images with a known latent quality and
AVA-like vote histograms, deterministic from a seed, rendered in memory (no files, no download).

Labels (per image i, all drawn from ``numpy.random.default_rng([seed, ...])``):

- latent quality ``q_i ~ Beta(2.5, 2)``; the image is rendered with degradations that grow as
  ``q_i`` falls (see :mod:`harness.synthetic.render`);
- a "true" mean opinion ``mu_i = 3.6 + 3.6 q_i + N(0, 0.25^2)`` (rater disagreement about the
  image beyond what its degradations explain, so labels are learnable but not noise-free);
- ``n_i ~ U{100..250}`` votes drawn from a discretised Gaussian over the scores 1..10 with mean
  ``mu_i`` and a per-image spread ``s_i ~ U(1.1, 1.7)``.

This gives AVA-like statistics: mean score about 5.4, about 70 % of images with mean > 5, vote
standard deviations about 1.4. The pretraining mode serves *clean* renders (quality 1) of a
disjoint set of scenes: the "highly aesthetic" base images that Pfister et al.'s distortion
pretext tasks need, never the labelled test images.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PIL import Image

from harness.data.records import AVA_LABELS, UNLABELED, Dataset, Records
from harness.synthetic import render as renderer

#: Scene indices of pretraining images start here, so they never repeat a labelled scene.
PRETRAIN_OFFSET = 10_000_000


def latent_quality(seed: int, n: int) -> np.ndarray:
    """(n,) latent quality in [0, 1] of the labelled images."""
    return np.random.default_rng([seed, 1]).beta(2.5, 2.0, size=n)


def vote_histograms(seed: int, quality: np.ndarray) -> np.ndarray:
    """(n, 10) AVA-like vote counts whose mean rises with quality (see the module docstring)."""
    n = len(quality)
    rng = np.random.default_rng([seed, 2])
    mu = 3.6 + 3.6 * quality + rng.normal(0.0, 0.25, size=n)  # (n,)
    spread = rng.uniform(1.1, 1.7, size=n)  # (n,)
    n_votes = rng.integers(100, 251, size=n)  # (n,)
    scores = np.arange(1, 11, dtype=float)  # (10,)
    density = np.exp(-0.5 * ((scores[None, :] - mu[:, None]) / spread[:, None]) ** 2)  # (n, 10)
    density /= density.sum(axis=1, keepdims=True)
    return np.stack([rng.multinomial(k, p) for k, p in zip(n_votes, density)]).astype(np.float64)


def split_indices(seed: int, n: int, fractions: tuple[float, float, float]
                  ) -> dict[str, np.ndarray]:
    """A seeded train/val/test partition with the given fractions."""
    order = np.random.default_rng([seed, 3]).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}


class SyntheticDataset(Dataset):
    """Renders image ``i`` on demand from (seed, scene index, quality, size); keeps a small cache."""

    def __init__(self, *, n_images: int, seed: int, min_side: int, max_side: int,
                 fractions: tuple[float, float, float], purpose: str, cache_images: int = 4096
                 ) -> None:
        self.seed, self.min_side, self.max_side = seed, min_side, max_side
        self.pretrain = purpose == "pretrain"
        offset = PRETRAIN_OFFSET if self.pretrain else 0
        self.scene = np.arange(n_images, dtype=np.int64) + offset
        ids = np.array([f"syn{seed}_{i}" for i in self.scene])
        if self.pretrain:
            self.quality = np.ones(n_images)
            records = Records(image_id=ids, path=np.full(n_images, ""))
            labels = UNLABELED
        else:
            self.quality = latent_quality(seed, n_images)
            votes = vote_histograms(seed, self.quality)
            score = votes @ np.arange(1, 11) / votes.sum(axis=1)
            records = Records(image_id=ids, path=np.full(n_images, ""), votes=votes, score=score,
                              binary=(score > AVA_LABELS.threshold).astype(np.int8),
                              extra={"latent_quality": self.quality})
            labels = AVA_LABELS
        super().__init__("synthetic", labels, records, split_indices(seed, n_images, fractions),
                         notes=[f"{n_images} procedural images (seed {seed}, "
                                f"{'clean renders for pretraining' if self.pretrain else 'labelled'})"])
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        self._cache_size = cache_images

    def load_image(self, index: int) -> Image.Image:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        scene = int(self.scene[index])
        height, width = renderer.image_size(self.seed, scene, self.min_side, self.max_side)
        if self.pretrain:
            pixels = renderer.render_clean(self.seed, scene, height, width)
        else:
            pixels = renderer.render(self.seed, scene, float(self.quality[index]), height, width)
        image = Image.fromarray(pixels)
        self._cache[index] = image
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image
