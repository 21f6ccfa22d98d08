"""``harness make-synthetic``: the built-in synthetic dataset written as real files, in the on-disk
layout of AVA, AADB, CUHK-PQ, TID2013 or a plain image folder, with each dataset's known defects.

The images and labels are those of :class:`harness.synthetic.dataset.SyntheticDataset` with the
same seed (latent quality, vote histograms, :func:`harness.synthetic.render.render`, image sizes
and its default 70/10/20 split); each layout maps them to its dataset's label format:

=========== =================================== ==================================================
format      image ``i`` is written as           label
=========== =================================== ==================================================
ava         ``images/<i+1>.jpg``                the vote counts (AVA.txt), test list = test split
aadb        ``farm<..>_<..>_<..>_<hex>_b.jpg``  ``(mean - 1) / 9`` rounded to 0.05 (in [0, 1])
cuhkpq      ``{High,Low}Quality/<cat>/...``     HighQuality iff mean > 5 (the binary label)
tid2013     ``iRR_DD_L.bmp``                    MOS = mean - 1 (0..9 scale), ``mos_std`` = vote
                                                std / sqrt(votes)
imagefolder ``<a>/<b>/pretrain_<i>.jpg``        none: the clean renders served for pretraining
=========== =================================== ==================================================

Defects written when ``quirks=True`` (each dataset's real ones): AVA's nested ``images/images/``,
test-list ids without a row, a row with zero votes; TID2013's CRLF line endings and mixed-case
names that differ in case from the files on disk; AADB's test images in their own folder with a
stale same-name copy in the main folder; CUHK-PQ's stray ``Thumbs.db`` and upper-case
``.JPG``; in every format but CUHK-PQ one truncated image in train and one missing image in test
(CUHK-PQ has no list that could name a missing file: its truncated image is in test). At the
default 200 images these stay below the 1 % unreadable limit of every split.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.splits import group_split, random_split
from harness.synthetic import render as renderer
from harness.synthetic.dataset import (
    PRETRAIN_OFFSET,
    latent_quality,
    split_indices,
    vote_histograms,
)

FORMATS = ("ava", "aadb", "cuhkpq", "tid2013", "imagefolder")
#: The synthetic plugin's default train/val/test fractions.
FRACTIONS = (0.7, 0.1, 0.2)
CUHKPQ_CATEGORIES = ("animal", "architecture", "human", "landscape", "night", "plant", "static")
#: TID2013: 25 reference images, 24 distortions x 5 levels each.
TID_REFERENCES, TID_PER_REFERENCE = 25, 120


@dataclass
class Synthetic:
    """The labelled synthetic images of ``seed``: what :class:`SyntheticDataset` serves."""

    seed: int
    n: int
    min_side: int
    max_side: int

    def __post_init__(self) -> None:
        self.quality = latent_quality(self.seed, self.n)  # (n,)
        self.votes = vote_histograms(self.seed, self.quality).astype(np.int64)  # (n, 10)
        self.mean = self.votes @ np.arange(1, 11) / self.votes.sum(axis=1)  # (n,)
        self.splits = split_indices(self.seed, self.n, FRACTIONS)

    def image(self, i: int, quality: float | None = None) -> Image.Image:
        height, width = renderer.image_size(self.seed, i, self.min_side, self.max_side)
        q = float(self.quality[i]) if quality is None else quality
        return Image.fromarray(renderer.render(self.seed, i, q, height, width))

    def clean(self, scene: int) -> Image.Image:
        height, width = renderer.image_size(self.seed, scene, self.min_side, self.max_side)
        return Image.fromarray(renderer.render_clean(self.seed, scene, height, width))


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, "JPEG", quality=95)
    else:
        image.save(path, path.suffix.lstrip(".").upper())


def _truncate(path: Path) -> None:
    """Keep the first half of the file: a download cut short."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _write_text(path: Path, lines: list[str], crlf: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    path.write_bytes("".join(line + end for line in lines).encode("ascii"))


def _summary(fmt: str, out: Path, syn_n: int, seed: int, quirks: list[str]) -> str:
    tail = f"; quirks: {', '.join(quirks)}" if quirks else " (no quirks)"
    return f"{fmt} layout of {syn_n} synthetic images (seed {seed}) to {out}{tail}"


# -- AVA ---------------------------------------------------------------------------------------
def write_ava(out: Path, syn: Synthetic, quirks: bool) -> str:
    rng = np.random.default_rng([syn.seed, 12])
    ids = np.arange(1, syn.n + 1)
    train, test = syn.splits["train"], syn.splits["test"]
    folder = out / "images" / "images" if quirks else out / "images"
    votes, notes = syn.votes.copy(), []
    bad_train, zero_row, missing = int(train[0]), int(train[1]), int(test[0])
    if quirks:
        votes[zero_row] = 0
        notes += ["nested images/images/", f"truncated JPEG {ids[bad_train]}.jpg",
                  f"missing image {ids[missing]}.jpg", f"zero-vote row AVA.txt:{zero_row + 1}",
                  "2 test-list ids not in AVA.txt"]
    tags = rng.integers(0, 67, size=(syn.n, 2))  # (n, 2) semantic tags, 0 = none
    challenge = rng.integers(1, 1409, size=syn.n)
    rows = [" ".join(map(str, [i + 1, ids[i], *votes[i], *tags[i], challenge[i]]))
            for i in range(syn.n)]
    _write_text(out / "AVA.txt", rows)
    listed = list(ids[test]) + ([syn.n + 1001, syn.n + 1002] if quirks else [])
    _write_text(out / "aesthetics_image_lists" / "generic_test.jpgl",
                [str(i) for i in rng.permutation(listed)])
    for i in range(syn.n):
        if quirks and i == missing:
            continue
        _save(syn.image(i), folder / f"{ids[i]}.jpg")
    if quirks:
        _truncate(folder / f"{ids[bad_train]}.jpg")
    return _summary("ava", out, syn.n, syn.seed, notes)


# -- AADB --------------------------------------------------------------------------------------
def aadb_name(seed: int, i: int) -> str:
    """A Flickr-style AADB image name (``farm1_333_19438364933_087c8abc60_b.jpg``)."""
    digest = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=5).hexdigest()
    return f"farm{1 + i % 9}_{100 + (7 * i) % 900}_{19000000000 + i}_{digest}_b.jpg"


def aadb_score(mean: np.ndarray) -> np.ndarray:
    """The 1..10 mean mapped to [0, 1] and rounded to a multiple of 0.05, like most AADB scores."""
    return np.clip(np.round((mean - 1.0) / 9.0 / 0.05) * 0.05, 0.0, 1.0).round(2)


def write_aadb(out: Path, syn: Synthetic, quirks: bool) -> str:
    from scipy.io import savemat

    names = [aadb_name(syn.seed, i) for i in range(syn.n)]
    score = aadb_score(syn.mean)
    lists = out / "imgListFiles_label"
    files = {"train": "imgListTrainRegression_score.txt",
             "val": "imgListValidationRegression_score.txt",
             "test": "imgListTestNewRegression_score.txt"}
    for split, file in files.items():
        _write_text(lists / file, [f"{names[i]} {score[i]:g}" for i in syn.splits[split]])
    cell = lambda idx: np.array([names[i] for i in idx], dtype=object)[None, :]  # noqa: E731
    savemat(out / "AADBinfo.mat", {
        "trainNameList": cell(syn.splits["train"]), "trainScore": score[syn.splits["train"]][None],
        "testNameList": cell(syn.splits["test"]), "testScore": score[syn.splits["test"]][None]})
    main, newtest = out / "datasetImages_originalSize", out / "AADB_newtest_originalSize"
    test = set(syn.splits["test"].tolist())
    bad_train, missing = int(syn.splits["train"][0]), int(syn.splits["test"][0])
    stale = int(syn.splits["test"][1])
    for i in range(syn.n):
        if quirks and i == missing:
            continue
        _save(syn.image(i), (newtest if i in test else main) / names[i])
    notes = []
    if quirks:
        _truncate(main / names[bad_train])
        _save(syn.image(stale, quality=0.0), main / names[stale])
        notes = [f"truncated JPEG {names[bad_train]}", f"missing test image {names[missing]}",
                 f"stale copy of test image {names[stale]} in {main.name}/"]
    return _summary("aadb", out, syn.n, syn.seed, notes)


# -- CUHK-PQ -----------------------------------------------------------------------------------
def write_cuhkpq(out: Path, syn: Synthetic, quirks: bool) -> str:
    category = np.random.default_rng([syn.seed, 17]).integers(0, 7, size=syn.n)
    high = syn.mean > 5.0
    paths = [Path("HighQuality" if high[i] else "LowQuality") / CUHKPQ_CATEGORIES[category[i]]
             / f"{syn.seed}_{i:05d}.{'JPG' if quirks and i % 10 == 3 else 'jpg'}"
             for i in range(syn.n)]
    for i, path in enumerate(paths):
        _save(syn.image(i), out / path)
    notes = []
    if quirks:  # the loader lists files sorted; truncate the first of its default test half
        ordered = sorted(path.as_posix() for path in paths)
        bad = ordered[int(random_split(syn.n, 0.5, 0)[1][0])]
        _truncate(out / bad)
        notes.append(f"truncated JPEG {bad}")
    if quirks:
        for folder in sorted(out.glob("*Quality/*")):
            if folder.is_dir():
                (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
        notes += ["Thumbs.db in every category folder", "upper-case .JPG on every 10th image"]
    return _summary("cuhkpq", out, syn.n, syn.seed, notes)


# -- TID2013 -----------------------------------------------------------------------------------
def tid_layout(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, distortion, level) of each of ``n`` images, TID2013-like: 25 references (fewer
    for tiny n) with up to 24 x 5 images each; exactly TID2013's 3,000 names at n = 3000."""
    per_reference = max(1, min(TID_PER_REFERENCE, math.ceil(n / TID_REFERENCES)))
    i = np.arange(n)
    j = i % per_reference
    return i // per_reference + 1, j // 5 + 1, j % 5 + 1


def tid_name(reference: int, distortion: int, level: int, quirks: bool) -> str:
    """The name ``mos_with_names.txt`` gives: TID2013 upper-cases level 1 of distortions 1, 11
    and 13 (``I01_01_1.bmp``, ``I01_11_1.BMP``); without quirks every name is lower case."""
    name = f"i{reference:02d}_{distortion:02d}_{level}.bmp"
    if quirks and level == 1 and distortion in (1, 11, 13):
        name = "I" + name[1:]
        if distortion != 1:
            name = name[:-4] + ".BMP"
    return name


def write_tid2013(out: Path, syn: Synthetic, quirks: bool) -> str:
    reference, distortion, level = tid_layout(syn.n)
    names = [tid_name(r, d, v, quirks) for r, d, v in zip(reference, distortion, level)]
    on_disk = [name.swapcase() if quirks and name != name.lower() else name for name in names]
    mos = syn.mean - 1.0  # (n,) the 1..10 mean on TID2013's 0..9 scale
    total = syn.votes.sum(axis=1)
    spread = np.sqrt(syn.votes @ np.arange(1, 11) ** 2 / total - syn.mean**2)  # (n,)
    std = spread / np.sqrt(total)
    _write_text(out / "mos_with_names.txt", [f"{m:.5f} {name}" for m, name in zip(mos, names)],
                crlf=quirks)
    _write_text(out / "mos_std.txt", [f"{s:.5f}" for s in std], crlf=quirks)
    parts = group_split(reference, 0.2, 0.1, 0)  # the loader's default reference80 split
    bad, missing = int(parts["train"][0]), int(parts["test"][0])
    for i in range(syn.n):
        if not (quirks and i == missing):
            _save(syn.image(i), out / "distorted_images" / on_disk[i])
    for r in np.unique(reference):
        first = int(np.flatnonzero(reference == r)[0])
        name = (f"I{r:02d}.BMP" if r < 25 else f"i{r:02d}.bmp") if quirks else f"i{r:02d}.bmp"
        _save(syn.clean(first), out / "reference_images" / name)
    notes = []
    if quirks:
        _truncate(out / "distorted_images" / on_disk[bad])
        notes = ["CRLF line endings", "names in mos_with_names.txt differ in case from the files "
                 f"({sum(a != b for a, b in zip(names, on_disk))} images)",
                 f"truncated BMP {on_disk[bad]}", f"missing image {names[missing]}"]
    return _summary("tid2013", out, syn.n, syn.seed, notes)


# -- image folder ------------------------------------------------------------------------------
def write_imagefolder(out: Path, syn: Synthetic, quirks: bool) -> str:
    """The clean pretraining renders (scenes ``PRETRAIN_OFFSET + i``), in nested folders."""
    notes = []
    for i in range(syn.n):
        scene = PRETRAIN_OFFSET + i
        ext = ("JPG" if i % 7 == 2 else "png" if i % 7 == 5 else "jpg") if quirks else "jpg"
        path = out / f"set{i % 3}" / f"part{i % 2}" / f"pretrain_{i:05d}.{ext}"
        _save(syn.clean(scene), path)
        if quirks and i == 0:
            _truncate(path)
            notes.append(f"truncated JPEG {path.relative_to(out)}")
    if quirks:
        (out / "README.txt").write_text("photos for pretraining\n")
        (out / "set0" / "._pretrain_00000.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
        notes += ["upper-case .JPG and some .png", "a README.txt and a hidden ._ file"]
    return _summary("imagefolder", out, syn.n, syn.seed, notes)


WRITERS = {"ava": write_ava, "aadb": write_aadb, "cuhkpq": write_cuhkpq,
           "tid2013": write_tid2013, "imagefolder": write_imagefolder}


def write_layout(fmt: str, out: str | Path, *, n_images: int, seed: int, min_side: int,
                 max_side: int, quirks: bool = True) -> str:
    """Write ``n_images`` synthetic images and their labels to ``out`` in ``fmt``'s layout.

    Args:
        fmt: one of :data:`FORMATS`.
        out: the dataset root to write (created; existing files of the same names are replaced).
        n_images: images (at least 10).
        seed: the synthetic dataset seed.
        min_side, max_side: bounds of each image's long side in pixels.
        quirks: also write the real dataset's defects (see the module docstring).

    Returns:
        One line saying what was written and which defects.
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown layout {fmt!r}; choose one of {', '.join(FORMATS)}")
    if n_images < 10:
        raise ValueError(f"n_images must be at least 10, got {n_images}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    syn = Synthetic(seed, n_images, min_side, max(min_side, max_side))
    return WRITERS[fmt](out, syn, quirks)
