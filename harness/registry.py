"""The plugin manager and the registry of what plugins provide.

One factory, :func:`build_registry`, builds a fresh pluggy manager (hook specs -> entry points of
the group ``harness`` -> explicitly passed plugins), validates every record once, and returns a
:class:`Registry` with lookup verbs (``get("pretext", "rotnet")``, ``list("pretext", "rank*")``).
There is no global manager at import time.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata as metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from pydantic import BaseModel

from harness import hookspecs
from harness.errors import PluginError, UsageError
from harness.types import NAME_PATTERN, SPEC_TYPES, PluginSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "harness"
HOOKS = {"pretext": "harness_pretexts", "head": "harness_heads",
         "dataset": "harness_datasets", "backbone": "harness_backbones"}


@dataclass(frozen=True)
class Provider:
    """Where a record came from: the plugin's name in the manager, its module and distribution."""

    plugin: str
    module: str
    distribution: str | None
    distribution_version: str | None


@dataclass
class Registry:
    """Validated plugin records by kind and name, with their providers.

    Attributes:
        records: kind -> name -> record.
        providers: (kind, name) -> Provider.
        problems: one line per plugin that failed to load or returned bad records (skipped).
    """

    records: dict[str, dict[str, PluginSpec]] = field(
        default_factory=lambda: {kind: {} for kind in HOOKS})
    providers: dict[tuple[str, str], Provider] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None

    def get(self, kind: str, name: str) -> PluginSpec:
        """The record called ``name``, or a :class:`UsageError` with did-you-mean suggestions."""
        if kind not in self.records:
            raise UsageError(f"unknown plugin kind {kind!r}; expected one of {', '.join(HOOKS)}")
        try:
            return self.records[kind][name]
        except KeyError:
            raise UsageError(unknown_name_message(kind, name, self.records[kind])) from None

    def list(self, kind: str, pattern: str = "*") -> list[PluginSpec]:
        """Records of a kind whose names match a glob pattern, sorted by name."""
        return [spec for name, spec in sorted(self.records[kind].items())
                if fnmatch.fnmatchcase(name, pattern)]

    def find(self, name: str) -> list[tuple[str, PluginSpec]]:
        """Every (kind, record) called ``name`` across kinds."""
        return [(kind, specs[name]) for kind, specs in self.records.items() if name in specs]

    def provider(self, kind: str, name: str) -> Provider:
        return self.providers[(kind, name)]

    def versions(self) -> dict[str, str]:
        """``kind:name`` -> plugin version, for provenance."""
        return {f"{kind}:{name}": spec.version
                for kind, specs in self.records.items() for name, spec in sorted(specs.items())}


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown {kind} {name!r}; {hint}available: {', '.join(known) or 'none'}"


def build_registry(plugins: Iterable[Any] = (), *, entry_points: bool = True,
                   strict: bool = False) -> Registry:
    """Build a plugin manager and validate what its plugins provide.

    Args:
        plugins: extra plugin objects (modules or instances with ``@hookimpl`` functions), e.g.
            tiny in-test plugins. Registered after the entry points.
        entry_points: discover the ``harness`` entry-point group (built-ins and third parties).
        strict: raise :class:`PluginError` for a broken plugin instead of skipping it.

    A plugin that fails to import, raises in its hook or returns a bad record is reported in one
    line and skipped; the others keep working. A name provided twice is reported naming the hook,
    the record and both providers, and the second provider's record is skipped. With ``strict``
    each of these raises :class:`PluginError` instead.
    """
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    registry = Registry(manager=manager)
    sources: dict[str, Provider] = {}

    def problem(message: str) -> None:
        if strict:
            raise PluginError(message)
        log.warning("%s", message)
        registry.problems.append(message)

    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=_ep_order):
            dist = ep.dist.metadata["Name"] if ep.dist is not None else None
            dist_version = ep.dist.version if ep.dist is not None else None
            try:
                obj = ep.load()
            except Exception as error:  # a broken third-party plugin must not break the rest
                problem(f"plugin {ep.name!r} ({ep.value}, distribution {dist}) failed to import: "
                        f"{type(error).__name__}: {error}")
                continue
            if manager.is_registered(obj) or manager.has_plugin(ep.name):
                continue
            try:
                manager.register(obj, name=ep.name)
            except Exception as error:
                problem(f"plugin {ep.name!r} ({ep.value}) could not be registered: {error}")
                continue
            sources[ep.name] = Provider(ep.name, getattr(obj, "__name__", ep.value), dist,
                                        dist_version)
    for obj in plugins:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if manager.has_plugin(name):
            name = f"{name}-{id(obj)}"
        try:
            manager.register(obj, name=name)
        except Exception as error:
            problem(f"plugin {name!r} could not be registered: {error}")
            continue
        sources[name] = Provider(name, getattr(obj, "__module__", None) or name, None, None)

    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        # e.g. a misspelled hook name: "unknown hook 'harness_pretext' in plugin ..."
        name = manager.get_name(error.plugin) if getattr(error, "plugin", None) else "?"
        problem(f"plugin {name!r}: {str(error).split(' in plugin ')[0]}; "
                f"known hooks: {', '.join(HOOKS.values())}")

    for kind, hook_name in HOOKS.items():
        _collect(registry, manager, kind, hook_name, sources, problem)
    return registry


def _ep_order(ep: metadata.EntryPoint) -> tuple[int, str]:
    """Built-ins first so that a third party clashing with a built-in is the one reported."""
    dist = ep.dist.metadata["Name"] if ep.dist is not None else ""
    return (0 if dist == "aesthetic-pretext-harness" else 1, ep.name)


def _collect(registry: Registry, manager: pluggy.PluginManager, kind: str, hook_name: str,
             sources: dict[str, Provider], problem) -> None:
    spec_type = SPEC_TYPES[kind]
    # get_hookimpls() is in registration order (pluggy *calls* them newest first).
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        plugin_name = impl.plugin_name
        where = sources.get(plugin_name, Provider(plugin_name, plugin_name, None, None))
        try:
            result = impl.function()
        except Exception as error:
            problem(f"plugin {plugin_name!r} raised in {hook_name}(): "
                    f"{type(error).__name__}: {error} (skipped)")
            continue
        if result is None:
            continue
        if not isinstance(result, (list, tuple)):
            problem(f"plugin {plugin_name!r}: {hook_name}() must return a list of "
                    f"{spec_type.__name__}, got {type(result).__name__} (skipped)")
            continue
        for record in result:
            message = _invalid(record, spec_type, hook_name, plugin_name)
            if message:
                problem(message)
                continue
            if record.name in registry.records[kind]:
                first = registry.providers[(kind, record.name)]
                problem(f"{hook_name}(): {kind} {record.name!r} is provided twice, by plugin "
                        f"{first.plugin!r} ({first.module}) and by plugin {plugin_name!r} "
                        f"({where.module}); the second is skipped: uninstall or rename one")
                continue
            registry.records[kind][record.name] = record
            registry.providers[(kind, record.name)] = where


def _invalid(record: Any, spec_type: type[PluginSpec], hook_name: str, plugin: str) -> str | None:
    """Why a record is unacceptable, as one line, or None."""
    label = f"plugin {plugin!r}: {hook_name}()"
    if not isinstance(record, spec_type):
        return (f"{label} returned {type(record).__name__} {record!r:.60}; expected "
                f"{spec_type.__name__} (skipped)")
    if not isinstance(record.name, str) or not NAME_PATTERN.match(record.name):
        return (f"{label}: name {record.name!r} must be lower case letters, digits and "
                f"underscores, starting with a letter (skipped)")
    if not isinstance(record.summary, str) or not record.summary.strip():
        return f"{label}: {record.name!r} has no summary (skipped)"
    if not callable(record.factory):
        return f"{label}: {record.name!r} factory is not callable (skipped)"
    if not (isinstance(record.defaults, type) and issubclass(record.defaults, BaseModel)):
        return f"{label}: {record.name!r} defaults must be a pydantic model class or dict (skipped)"
    for profile, overrides in record.profiles.items():
        unknown = set(overrides) - set(record.defaults.model_fields)
        if unknown:
            return (f"{label}: {record.name!r} profile {profile!r} sets unknown keys "
                    f"{sorted(unknown)} (skipped)")
    return None
