"""``harness analyze cross-distortion`` (Pfister et al. 2021, Fig. 4): level order, medians,
default neurons, the PNG, and the end-to-end command on a tiny ranking_regr run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from harness.analysis import CrossDistortion, cross_distortion, default_neurons, violin_plot
from harness.config import resolve
from harness.distortions import CROP_REFERENCE, ORIGINAL, catalogue
from harness.errors import UsageError
from harness.pretext_pfister import make_variants
from harness.runner import Runner
from tests.test_cli import invoke

NAMES = ["brightness", "contrast"]


def catalogue_names():
    return [d.name for d in catalogue("pfister2021")]


class MeanLight(nn.Module):
    """A stand-in regression network: every output is the image's mean pixel value."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.settings = SimpleNamespace(image_size=16, composition_references=True)

    def distortion_intensities(self, images):
        return images.mean(dim=(1, 2, 3))[:, None].expand(-1, 21)


def test_outputs_follow_the_levels_in_order():
    bases = [torch.full((3, 24, 36), 0.5) + 0.1 * torch.rand(3, 24, 36) for _ in range(3)]
    result = cross_distortion(MeanLight(), bases, "brightness", NAMES, chunk=2)
    assert result.levels == list(range(-5, 6)) and result.outputs.shape == (3, 11, 2)
    # Brightness levels darken (< 0) or brighten (> 0) monotonically; level 0 is the original.
    medians = [result.medians()["brightness"][k] for k in result.levels]
    assert all(a < b for a, b in zip(medians, medians[1:]))
    # Level 0 is the letterboxed original (black bars included), as the network sees it.
    vb = make_variants(bases, 16, None, [catalogue_names().index("brightness")])
    originals = vb.images[vb.distortion == ORIGINAL].mean(dim=(1, 2, 3))
    assert medians[5] == pytest.approx(float(originals.median()), abs=1e-5)


def test_crop_levels_start_from_the_centred_crop():
    bases = [torch.rand(3, 24, 36)]
    result = cross_distortion(MeanLight(), bases, "hcrop", ["hcrop"])
    assert result.levels == list(range(-5, 6)) and result.outputs.shape == (1, 11, 1)
    vb = make_variants(bases, 16, None, [catalogue_names().index("hcrop")])
    centred = float(vb.images[vb.distortion == CROP_REFERENCE].mean())
    original = float(vb.images[vb.distortion == ORIGINAL].mean())
    assert result.outputs[0, 5, 0] == pytest.approx(centred) and centred != original


def test_medians_by_hand():
    outputs = np.array([[[1.0], [4.0]], [[3.0], [0.0]], [[2.0], [8.0]]])  # (3 images, 2 levels, 1)
    result = CrossDistortion("vibrance", [0, 1], ["vibrance"], outputs)
    assert result.medians() == {"vibrance": {0: 2.0, 1: 4.0}}


def test_default_neurons_pair_each_distortion_with_the_next_of_its_aspect():
    assert default_neurons("brightness") == ["brightness", "contrast"]  # as Fig. 4
    assert default_neurons("vibrance") == ["vibrance", "brightness"]
    assert default_neurons("ratio") == ["ratio", "rotate"]
    assert default_neurons("jpeg_compression") == ["jpeg_compression", "defocus_blur"]


def test_unknown_neuron_is_a_usage_error():
    with pytest.raises(UsageError, match="not one of Pfister"):
        cross_distortion(MeanLight(), [torch.rand(3, 24, 36)], "brightness", ["brightnes"])


def test_violin_plot_writes_a_png(tmp_path):
    result = CrossDistortion("brightness", [-1, 0, 1], NAMES, np.random.rand(5, 3, 2))
    path = violin_plot(result, tmp_path / "fig" / "violins.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"




def tiny_run(registry, tmp_path, pretext="ranking_regr"):
    raw = {"pretext": {"name": pretext, "image_size": 16, "batch_size": 2, "epochs": 1,
                       "max_images": 4, "distortions_per_step": 2},
           "head": {"name": "nima", "image_size": 16, "resize": 18, "epochs": 1,
                    "batch_size": 16},
           "backbone": {"name": "tiny"}, "dataset": {"name": "synthetic", "n_images": 40},
           "pretrain": {"dataset": "synthetic", "n_images": 40}, "run": {"progress": False}}
    return Runner(resolve(registry, raw), registry, tmp_path / pretext).run().out


def test_the_command_plots_and_prints_medians(registry, tmp_path, capsys):
    out = tiny_run(registry, tmp_path)
    code, stdout, stderr = invoke(capsys, "analyze", "cross-distortion", str(out),
                                  "--distortion", "brightness", "--max-images", "3")
    assert code == 0, stderr
    png = out / "cross_distortion_brightness.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "brightness" in stdout and "contrast" in stdout and "-5" in stdout and "+" in stdout
    code, stdout, _ = invoke(capsys, "analyze", "cross-distortion", str(out), "--distortion",
                             "shadows", "--neurons", "shadows,highlights,exposure", "--out",
                             str(tmp_path / "s.png"), "--max-images", "2")
    assert code == 0 and (tmp_path / "s.png").is_file() and "exposure" in stdout


def test_a_run_without_regression_outputs_is_refused(registry, tmp_path, capsys):
    out = tiny_run(registry, tmp_path, "ranking")
    code, _, err = invoke(capsys, "analyze", "cross-distortion", str(out), "--distortion",
                          "brightness")
    assert code == 2 and "ranking_regr" in err
