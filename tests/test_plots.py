"""Leaderboard plots: they draw exactly the tables' numbers (label efficiency) and the runs'
per-block metrics (linear probes), and are skipped when there is nothing to draw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import plots
from harness.leaderboard import Options, build, sections
from harness.rundirs import scan

RUNS = Path(__file__).resolve().parent / "fixtures" / "publish" / "rundirs"


@pytest.fixture(scope="module")
def synthetic_tables():
    runs, _ = scan(RUNS)
    out = []
    for section in sections(runs):
        if section.dataset == "synthetic" and section.eval_dataset is None:
            members = [r for r in runs if r.dataset == section.dataset
                       and r.label_fraction == section.label_fraction]
            out.append(build(section, members, Options(n_resamples=200)))
    return out


def test_label_efficiency_curves_show_the_table_values(synthetic_tables):
    fig = plots.label_efficiency_figure(synthetic_tables)
    titles = [ax.get_ylabel() for ax in fig.axes]
    assert titles == ["SRCC ↑", "ACC ↑", "MAE ↓"]
    lines = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}  # errorbar: data line
    # random and the linear probe were run at one label fraction only: no curve.
    assert sorted(lines) == ["imagenet / nima / tiny", "rotnet / nima / tiny"]
    by_fraction = {t.section.label_fraction: t for t in synthetic_tables}
    rotnet = lines["rotnet / nima / tiny"]
    expected = [next(r for r in by_fraction[f].rows if r.key == ("rotnet", "nima", "tiny"))
                .mean_std("srcc")[0] for f in (0.25, 1.0)]
    np.testing.assert_allclose(rotnet.get_xdata(), [0.25, 1.0], rtol=0.05)  # dodged a little
    np.testing.assert_allclose(rotnet.get_ydata(), expected, rtol=0, atol=1e-12)


def test_block_curves_show_the_mean_of_the_runs_blocks(synthetic_tables):
    fig = plots.blocks_figure(synthetic_tables)
    assert [ax.get_ylabel() for ax in fig.axes] == ["test ACC ↑", "test SRCC ↑"]
    (container,) = fig.axes[0].containers
    line = container.lines[0]
    blocks = json.loads((RUNS / "synthetic/rotnet_probe_s0/metrics.json").read_text())["blocks"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(blocks)
    np.testing.assert_allclose(line.get_ydata(), [b["acc"] for b in blocks.values()])
    (floor,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "constant"]
    constant = next(r for r in synthetic_tables[0].rows if r.key[0] == "constant")
    assert floor.get_ydata()[0] == pytest.approx(constant.mean_std("acc")[0])


def test_nothing_to_draw_gives_no_file(synthetic_tables, tmp_path):
    full = [t for t in synthetic_tables if t.section.label_fraction == 1.0]
    assert plots.label_efficiency(full, tmp_path / "x.png") is None
    without_probe = [t for t in synthetic_tables if t.section.label_fraction != 1.0]
    assert plots.blocks(without_probe, tmp_path / "y.png") is None
    assert not list(tmp_path.iterdir())


def test_plots_are_png_files(synthetic_tables, tmp_path):
    path = plots.label_efficiency(synthetic_tables, tmp_path / "eff.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 200
