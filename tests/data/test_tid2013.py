"""The TID2013 loader: CRLF, case-insensitive names, reference-disjoint and ``all`` splits."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import DataError
from harness.synthetic.dataset import latent_quality, vote_histograms
from harness.synthetic.layouts import tid_layout, tid_name
from tests.data.conftest import N


def test_tid_names_follow_the_real_case_pattern():
    assert tid_name(1, 1, 1, quirks=True) == "I01_01_1.bmp"
    assert tid_name(3, 11, 1, quirks=True) == "I03_11_1.BMP"
    assert tid_name(3, 13, 2, quirks=True) == "i03_13_2.bmp"
    assert tid_name(3, 13, 1, quirks=False) == "i03_13_1.bmp"
    reference, distortion, level = tid_layout(3000)
    assert (reference.max(), distortion.max(), level.max()) == (25, 24, 5)


def test_reads_crlf_and_mixed_case_layout(layout, load):
    root = layout("tid2013")
    assert b"\r\n" in (root / "mos_with_names.txt").read_bytes()
    listed = [line.split()[1] for line in (root / "mos_with_names.txt").read_text().splitlines()]
    on_disk = {p.name for p in (root / "distorted_images").iterdir()}
    assert any(name not in on_disk and name.swapcase() in on_disk for name in listed)
    data = load("tid2013", root=str(root))
    votes = vote_histograms(0, latent_quality(0, N))
    mos = votes @ np.arange(1, 11) / votes.sum(axis=1) - 1
    np.testing.assert_allclose(data.records.score, mos, atol=5e-6)  # 5 decimals in the file
    assert data.records.extra["mos_std"].shape == (N,)
    found = [p.rsplit("/", 1)[1] for p in data.records.path]
    assert sum(name in on_disk for name in found) == N - 1  # every name resolves but the missing
    assert data.labels.kinds == {"score"} and data.labels.scale == (0.0, 9.0)


def test_reference_disjoint_split_and_all(layout, load):
    root = str(layout("tid2013", quirks=False))
    data = load("tid2013", root=root)
    reference = data.records.extra["reference"]
    refs = {k: set(reference[data.split(k)]) for k in ("train", "val", "test")}
    n_refs = len(np.unique(reference))
    assert len(refs["test"]) == round(0.2 * n_refs)
    assert not (refs["train"] & refs["test"] or refs["val"] & refs["test"]
                or refs["train"] & refs["val"])
    assert len(data.split("all")) == N
    every = load("tid2013", root=root, split="all")
    assert len(every.split("test")) == N and "train" not in every.splits
    with pytest.raises(DataError, match="has no split 'train'"):
        every.split("train")


def test_bad_rows_are_named(layout, load):
    root = layout("tid2013", quirks=False)
    rows = (root / "mos_with_names.txt").read_text().splitlines()
    rows[6] = "9.5 " + rows[6].split()[1]
    (root / "mos_with_names.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"mos_with_names.txt:7: MOS 9.5 is outside \[0, 9\]"):
        load("tid2013", root=str(root))
    rows[6] = "4.5 picture.png"
    (root / "mos_with_names.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="mos_with_names.txt:7: image name 'picture.png' is not "
                                        "of the form iRR_DD_L.bmp"):
        load("tid2013", root=str(root))
    (root / "mos_with_names.txt").unlink()
    with pytest.raises(DataError, match=f"TID2013 label file not found: expected "
                                        f"{root}/mos_with_names.txt"):
        load("tid2013", root=str(root))
