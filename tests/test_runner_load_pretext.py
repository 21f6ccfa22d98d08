"""The runner's generic ``Head.load_pretext`` hook: a head receives the whole pretext checkpoint
once, after its backbone was loaded; a failure in it names the head."""

from __future__ import annotations

import pytest
import torch

from harness import hookimpl
from harness.config import resolve
from harness.errors import PluginError
from harness.registry import build_registry
from harness.runner import Runner
from harness.types import HeadSpec
from harness_plugins.head_nima import Nima, NimaSettings

SEEN: list[dict] = []


class Recording(Nima):
    def load_pretext(self, checkpoint):
        SEEN.append({"keys": set(checkpoint), "name": checkpoint["pretext_name"],
                     "same_backbone": all(torch.equal(v, self.backbone.state_dict()[k])
                                          for k, v in checkpoint["backbone"].items()),
                     "task_state": set(checkpoint["pretext"])})


class Broken(Nima):
    def load_pretext(self, checkpoint):
        raise KeyError("decoder.0.weight")


class HeadsPlugin:
    @hookimpl
    def harness_heads(self):
        return [HeadSpec(name=name, summary="nima with a load_pretext", factory=factory,
                         defaults=NimaSettings) for name, factory in
                (("recording", Recording), ("broken_load", Broken))]


def raw(head: str) -> dict:
    return {"pretext": {"name": "rotnet", "epochs": 1, "image_size": 32, "batch_size": 8,
                        "max_images": 16},
            "head": {"name": head, "image_size": 32, "resize": 36, "epochs": 1, "batch_size": 16,
                     "freeze_until_plateau": False},
            "backbone": {"name": "tiny"}, "dataset": {"name": "synthetic", "n_images": 60},
            "pretrain": {"dataset": "synthetic", "n_images": 24}, "run": {"progress": False}}


def test_a_head_receives_the_whole_pretext_checkpoint_once(tmp_path):
    registry = build_registry([HeadsPlugin()])
    SEEN.clear()
    Runner(resolve(registry, raw("recording")), registry, tmp_path / "run").run()
    assert len(SEEN) == 1
    seen = SEEN[0]
    assert {"backbone", "pretext", "pretext_name", "arch", "config"} <= seen["keys"]
    assert seen["name"] == "rotnet" and seen["same_backbone"]
    assert "classifier.weight" in seen["task_state"]  # the task's own layers, not only the backbone


def test_an_error_in_load_pretext_names_the_head(tmp_path):
    registry = build_registry([HeadsPlugin()])
    with pytest.raises(PluginError, match="head 'broken_load' failed to load the pretext"):
        Runner(resolve(registry, raw("broken_load")), registry, tmp_path / "run").run()
