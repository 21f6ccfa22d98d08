"""The example third-party package installs with pip, is discovered, and runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "harness-example-plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``pip install`` the example into a folder of its own (real dist-info, real entry points)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True, timeout=300)
    return target


def harness(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "HARNESS_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=cwd)


def test_installed_example_is_listed(site, tmp_path):
    result = harness(site, "plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["plugins"]}
    assert rows["jigsaw"]["distribution"] == "harness-example-plugin"
    assert rows["jigsaw"]["module"] == "harness_example_plugin.jigsaw"


def test_installed_example_runs_end_to_end(site, tmp_path):
    result = harness(site, "run", "--pretext", "jigsaw", "--head", "nima", "--backbone", "tiny",
                     "--out", "run", "--set", "dataset.n_images=60", "--set",
                     "pretext.max_images=16", "--set", "pretext.epochs=1", "--set",
                     "pretext.batch_size=8", "--set", "pretext.image_size=32", "--set",
                     "head.image_size=32", "--set", "head.resize=36", "--set", "head.epochs=1",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pretext = json.loads((tmp_path / "run" / "pretext.json").read_text())
    assert 0 <= pretext["metrics"]["permutation_accuracy"] <= 1


def test_shuffle_tiles_moves_the_quadrants():
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        from harness_example_plugin.jigsaw import PERMUTATIONS, shuffle_tiles
    finally:
        sys.path.pop(0)
    image = torch.zeros(1, 3, 4, 4)
    for tile, (r, c) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)]):
        image[0, :, r:r + 2, c:c + 2] = tile
    generator = torch.Generator().manual_seed(3)
    shuffled, label = shuffle_tiles(image, generator)
    order = PERMUTATIONS[label[0]].tolist()
    got = [int(shuffled[0, 0, r, c]) for r, c in [(0, 0), (0, 2), (2, 0), (2, 2)]]
    assert got == order
