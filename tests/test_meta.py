"""Meta-tests that keep the docs and the packaging honest (after datasette's plugin-hook tests)."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from harness import hookspecs
from harness.registry import HOOKS

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
HOOK_NAMES = sorted(HOOKS.values())


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_docstring_with_an_example(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and "@hookimpl" in doc and "factory(" in doc


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented_under_its_exact_signature(hook):
    spec = getattr(hookspecs, hook)
    returns = inspect.signature(spec).return_annotation
    heading = f"### `{hook}() -> {returns}`"
    assert heading in (REPO / "docs" / "writing-a-plugin.md").read_text()


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_test(hook):
    tests = "".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py")
                    if p.name != "test_meta.py")
    assert f"def {hook}(" in tests


def test_every_plugin_file_is_registered_through_entry_points():
    entries = PYPROJECT["project"]["entry-points"]["harness"]
    modules = {value for value in entries.values()}
    files = {f"harness_plugins.{p.stem}" for p in (REPO / "plugins").glob("*.py")
             if p.name != "__init__.py"}
    assert files == modules


def test_every_package_folder_is_installed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "harness").rglob("__init__.py")}
    assert found | {"harness_plugins"} == listed


def test_readme_has_exactly_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    setup = [b for b in blocks if "pip install" in b]
    assert len(setup) == 2
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in setup[1] and "pip install -e '.[test]'" in ci
