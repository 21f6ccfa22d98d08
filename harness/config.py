"""Resolving a run's configuration: typed sections, one per component, and a stable hash.

Layers, later wins: each plugin's defaults (the paper's settings) < the profile's overrides
(``quick`` or ``paper``) < ``--config FILE`` (TOML or JSON) < command-line options < ``--set``.

A configuration file is data only::

    seed = 1
    [pretext]
    name = "ranking_regr"
    epochs = 4
    [head]
    name = "nima"
    [dataset]
    name = "ava"
    root = "/data/AVA"

Sections and what selects their plugin:

========  =============  ===================================================================
section   selector key   the rest of the section
========  =============  ===================================================================
pretext   ``name``       the pretext plugin's settings
head      ``name``       the head plugin's settings
dataset   ``name``       the labelled dataset's settings (default ``synthetic``)
backbone  ``name``       the backbone's settings (default ``mobilenet_v2``)
pretrain  ``dataset``    the pretraining images' dataset settings (default ``synthetic``)
eval      ``dataset``    a second dataset to evaluate on without fine-tuning (cross-dataset),
                         ``use_split`` (default ``test``) and that dataset's settings
run       --             operational settings (:class:`RunSettings`); not part of the hash
========  =============  ===================================================================
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError, UsageError
from harness.registry import Registry
from harness.types import PROFILES, PluginSpec, Settings

TOP_LEVEL = ("seed", "device", "profile", "pretext", "head", "dataset", "backbone", "pretrain",
             "eval", "run")
#: section -> (plugin kind, selector key, default plugin name)
PLUGIN_SECTIONS = {
    "pretext": ("pretext", "name", None),
    "head": ("head", "name", None),
    "dataset": ("dataset", "name", "synthetic"),
    "backbone": ("backbone", "name", "mobilenet_v2"),
    "pretrain": ("dataset", "dataset", "synthetic"),
    "eval": ("dataset", "dataset", None),
}
SECTION_EXTRAS = {"eval": {"use_split": "test"}}


class RunSettings(Settings):
    """Operational settings (section ``run``): they change how fast a run goes, not its result.

    Attributes:
        cache_dir: the pretraining checkpoint cache; default ``$HARNESS_CACHE`` or
            ``~/.cache/aesthetic-pretext-harness``.
        num_workers: data-loader worker processes (0 = load in the main process).
        amp: mixed precision on CUDA (bf16 where supported, else fp16); ignored on CPU.
        channels_last: channels-last memory format on CUDA.
        checkpoint_minutes: also checkpoint mid-epoch after this many minutes, for resuming.
        progress: show rich progress bars.
        threads: torch CPU threads (0 = torch's default).
    """

    cache_dir: str | None = None
    num_workers: int = 0
    amp: bool = True
    channels_last: bool = True
    checkpoint_minutes: float = 10.0
    progress: bool = True
    threads: int = 0

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        env = os.environ.get("HARNESS_CACHE")
        return Path(env).expanduser() if env else Path.home() / ".cache" / "aesthetic-pretext-harness"


@dataclass
class PluginChoice:
    """One plugin section, resolved: which plugin and its validated settings."""

    section: str
    spec: PluginSpec
    settings: BaseModel
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> dict[str, Any]:
        selector = PLUGIN_SECTIONS[self.section][1]
        return {selector: self.spec.name, **self.extras, **self.settings.model_dump(mode="json")}


@dataclass
class RunConfig:
    """A fully resolved run configuration. Each component receives only its own section."""

    seed: int
    device: str
    profile: str
    pretext: PluginChoice
    head: PluginChoice
    dataset: PluginChoice
    backbone: PluginChoice
    pretrain: PluginChoice
    eval: PluginChoice | None
    run: RunSettings

    def to_json(self) -> dict[str, Any]:
        """The canonical content of ``config.json`` (without hash and provenance)."""
        return {"seed": self.seed, "device": self.device, "profile": self.profile,
                "pretext": self.pretext.to_json(), "head": self.head.to_json(),
                "dataset": self.dataset.to_json(), "backbone": self.backbone.to_json(),
                "pretrain": self.pretrain.to_json(),
                "eval": self.eval.to_json() if self.eval else None,
                "run": self.run.model_dump(mode="json")}

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of everything that determines the result.

        Excluded: ``run`` (operational) and ``device`` (CPU and CUDA runs of one configuration are
        the same experiment; the device is recorded in the provenance).
        """
        content = {k: v for k, v in self.to_json().items() if k not in ("run", "device")}
        return sha256_json(content)


def sha256_json(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON where it parses (numbers, true/false, null, lists), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["head.lr=1e-3", "seed=2"]`` -> ``{"head": {"lr": 0.001}, "seed": 2}``."""
    raw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected section.key=value, e.g. head.lr=0.001")
        parts = key.strip().split(".")
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r}: {part!r} is not a section")
        node[parts[-1]] = parse_value(value)
    return raw


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON configuration file (data only)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--config: {path} does not exist")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=2, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def resolve(registry: Registry, raw: dict[str, Any]) -> RunConfig:
    """Turn a merged raw configuration into a :class:`RunConfig`, or raise a one-line ConfigError."""
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"unknown configuration key {key!r}; {suggest(key, list(TOP_LEVEL))}"
                              f"top-level keys: {', '.join(TOP_LEVEL)}")
    for section in PLUGIN_SECTIONS:
        if section in raw and not isinstance(raw[section], dict):
            raw = {**raw, section: {PLUGIN_SECTIONS[section][1]: raw[section]}}

    dataset_name = raw.get("dataset", {}).get("name") or "synthetic"
    profile = raw.get("profile") or ("quick" if dataset_name == "synthetic" else "paper")
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")

    choices = {}
    for section, (kind, selector, default) in PLUGIN_SECTIONS.items():
        values = dict(raw.get(section) or {})
        name = values.pop(selector, None) or default
        if name is None:
            if section == "eval":
                if values:
                    raise ConfigError(f"eval.{next(iter(values))} is set but eval.dataset is not; "
                                      f"name the dataset to evaluate on, e.g. eval.dataset=tid2013")
                choices[section] = None
                continue
            raise ConfigError(f"no {kind} chosen; pass --{section} NAME (see `harness plugins`)")
        spec = registry.get(kind, name)
        extras = {key: values.pop(key, default_value)
                  for key, default_value in SECTION_EXTRAS.get(section, {}).items()}
        choices[section] = PluginChoice(section, spec, validate_section(section, spec, profile, values),
                                        extras)

    try:
        run = RunSettings(**(raw.get("run") or {}))
    except ValidationError as error:
        raise ConfigError(validation_message("run", error, RunSettings)) from None
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    device = str(raw.get("device") or "auto")
    return RunConfig(seed=seed, device=device, profile=profile, run=run, **choices)


def validate_section(section: str, spec: PluginSpec, profile: str, values: dict[str, Any]
                     ) -> BaseModel:
    """The plugin's settings for ``profile`` with ``values`` applied, or a one-line ConfigError."""
    fields = list(spec.defaults.model_fields)
    for key in values:
        if key not in fields:
            raise ConfigError(
                f"unknown key {section}.{key} for {spec.kind} {spec.name!r}; "
                f"{suggest(key, fields)}it accepts: {', '.join(fields) or 'no settings'}")
    try:
        return spec.settings(profile, **values)
    except ValidationError as error:
        raise ConfigError(validation_message(section, error, spec.defaults)) from None


def validation_message(section: str, error: ValidationError, model: type[BaseModel]) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"{section}.{key} is required: {describe_field(model, key)}"
    value = first.get("input")
    return f"{section}.{key}: {first['msg'].lower()}, got {value!r}"


def describe_field(model: type[BaseModel], key: str) -> str:
    info = model.model_fields.get(key)
    return (info.description if info is not None and info.description
            else f"set it with --set {key}=...")
