"""The content-addressed cache of pretraining checkpoints.

The key is a sha256 of everything that determines a pretrained backbone: the pretext section,
the backbone section (with the content hash of a weights file), the pretraining-data section, the
seed, and the versions of those three plugins. A sweep over H heads therefore pretrains each
pretext configuration once. Each entry is a folder::

    <cache>/pretext/<key>/checkpoint.pt   {"backbone": state dict, "pretext": full task state, ...}
                          pretext.json    the task's validation metrics and its budget
                          resume.pt       only while training (resumable)
                          .lock           a file lock: one writer per entry
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from harness.backbones import file_digest
from harness.config import RunConfig, sha256_json


def _with_digest(section: dict) -> dict:
    """A weights file enters the key by content, not only by path."""
    weights = section.get("weights")
    if isinstance(weights, str) and weights:
        try:
            return {**section, "weights": {"path": weights, "sha256": file_digest(weights)}}
        except OSError:
            return section  # a missing file is reported, with its key, when it is loaded
    return section


def cache_key(config: RunConfig) -> str:
    backbone = _with_digest(config.backbone.to_json())
    return sha256_json({
        "pretext": _with_digest(config.pretext.to_json()), "pretext_version": config.pretext.spec.version,
        "backbone": backbone, "backbone_version": config.backbone.spec.version,
        "pretrain": config.pretrain.to_json(), "pretrain_version": config.pretrain.spec.version,
        "seed": config.seed,
    })


class CheckpointCache:
    """Folders of finished (and in-progress) pretraining runs under ``root/pretext``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "pretext"

    def entry(self, key: str) -> Path:
        return self.root / key

    def is_complete(self, key: str) -> bool:
        entry = self.entry(key)
        return (entry / "checkpoint.pt").is_file() and (entry / "pretext.json").is_file()

    def lock(self, key: str) -> FileLock:
        entry = self.entry(key)
        entry.mkdir(parents=True, exist_ok=True)
        return FileLock(str(entry / ".lock"))
