"""The imagefolder loader: every image under a tree, a stable split, no labels."""

from __future__ import annotations

import pytest

from harness.errors import DataError
from tests.data.conftest import N


def test_reads_the_pretraining_renders(layout, load):
    root = layout("imagefolder")
    data = load("imagefolder", purpose="pretrain", root=str(root))
    assert len(data.records) == N  # README.txt and the hidden ._ file are passed over
    assert data.labels.kinds == frozenset()
    assert sum(len(v) for v in data.splits.values()) == N
    assert any(p.endswith(".JPG") for p in data.records.image_id)
    assert data.records.path[0] == str(root / data.records.image_id[0])


def test_split_is_stable_when_files_are_added(layout, load):
    root = layout("imagefolder", quirks=False)
    before = load("imagefolder", root=str(root))
    part = {before.records.image_id[i]: k for k, v in before.splits.items() for i in v}
    (root / "extra").mkdir()
    for i in range(30):
        (root / "extra" / f"{i}.jpg").write_bytes(b"not decoded at load time")
    after = load("imagefolder", root=str(root))
    assert len(after.records) == N + 30
    for k, v in after.splits.items():
        assert all(part.get(after.records.image_id[i], k) == k for i in v)


def test_empty_and_missing_folders(tmp_path, load):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=f"imagefolder: no images .jpg, jpeg, png, bmp, webp. "
                                        f"under {tmp_path}"):
        load("imagefolder", root=str(tmp_path))
    with pytest.raises(DataError, match="needs its folder: pass --set pretrain.root=/data/pexels"):
        load("imagefolder")
    with pytest.raises(DataError, match="does not exist"):
        load("imagefolder", root=str(tmp_path / "nope"))
