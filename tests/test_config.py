"""Configuration resolution: layers, profiles, one-line errors with suggestions, a stable hash."""

from __future__ import annotations

import pytest

from harness.config import merge, parse_sets, read_config_file, resolve
from harness.errors import ConfigError, UsageError


def raw(**sections):
    base = {"pretext": {"name": "rotnet"}, "head": {"name": "nima"}}
    return merge(base, sections)


def test_defaults_and_quick_profile_on_synthetic(registry):
    config = resolve(registry, raw())
    assert config.profile == "quick"
    assert config.dataset.name == "synthetic" and config.backbone.name == "mobilenet_v2"
    assert config.pretext.settings.image_size == 64  # the quick override
    assert config.eval is None and config.seed == 0


def test_paper_profile_keeps_the_papers_settings(registry):
    config = resolve(registry, raw(profile="paper"))
    assert config.pretext.settings.lr == 0.01 and config.pretext.settings.epochs == 50
    assert config.head.settings.dropout == 0.75 and config.head.settings.lr_backbone == 1e-4


def test_sets_override_files_and_are_typed(registry, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = 3\n[head]\nname = "nima"\nepochs = 5\n[pretext]\nname = "rotnet"\n')
    layered = merge(read_config_file(path), parse_sets(["head.epochs=7", "pretext.lr=0.5"]))
    config = resolve(registry, layered)
    assert config.seed == 3 and config.head.settings.epochs == 7
    assert config.pretext.settings.lr == 0.5


def test_parse_sets_reads_json_values_and_strings():
    assert parse_sets(["a.b=1", "a.c=[1, 2]", "a.d=true", "a.e=hello", "seed=4"]) == {
        "a": {"b": 1, "c": [1, 2], "d": True, "e": "hello"}, "seed": 4}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_sets(["nonsense"])


def test_unknown_key_suggests_the_close_one(registry):
    with pytest.raises(ConfigError) as error:
        resolve(registry, raw(head={"lr_hed": 0.1}))
    message = str(error.value)
    assert "\n" not in message
    assert "head.lr_hed" in message and "did you mean 'lr_head'" in message
    assert error.value.exit_code == 2


def test_ill_typed_key_names_it(registry):
    with pytest.raises(ConfigError) as error:
        resolve(registry, raw(head={"epochs": "many"}))
    assert "head.epochs" in str(error.value) and "'many'" in str(error.value)


def test_unknown_section_and_plugin(registry):
    with pytest.raises(ConfigError, match="did you mean 'head'"):
        resolve(registry, raw(haed={"x": 1}))
    with pytest.raises(UsageError, match="did you mean 'nima'"):
        resolve(registry, raw(head={"name": "nmia"}))


def test_required_setting_is_named(registry):
    with pytest.raises(ConfigError, match=r"pretext.weights is required.*local ImageNet"):
        resolve(registry, raw(pretext={"name": "imagenet"}))


def test_hash_is_stable_and_ignores_operational_settings(registry):
    a = resolve(registry, raw())
    b = resolve(registry, raw(run={"num_workers": 2}, device="cpu"))
    c = resolve(registry, raw(seed=1))
    assert a.hash == b.hash != c.hash
    assert len(a.hash) == 64
    # Same content, different key order: same hash.
    d = resolve(registry, {"head": {"name": "nima"}, "pretext": {"name": "rotnet"}})
    assert d.hash == a.hash


def test_eval_section_needs_a_dataset(registry):
    with pytest.raises(ConfigError, match="eval.dataset"):
        resolve(registry, raw(eval={"use_split": "all"}))
    config = resolve(registry, raw(eval={"dataset": "synthetic", "seed": 5}))
    assert config.eval.name == "synthetic" and config.eval.settings.seed == 5
    assert config.eval.extras == {"use_split": "test"}
