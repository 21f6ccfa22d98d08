"""Same generator seed -> bit-identical output; CPU and CUDA agree where a GPU is present."""

from __future__ import annotations

import pytest
import torch

from harness.distortions import apply, catalogue, pfister_batch

RANDOM = [
    "gaussian_noise",
    "impulse_noise",
    "motion_blur",
    "sheng_gaussian_noise",
    "sheng_patch_shuffle",
    "sheng_mixup",
]
ALL = [d.name for d in catalogue()]


def _images(name: str) -> torch.Tensor:
    torch.manual_seed(0)
    side = 48 if name != "sheng_rotation" else 40
    return torch.rand(3, 3, side, 40 if name == "sheng_rotation" else 56)


def _levels(name: str) -> list[int]:
    levels = next(d for d in catalogue() if d.name == name).levels
    return [levels[0], levels[-1], levels[len(levels) // 2]]


@pytest.mark.parametrize("name", RANDOM)
def test_same_seed_same_output_other_seed_other_output(name):
    x = _images(name)
    a = apply(x, name, _levels(name), torch.Generator().manual_seed(11))
    b = apply(x, name, _levels(name), torch.Generator().manual_seed(11))
    others = [apply(x, name, _levels(name), torch.Generator().manual_seed(s)) for s in (12, 13, 14)]
    assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for c in others)  # (mixup's partner shift has 2 values here)


def test_generator_state_advances_by_one_draw_per_call():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 32, 32)
    apply(x, "jpeg_compression", 1, g)
    apply(x, "gaussian_noise", 3, g, backend="reference")
    h = torch.Generator().manual_seed(5)
    apply(x, "defocus_blur", 2, h)
    apply(x, "gaussian_noise", 5, h)
    assert torch.equal(g.get_state(), h.get_state())


def test_pfister_batch_is_deterministic():
    x = [torch.rand(3, 40, 60, generator=torch.Generator().manual_seed(1))]
    a = pfister_batch(x, size=32, generator=torch.Generator().manual_seed(2))
    b = pfister_batch(x, size=32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.images, b.images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ALL)
def test_cpu_and_cuda_agree(name):
    x = _images(name)
    levels = _levels(name)
    cpu = apply(x, name, levels, torch.Generator().manual_seed(3))
    gpu = apply(x.cuda(), name, levels, torch.Generator().manual_seed(3)).cpu()
    if name in ("jpeg_compression", "sheng_jpeg"):  # nvjpeg vs libjpeg-turbo
        assert (cpu - gpu).pow(2).mean().item() < 1e-3
    else:
        torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0)
