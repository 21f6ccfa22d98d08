"""Checking a sweep file against the installed plugins: every plugin name and every per-plugin
settings key, even in tables no cell uses, and no ``base`` key that an axis decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import PLUGIN_SECTIONS, SECTION_EXTRAS, suggest
from harness.errors import ConfigError, UsageError
from harness.registry import Registry
from harness.sweep.spec import AXIS_OF, DEFAULT_AXES, PluginSettings, SweepSpec


def check_plugins(spec: SweepSpec, registry: Registry, path: Path) -> list[str]:
    """Check every plugin name and per-plugin settings key against the registry (so a typo in a
    settings table for a plugin no cell uses is still caught). Returns warnings (unused tables).

    Raises:
        ConfigError: an unknown plugin, an unknown key, or a ``base`` key an axis decides.
    """
    scopes = [("", spec.axes, spec.settings, spec.base)]
    scopes += [(f"variants[{v.name}].", v.axes, v.settings, v.base) for v in spec.variants]
    used: dict[str, set[str]] = {section: set() for section in PluginSettings.model_fields}
    for prefix, axes, settings, base in scopes:
        for field, kind in (("pretexts", "pretext"), ("heads", "head"), ("datasets", "dataset"),
                            ("eval_datasets", "dataset"), ("backbones", "backbone")):
            for name in getattr(axes, field) or []:
                _get(registry, kind, name, f"{path}: {prefix}axes.{field}")
        for section, tables in settings.model_dump().items():
            kind = PLUGIN_SECTIONS[section][0]
            for name, values in tables.items():
                spec_ = _get(registry, kind, name, f"{path}: {prefix}settings.{section}.{name}")
                accepted = list(spec_.defaults.model_fields)
                if section == "eval":
                    accepted += list(SECTION_EXTRAS["eval"])
                for key in values:
                    if key not in accepted:
                        raise ConfigError(
                            f"{path}: {prefix}settings.{section}.{name}.{key}: unknown key for "
                            f"{kind} {name!r}; {suggest(key, accepted)}it accepts: "
                            f"{', '.join(accepted) or 'no settings'}")
        for keys, axis in AXIS_OF.items():
            node: Any = base
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                raise ConfigError(f"{path}: {prefix}base.{'.'.join(keys)} is chosen by an axis; "
                                  f"list it in axes.{axis} instead")
    for _, axes, _, _ in scopes:
        used["pretext"] |= set(axes.pretexts or [])
        used["head"] |= set(axes.heads or [])
        used["backbone"] |= set(axes.backbones or DEFAULT_AXES["backbones"])
        used["eval"] |= set(axes.eval_datasets or [])
        used["dataset"] |= set(axes.datasets or DEFAULT_AXES["datasets"]) | used["eval"]
    pretrain = {str((base.get("pretrain") or {}).get("dataset") or PLUGIN_SECTIONS["pretrain"][2])
                for _, _, _, base in scopes}
    used["pretrain"] = pretrain
    used["dataset"] |= pretrain
    warnings = []
    for _, _, settings, _ in scopes:
        for section, tables in settings.model_dump().items():
            for name in tables:
                if name not in used[section]:
                    warnings.append(f"settings.{section}.{name} is used by no cell ({name!r} is "
                                    f"on no {section} axis)")
    return sorted(set(warnings))


def _get(registry: Registry, kind: str, name: str, where: str):
    try:
        return registry.get(kind, name)
    except UsageError as error:
        raise ConfigError(f"{where}: {error}") from None
