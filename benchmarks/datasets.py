"""Speed of the AVA loader: parsing a full-size AVA.txt into records, and the decode + letterbox
throughput of the training data pipeline.

Run:  PYTHONPATH=. python benchmarks/datasets.py [--rows 255530] [--images 256] [--side 512]
                                                 [--listing]

1. Writes a full-size ``AVA.txt`` (255,530 rows of 15 integers, random vote counts) and a
   20,000-id ``generic_test.jpgl`` (70 ids without a row, like the real list) to a temporary
   folder, then times the ``ava`` plugin's ``load`` (``check_files=False``: no image folder is
   listed, since no 255k images are written) into records and the standard split. Target:
   <= 2 s. Records are paths and label arrays; no image is decoded. With ``--listing`` it also
   creates one empty ``<id>.jpg`` per row and times the load with ``check_files=True`` (the
   one-directory-listing pre-scan for missing images).
2. Writes ``--images`` synthetic images (long side ``--side / 4 * 3`` to ``--side`` pixels, like
   AVA's photos) with ``harness make-synthetic --format ava`` and times one epoch of the training
   data pipeline (``Samples`` -> ``EpochBatchSampler`` -> ``DataLoader``: decode, letterbox to
   224, to tensor, collate) with 0 and 2 workers, after one warm-up epoch each. With 0 workers
   it runs twice: with torch's default intra-op threads and with one thread (``run.threads=1``);
   loader workers always use one thread. On a busy machine the default thread pool makes the
   tiny per-image tensor ops of ``to_tensor`` slow in the main process.

The last lines are ``parse_seconds``, ``parse_rows_per_second``, ``images_per_second_w0``,
``images_per_second_w0_1thread``, ``images_per_second_w2`` and ``worker_speedup`` (w2 / w0 with
one thread, measured in this run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harness.data.images import letterbox, to_tensor
from harness.data.loading import EpochBatchSampler, Samples, make_loader
from harness.synthetic.layouts import write_layout


def write_ava_txt(root: Path, rows: int, seed: int = 0) -> None:
    """A full-size AVA.txt and generic_test.jpgl with AVA-like columns."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(53, 958298), size=rows, replace=False))
    votes = rng.multinomial(210, np.full(10, 0.1), size=rows)  # (rows, 10)
    table = np.column_stack([np.arange(1, rows + 1), ids, votes,
                             rng.integers(0, 67, size=(rows, 2)), rng.integers(1, 1409, rows)])
    text = "\n".join(" ".join(row) for row in table.astype(str).tolist()) + "\n"
    (root / "AVA.txt").write_text(text)
    test = np.concatenate([rng.choice(ids, size=19_930, replace=False),
                           np.arange(958_300, 958_370)])
    (root / "aesthetics_image_lists").mkdir()
    (root / "aesthetics_image_lists" / "generic_test.jpgl").write_text(
        "\n".join(map(str, rng.permutation(test))) + "\n")
    (root / "images").mkdir()


def time_parse(rows: int, listing: bool) -> tuple[float, int, float | None]:
    """Best of 3 loads without the file listing, and (with ``listing``) best of 3 with it."""
    from harness_plugins.dataset_ava import AvaSettings, load

    def best_of_3(settings: AvaSettings) -> tuple[float, int]:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            data = load(settings, "labelled")
            best = min(best, time.perf_counter() - start)
        assert len(data.records) == rows and len(data.split("test")) == 19_930
        assert not any("missing" in note for note in data.notes)
        return best, len(data.records)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_ava_txt(root, rows)
        seconds, n = best_of_3(AvaSettings(root=str(root), check_files=False))
        with_listing = None
        if listing:
            for image_id in np.loadtxt(root / "AVA.txt", dtype=np.int64, usecols=1):
                (root / "images" / f"{image_id}.jpg").touch()
            with_listing, _ = best_of_3(AvaSettings(root=str(root), check_files=True))
        return seconds, n, with_listing


def transform(image):
    """What a head's evaluation transform does: letterbox to 224 (Pfister et al. §4.1)."""
    return to_tensor(letterbox(image, 224))


def time_pipeline(n_images: int, side: int, workers: int, root: Path) -> float:
    from harness_plugins.dataset_ava import AvaSettings, load

    data = load(AvaSettings(root=str(root)), "labelled")
    index = np.arange(len(data.records))
    sampler = EpochBatchSampler(len(index), 32, seed=0, shuffle=True, drop_last=False)
    loader = make_loader(Samples(data, index, transform), sampler, workers, pin=False, seed=0)
    rates = []
    for epoch in range(2):  # the first epoch starts the workers and warms the page cache
        sampler.set_epoch(epoch)
        start, seen = time.perf_counter(), 0
        for batch in loader:
            seen += len(batch["image"])
        rates.append(seen / (time.perf_counter() - start))
    return rates[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=255_530)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--listing", action="store_true",
                        help="also time the load with the image-folder listing (writes one empty "
                             "file per row)")
    args = parser.parse_args()

    seconds, rows, with_listing = time_parse(args.rows, args.listing)
    print(f"parse AVA.txt ({rows} rows) into records + standard split: {seconds:.3f} s "
          f"({rows / seconds:,.0f} rows/s; target <= 2 s)")
    if with_listing is not None:
        print(f"the same with check_files (one listing of {rows} files): {with_listing:.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_layout("ava", root, n_images=args.images, seed=0, min_side=args.side * 3 // 4,
                     max_side=args.side, quirks=False)
        threads = torch.get_num_threads()
        rate = {"w0": time_pipeline(args.images, args.side, 0, root)}
        torch.set_num_threads(1)
        rate["w0_1thread"] = time_pipeline(args.images, args.side, 0, root)
        torch.set_num_threads(threads)
        rate["w2"] = time_pipeline(args.images, args.side, 2, root)
    for name, value in rate.items():
        print(f"decode + letterbox 224 + collate, {name}: {value:.1f} images/s")
    print(f"parse_seconds {seconds:.3f}")
    print(f"parse_rows_per_second {rows / seconds:.0f}")
    if with_listing is not None:
        print(f"parse_with_listing_seconds {with_listing:.3f}")
    for name, value in rate.items():
        print(f"images_per_second_{name} {value:.1f}")
    print(f"worker_speedup {rate['w2'] / rate['w0_1thread']:.2f}")


if __name__ == "__main__":
    main()
