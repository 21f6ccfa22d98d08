"""CPU chunking: chunks in key order reassemble into the one-call result."""

from __future__ import annotations

import pytest
import torch

from harness.distortions import apply
from harness.distortions._batching import chunked


def _scaled(images: torch.Tensor, keys: list[int]) -> torch.Tensor:
    return images * torch.tensor(keys, dtype=images.dtype).view(-1, 1, 1, 1)


@pytest.mark.parametrize("keys", [None, [3, 1, 2, 1, 3, 2, 1], [1, 1, 1, 2, 2, 3, 3]])
def test_chunks_in_key_order_reassemble_the_batch(keys):
    x = torch.rand(7, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    levels = [3, 1, 2, 1, 3, 2, 1] if keys is None else keys
    seen = []

    def fn(images, lv):
        seen.append(list(lv))
        return _scaled(images, lv)

    out = chunked(x, fn, levels, limit=2 * 60, keys=keys)  # 2 images per chunk
    torch.testing.assert_close(out, _scaled(x, levels), atol=0, rtol=0)
    assert len(seen) == 4
    if keys is not None:  # each chunk holds one key where the counts allow
        assert seen == [[1, 1], [1, 2], [2, 3], [3]]


def test_apply_with_mixed_levels_chunked_equals_one_image_at_a_time():
    x = torch.rand(15, 3, 224, 224, generator=torch.Generator().manual_seed(1))  # 2 chunks
    levels = [5, 1, 3, 2, 4, 1, 5, 3, 2, 4, 1, 2, 3, 4, 5]
    mixed = apply(x, "pixelate", levels)
    for i, level in enumerate(levels):
        torch.testing.assert_close(mixed[i : i + 1], apply(x[i : i + 1], "pixelate", level))
