"""``harness make-synthetic``: the built-in synthetic images and labels in each real layout."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from harness.data.images import read_rgb
from harness.errors import ImageReadError
from harness.synthetic import render
from harness.synthetic.dataset import PRETRAIN_OFFSET, SyntheticDataset
from harness.synthetic.layouts import FORMATS, write_layout

N, SIDE = 20, (32, 40)


def builtin(purpose: str = "labelled") -> SyntheticDataset:
    return SyntheticDataset(n_images=N, seed=0, min_side=SIDE[0], max_side=SIDE[1],
                            fractions=(0.7, 0.1, 0.2), purpose=purpose)


def write(fmt, out, quirks=True):
    return write_layout(fmt, out, n_images=N, seed=0, min_side=SIDE[0], max_side=SIDE[1],
                        quirks=quirks)


def test_ava_rows_are_the_builtin_votes(tmp_path):
    summary = write("ava", tmp_path, quirks=False)
    assert summary.startswith(f"ava layout of {N} synthetic images (seed 0) to {tmp_path}")
    table = np.loadtxt(tmp_path / "AVA.txt", dtype=np.int64)
    data = builtin()
    assert table.shape == (N, 15)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, N + 1))
    np.testing.assert_array_equal(table[:, 2:12], data.records.votes)
    test = np.loadtxt(tmp_path / "aesthetics_image_lists" / "generic_test.jpgl", dtype=np.int64)
    np.testing.assert_array_equal(np.sort(test), data.split("test") + 1)


def test_images_are_the_builtin_renders(tmp_path):
    write("tid2013", tmp_path, quirks=False)  # BMP: lossless, so pixels must match exactly
    data = builtin()
    names = [line.split()[1] for line in (tmp_path / "mos_with_names.txt").read_text().split("\n")
             if line]
    for i in (0, 7, N - 1):
        on_disk = np.asarray(Image.open(tmp_path / "distorted_images" / names[i]))
        np.testing.assert_array_equal(on_disk, np.asarray(data.load_image(i)))
    write("imagefolder", tmp_path / "folder", quirks=False)
    pretrain = builtin("pretrain")
    first = sorted((tmp_path / "folder").rglob("pretrain_00000.jpg"))[0]
    jpeg = np.asarray(Image.open(first), dtype=float)
    clean = np.asarray(pretrain.load_image(0), dtype=float)
    assert pretrain.scene[0] == PRETRAIN_OFFSET and jpeg.shape == clean.shape
    assert np.abs(jpeg - clean).mean() < 6  # JPEG quality 95


def test_tid_quirks_crlf_and_case(tmp_path):
    write("tid2013", tmp_path)
    raw = (tmp_path / "mos_with_names.txt").read_bytes()
    assert raw.count(b"\r\n") == N and raw.endswith(b"\r\n")
    names = [line.split()[1] for line in raw.decode().splitlines()]
    on_disk = {p.name for p in (tmp_path / "distorted_images").iterdir()}
    upper = [n for n in names if n != n.lower()]
    assert upper and all(n not in on_disk for n in upper)
    assert len(on_disk) == N - 1  # one image missing
    assert sorted(p.name for p in (tmp_path / "reference_images").iterdir())[0] == "I01.BMP"
    write("tid2013", tmp_path / "clean", quirks=False)
    assert b"\r" not in (tmp_path / "clean" / "mos_with_names.txt").read_bytes()


def test_every_quirk_is_readable_or_reported(tmp_path):
    write("ava", tmp_path)
    folder = tmp_path / "images" / "images"
    table = np.loadtxt(tmp_path / "AVA.txt", dtype=np.int64)
    assert (table[:, 2:12].sum(axis=1) == 0).sum() == 1
    assert len(list(folder.iterdir())) == N - 1
    unreadable = []
    for path in sorted(folder.iterdir()):
        try:
            read_rgb(str(path))
        except ImageReadError:
            unreadable.append(path.name)
    assert len(unreadable) == 1
    write("cuhkpq", tmp_path / "pq")
    assert len(list((tmp_path / "pq").rglob("Thumbs.db"))) >= 2
    assert list((tmp_path / "pq").rglob("*.JPG"))


def test_layouts_are_deterministic(tmp_path):
    for fmt in ("aadb", "cuhkpq"):
        write(fmt, tmp_path / "a" / fmt)
        write(fmt, tmp_path / "b" / fmt)
        files = sorted(p.relative_to(tmp_path / "a" / fmt)
                       for p in (tmp_path / "a" / fmt).rglob("*") if p.is_file())
        for rel in files:
            if rel.suffix != ".mat":  # savemat stamps the creation time in the header
                assert (tmp_path / "a" / fmt / rel).read_bytes() == \
                    (tmp_path / "b" / fmt / rel).read_bytes(), rel


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout 'kadid'"):
        write_layout("kadid", tmp_path, n_images=N, seed=0, min_side=32, max_side=40)
    with pytest.raises(ValueError, match="at least 10"):
        write_layout("ava", tmp_path, n_images=5, seed=0, min_side=32, max_side=40)
    assert set(FORMATS) == {"ava", "aadb", "cuhkpq", "tid2013", "imagefolder"}
    assert render.MIN_SIDE <= SIDE[0]


def test_cli_writes_a_layout(tmp_path):
    from harness.cli import cli

    result = CliRunner().invoke(cli, ["make-synthetic", "--format", "aadb", "--out",
                                      str(tmp_path), "--n", "12", "--min-side", "32",
                                      "--max-side", "40", "--clean"])
    assert result.exit_code == 0, result.output
    assert "aadb layout of 12 synthetic images" in result.output and "(no quirks)" in result.output
    assert (tmp_path / "AADBinfo.mat").is_file()
    n_test = 12 - round(0.7 * 12) - round(0.1 * 12)  # split_indices: the rest is test
    assert len(list((tmp_path / "AADB_newtest_originalSize").iterdir())) == n_test
