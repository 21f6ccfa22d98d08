"""The style filters against darktable-cli renders (skipped when darktable-cli is absent)."""

from __future__ import annotations

import pytest
import torch
from tests.distortions.distortion_helpers import load_photo, psnr

from harness.distortions import apply, darktable

pytestmark = pytest.mark.skipif(not darktable.available(), reason="darktable-cli is not installed")

# One case per darktable module (colisa, exposure, shadhi, temperature, vibrance); the full table
# is in docs/distortions.md (python -m harness.distortions.darktable).
CASES = [("contrast", 4), ("exposure", 2), ("shadows", -4), ("temperature", -3), ("vibrance", 3)]


@pytest.fixture(scope="module")
def photo():
    return load_photo("coffee", (150, 100))


@pytest.mark.parametrize("name, level", CASES)
def test_fast_filter_matches_darktable(photo, name, level):
    target = darktable.render(photo, name, level) / 255.0
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].double() / 255.0
    out = apply(x, name, level)[0].permute(1, 2, 0).numpy()
    assert psnr(out, target) >= 45.0
    assert psnr(x[0].permute(1, 2, 0).numpy(), target) < 45.0  # the filter did change the image


def test_sidecar_encodes_pfisters_parameters():
    text = darktable.sidecar("shadows", -4, 1000)
    # radius 100 (0x42c80000), shadows -60 (0xc2700000), highlights +100: Pfister's shadows XMP
    assert "000000000000c8420000" + "70c2" + "00000000" + "0000c842" in text
    assert 'darktable:operation="shadhi"' in text
