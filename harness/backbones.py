"""Backbones: networks cut into named blocks, each a feature tap (after timm's ``FeatureInfo``).

Every backbone exposes ``feature_info`` (name, channels, reduction per block) and
``forward_features(x, indices)``; heads and probes size themselves from ``feature_info``, never
from constants. Weights are random unless the user names a local file: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from harness.errors import UsageError


@dataclass(frozen=True)
class FeatureInfo:
    """One feature tap: the block's name, its output channels, its stride w.r.t. the input."""

    name: str
    channels: int
    reduction: int


class Backbone(nn.Module):
    """A sequence of named blocks; block ``i`` consumes the output of block ``i - 1``.

    Args:
        blocks: (name, module) pairs in order.
        feature_info: one :class:`FeatureInfo` per block.
        arch: the architecture name (for messages and checkpoints).
    """

    def __init__(self, blocks: Sequence[tuple[str, nn.Module]], feature_info: Sequence[FeatureInfo],
                 arch: str) -> None:
        super().__init__()
        if len(blocks) != len(feature_info):
            raise ValueError("one FeatureInfo per block is required")
        self.blocks = nn.ModuleDict(dict(blocks))
        self.feature_info = list(feature_info)
        self.arch = arch

    @property
    def num_features(self) -> int:
        """Channels of the last block (the pooled feature size of :meth:`forward`)."""
        return self.feature_info[-1].channels

    def block_index(self, name: str) -> int:
        names = [info.name for info in self.feature_info]
        if name not in names:
            raise UsageError(f"backbone {self.arch!r} has no block {name!r}; blocks: {', '.join(names)}")
        return names.index(name)

    def forward_features(self, x: torch.Tensor, indices: Sequence[int] | None = None
                         ) -> list[torch.Tensor]:
        """Outputs of the blocks at ``indices`` (default: all), in that order.

        Stops after the deepest requested block. x: (B, 3, H, W) -> list of (B, C_i, H/r_i, W/r_i).
        """
        wanted = list(range(len(self.blocks))) if indices is None else [
            i % len(self.blocks) for i in indices]
        last = max(wanted)
        outputs: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks.values()):
            x = block(x)
            if i in wanted:
                outputs[i] = x
            if i == last:
                break
        return [outputs[i] for i in wanted]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled output of the last block: (B, 3, H, W) -> (B, num_features)."""
        return self.forward_features(x, [-1])[0].mean(dim=(2, 3))

    def load_weights(self, path: str | Path) -> None:
        """Load a local weights file: the harness's own layout (``blocks.*``, e.g. the backbone of a
        pretext checkpoint) or the torchvision layout of this architecture (e.g. ImageNet weights).

        Every tensor of the backbone must be in the file with the right shape (the file's
        classifier is ignored); otherwise a one-line :class:`UsageError` names the file and key.
        """
        state = read_state_dict(path, self.arch)
        if not any(k.startswith("blocks.") for k in state):
            rename = {source: own for own, source in getattr(self, "source_names", {}).items()}
            if not rename:
                raise UsageError(f"backbone.weights: {path} is not in the harness layout and "
                                 f"{self.arch} has no torchvision layout to map it from")
            ignore = getattr(self, "ignore_prefixes", ())
            state = {rename.get(k, f"<unmatched>.{k}"): v for k, v in state.items()
                     if not k.startswith(tuple(ignore))}
        load_into(self, state, path, self.arch)


def read_state_dict(path: str | Path, arch: str) -> dict[str, torch.Tensor]:
    """Load a state dict from a local file; unwrap ``{"state_dict": ...}``/``{"model": ...}``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"backbone.weights: {path} does not exist (weights are never downloaded; "
                         f"name a local {arch} state-dict file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UsageError(f"backbone.weights: {path} is not a PyTorch state dict ({error})") from None
    for key in ("state_dict", "model", "backbone"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"backbone.weights: {path} does not hold a dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, arch: str,
              ignore_prefixes: Sequence[str] = ()) -> None:
    """Load ``state`` into ``model`` strictly (except keys under ``ignore_prefixes``).

    A missing, unexpected or wrongly shaped key is a one-line error naming the file and the key.
    """
    state = {k: v for k, v in state.items() if not k.startswith(tuple(ignore_prefixes))}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(ignore_prefixes))}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        detail = "; ".join(filter(None, [
            f"{len(missing)} missing keys (first: {missing[0]})" if missing else "",
            f"{len(unexpected)} unexpected keys (first: {unexpected[0]})" if unexpected else "",
            (f"shape mismatch at {shapes[0]}: file {tuple(state[shapes[0]].shape)} vs model "
             f"{tuple(own[shapes[0]].shape)}") if shapes else ""]))
        raise UsageError(f"backbone.weights: {path} does not match {arch}: {detail}")
    model.load_state_dict(state, strict=False)


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (weights files enter the checkpoint cache key by content)."""
    digest = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BackboneSettings(BaseModel):
    """Settings every built-in backbone takes.

    Attributes:
        weights: a local state-dict file (torchvision layout, or a harness checkpoint) to start
            from, e.g. ImageNet weights; None means random initialisation.
    """

    model_config = ConfigDict(extra="forbid")
    weights: str | None = None


def cut(arch: str, model: nn.Module, blocks: Sequence[tuple[str, nn.Module]],
        settings: BackboneSettings, ignore_prefixes: Sequence[str] = ("classifier.", "fc.")
        ) -> Backbone:
    """Wrap the ``blocks`` of a torchvision ``model`` and load ``settings.weights`` if given.

    ``feature_info`` is measured with one dummy forward pass (channels and stride per block), so it
    cannot drift from the modules. The backbone remembers the torchvision name of each of its
    tensors, so a torchvision state dict (e.g. ImageNet weights) loads into it later too.
    """
    infos = _measure(blocks)
    backbone = Backbone(blocks, infos, arch)
    source = {id(t): name for name, t in model.state_dict(keep_vars=True).items()}
    backbone.source_names = {name: source[id(t)]
                             for name, t in backbone.state_dict(keep_vars=True).items()
                             if id(t) in source}
    backbone.ignore_prefixes = tuple(ignore_prefixes)
    if settings.weights:
        backbone.load_weights(settings.weights)
    return backbone


def _measure(blocks: Sequence[tuple[str, nn.Module]], size: int = 64) -> list[FeatureInfo]:
    x = torch.zeros(1, 3, size, size)
    infos = []
    with torch.no_grad():
        training = [m.training for _, m in blocks]
        for _, module in blocks:
            module.eval()
        for (name, module) in blocks:
            x = module(x)
            # Nearest power of two: AlexNet's unpadded convolutions give strides like 17.2.
            infos.append(FeatureInfo(name, x.shape[1], 2 ** round(math.log2(size / x.shape[-1]))))
        for (_, module), mode in zip(blocks, training):
            module.train(mode)
    return infos
