"""What a run records about where it came from, before anything runs."""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("aesthetic-pretext-harness", "torch", "torchvision", "timm", "lightly", "kornia",
            "numpy", "scipy", "scikit-learn", "pandas", "pillow", "imagecorruptions", "pydantic")


def git_state(path: Path | None = None) -> dict[str, Any]:
    """The git SHA and dirty flag of the checkout holding the harness (None outside a checkout)."""
    path = path or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return {"sha": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device: torch.device, plugins: dict[str, Any], seed: int) -> dict[str, Any]:
    """Git state, package and plugin versions, device, seeds, Python, time and command line."""
    return {"git": git_state(), "packages": package_versions(), "plugins": plugins,
            "device": device_description(device), "seeds": {"run": seed},
            "python": sys.version.split()[0], "platform": platform.platform(),
            "command": sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
