"""The registry validates what plugins return, reports broken plugins in one line and goes on."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from harness import hookimpl
from harness.errors import PluginError, UsageError
from harness.registry import build_registry
from harness.types import BackboneSpec, DatasetSpec, HeadSpec, PretextSpec


def _factory(*args):
    return None


class Jigsaw:
    @hookimpl
    def harness_pretexts(self):
        return [PretextSpec(name="jigsaw", summary="Solve puzzles", factory=_factory,
                            references=("Noroozi & Favaro 2016",), version="0.1")]


class JigsawAgain:
    @hookimpl
    def harness_pretexts(self):
        return [PretextSpec(name="jigsaw", summary="Another jigsaw", factory=_factory)]


class WrongType:
    @hookimpl
    def harness_heads(self):
        return [{"name": "mlp", "factory": _factory}]


class Raises:
    @hookimpl
    def harness_heads(self):
        raise RuntimeError("boom")


class BadName:
    @hookimpl
    def harness_pretexts(self):
        return [PretextSpec(name="Bad-Name", summary="x", factory=_factory)]


class Misspelled:
    @hookimpl
    def harness_pretext(self):  # missing the plural "s"
        return []


def test_builtins_are_registered_through_entry_points(registry):
    assert {"random", "imagenet", "rotnet"} <= set(registry.records["pretext"])
    assert "nima" in registry.records["head"]
    assert "synthetic" in registry.records["dataset"]
    assert {"mobilenet_v2", "alexnet", "vgg16", "resnet18", "resnet50", "tiny"} <= set(
        registry.records["backbone"])
    provider = registry.provider("pretext", "rotnet")
    assert provider.module == "harness_plugins.pretext_rotnet"
    assert provider.distribution == "aesthetic-pretext-harness"


def test_in_test_plugin_is_listed_with_its_record():
    registry = build_registry([Jigsaw()], entry_points=False)
    spec = registry.get("pretext", "jigsaw")
    assert spec.references == ("Noroozi & Favaro 2016",) and spec.version == "0.1"


def test_duplicate_name_names_hook_record_and_both_providers():
    with pytest.raises(PluginError) as error:
        build_registry([Jigsaw(), JigsawAgain()], entry_points=False, strict=True)
    message = str(error.value)
    assert "\n" not in message
    assert "harness_pretexts()" in message and "'jigsaw'" in message
    assert "Jigsaw" in message and "JigsawAgain" in message


def test_duplicate_name_without_strict_keeps_the_first(caplog):
    with caplog.at_level(logging.WARNING):
        registry = build_registry([Jigsaw(), JigsawAgain()], entry_points=False)
    assert registry.get("pretext", "jigsaw").summary == "Solve puzzles"
    assert any("provided twice" in p for p in registry.problems)


def test_wrong_record_type_is_rejected_in_one_line():
    with pytest.raises(PluginError) as error:
        build_registry([WrongType()], entry_points=False, strict=True)
    message = str(error.value)
    assert "\n" not in message and "harness_heads()" in message and "HeadSpec" in message


def test_plugin_raising_in_its_hook_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        registry = build_registry([Raises(), Jigsaw()], entry_points=False)
    assert "jigsaw" in registry.records["pretext"]  # the others keep working
    assert registry.records["head"] == {}
    assert len(registry.problems) == 1 and "boom" in registry.problems[0]
    assert "raised in harness_heads()" in caplog.text


def test_plugin_raising_with_strict_is_an_error():
    with pytest.raises(PluginError, match="boom"):
        build_registry([Raises()], entry_points=False, strict=True)


def test_bad_name_is_rejected():
    registry = build_registry([BadName()], entry_points=False)
    assert registry.records["pretext"] == {}
    assert "lower case" in registry.problems[0]


def test_misspelled_hook_fails_loudly():
    with pytest.raises(PluginError, match="harness_pretext"):
        build_registry([Misspelled()], entry_points=False, strict=True)


def test_unknown_name_suggests_close_matches(registry):
    with pytest.raises(UsageError) as error:
        registry.get("pretext", "rotnte")
    assert "did you mean 'rotnet'" in str(error.value)
    assert "available:" in str(error.value)


def test_list_filters_by_glob(registry):
    names = [spec.name for spec in registry.list("backbone", "res*")]
    assert names == ["resnet18", "resnet50"]


def test_dict_defaults_become_a_settings_model():
    spec = HeadSpec(name="mlp", summary="x", factory=_factory, defaults={"lr": 0.1, "epochs": 3},
                    profiles={"quick": {"epochs": 1}})
    assert spec.settings().lr == 0.1
    assert spec.settings("quick").epochs == 1
    with pytest.raises(Exception):
        spec.settings(epochs="many")


def _fake_distribution(tmp_path, module_source: str, module_name: str, entry_name: str):
    """A package and its dist-info in a folder (flake8's finder-test technique)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    info = site / "fake_harness_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-harness-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{entry_name} = {module_name}\n")
    return site


def _run_cli(site, *args):
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from harness.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, str(site), *args], capture_output=True,
                          text=True, timeout=120)


def test_third_party_entry_point_is_discovered(tmp_path):
    site = _fake_distribution(tmp_path, """
        from harness import hookimpl
        from harness.types import PretextSpec
        @hookimpl
        def harness_pretexts():
            return [PretextSpec(name="fake_pretext", summary="A third party's pretext",
                                references=("Someone 2024",), version="0.1",
                                factory=lambda backbone, settings: None)]
    """, "fake_harness_plugin", "fake")
    result = _run_cli(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    import json

    rows = {row["name"]: row for row in json.loads(result.stdout)["plugins"]}
    assert rows["fake_pretext"]["distribution"] == "fake-harness-plugin"
    assert rows["fake_pretext"]["references"] == ["Someone 2024"]
    assert "rotnet" in rows  # the built-ins are still there


def test_third_party_that_fails_to_import_is_skipped(tmp_path):
    site = _fake_distribution(tmp_path, "raise ImportError('missing dependency xyz')\n",
                              "broken_harness_plugin", "broken")
    result = _run_cli(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    import json

    out = json.loads(result.stdout)
    assert any("broken" in p and "missing dependency xyz" in p for p in out["problems"])
    assert any(row["name"] == "rotnet" for row in out["plugins"])
    strict = _run_cli(site, "--strict-plugins", "plugins")
    assert strict.returncode == 1
    assert "missing dependency xyz" in strict.stderr


class TinyBackbonePlugin:
    """A third-party backbone: the tiny CNN under another name, with its own defaults."""

    @hookimpl
    def harness_backbones(self):
        from harness_plugins.backbone_tiny import TinySettings, build

        return [BackboneSpec(name="tiny_wide", summary="tiny CNN, 32 channels", factory=build,
                             defaults=TinySettings, profiles={"quick": {"width": 32}})]


def test_backbone_hook_provides_a_usable_backbone():
    registry = build_registry([TinyBackbonePlugin()], entry_points=False)
    spec = registry.get("backbone", "tiny_wide")
    backbone = spec.factory(spec.settings("quick"))
    assert backbone.feature_info[0].channels == 32


class DatasetPlugin:
    @hookimpl
    def harness_datasets(self):
        return [DatasetSpec(name="mini", summary="a dataset", factory=_factory,
                            defaults={"root": ""})]


def test_dataset_hook_is_collected():
    registry = build_registry([DatasetPlugin()], entry_points=False)
    assert registry.get("dataset", "mini").defaults().root == ""
