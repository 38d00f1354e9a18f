"""Every hook is specified, documented and tested (datasette's tests/test_docs.py).

A new hook in crmcore/hookspecs.py fails here until it has a docstring with ``:param`` for
each parameter, a heading with its exact signature in docs/plugin_hooks.md and a
``test_hook_<name>`` in tests/crmcore/test_hooks.py or test_hooks_work.py.
"""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from crmcore import PROJECT_NAME, hookspecs

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_HOOKS_MD = ROOT / "docs" / "plugin_hooks.md"
WRITING_PLUGINS_MD = ROOT / "docs" / "writing_plugins.md"
TEST_HOOKS = sorted(Path(__file__).parent.glob("test_hooks*.py"))  # test_hooks.py, test_hooks_work.py

HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if callable(obj) and hasattr(obj, f"{PROJECT_NAME}_spec"))


def signature(name: str) -> str:
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def headings(path: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^###\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)]


def hook_tests() -> list[str]:
    """The ``test_hook_<name>`` functions of the hook test files."""
    return [name for path in TEST_HOOKS
            for name in re.findall(r"^def (test_hook_\w+)\(", path.read_text(encoding="utf-8"), re.M)]


def test_hooks_are_found():
    assert len(HOOKS) >= 19 and all(h.startswith("crm_") for h in HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    assert signature(hook) in headings(PLUGIN_HOOKS_MD), f"add '### {signature(hook)}' to docs/plugin_hooks.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    assert f"test_hook_{hook}" in hook_tests(), f"add test_hook_{hook} to tests/crmcore/test_hooks.py"


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_docstring_describes_every_parameter(hook):
    func = getattr(hookspecs, hook)
    doc = inspect.getdoc(func) or ""
    assert doc, f"{hook} has no docstring"
    assert doc.splitlines()[0].strip(), f"{hook}: start the docstring with a one-line summary"
    for param in inspect.signature(func).parameters:
        assert f":param {param}:" in doc, f"{hook}: document ':param {param}:'"


def test_documented_hooks_exist():
    documented = [h.split("(")[0] for h in headings(PLUGIN_HOOKS_MD) if h.startswith("crm_")]
    assert sorted(set(documented) - set(HOOKS)) == []
    assert len(documented) == len(set(documented)), "a hook is documented twice"


def test_hook_tests_name_real_hooks():
    tests = {name.removeprefix("test_hook_") for name in hook_tests()}
    assert sorted(tests - set(HOOKS)) == []


@pytest.mark.parametrize("path", [PLUGIN_HOOKS_MD, WRITING_PLUGINS_MD], ids=lambda p: p.name)
def test_python_examples_in_docs_compile(path):
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{path.name} has no Python examples"
    for block in blocks:
        ast.parse(block)  # a SyntaxError names the line
