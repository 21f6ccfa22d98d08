"""Multi-process training with torch.distributed, started by ``torchrun``.

``torchrun --nproc_per_node=K -m harness run ...`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`init_from_env` joins the process group (NCCL on CUDA, gloo on CPU). Each
rank trains on its own shard of every epoch's batches, DDP averages the gradients, epoch logs are
summed across ranks, and rank 0 alone writes files. Without ``torchrun`` everything here is a no-op.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_type: str) -> bool:
    """Join the process group ``torchrun`` describes; True if this is a multi-process run."""
    if env_world_size() <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on rank 0 (the only rank that writes files)."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def sum_across(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Element-wise sum of a dict of floats over all ranks (same keys on every rank)."""
    if not active() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))


def broadcast(obj, src: int = 0):
    """Rank ``src``'s Python object on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
