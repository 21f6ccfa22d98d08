"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A reader never sees a half-written file, and a killed process leaves at most a stray ``*.tmp``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _read_umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it; once, at import
    os.umask(current)
    return current


_UMASK = _read_umask()


def atomic_write(path: str | Path, write: Callable[[IO], None], mode: str = "w") -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, fsync it, rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from co-workers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, content: Any) -> Path:
    """Strict JSON: NaN and infinities (e.g. the correlation of a constant prediction) become null."""
    return atomic_write(path, lambda h: json.dump(_finite(content), h, indent=2, sort_keys=False,
                                                  allow_nan=False, default=_json_default)
                        or h.write("\n"))


def _finite(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda h: h.write(text))


def write_csv(path: str | Path, frame) -> Path:
    """Write a pandas DataFrame as CSV (no index)."""
    return atomic_write(path, lambda h: frame.to_csv(h, index=False))


def save_torch(path: str | Path, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda h: torch.save(obj, h), mode="wb")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
