"""Approvals and the workflow engine are modules with one job each and no import cycle between them."""
from __future__ import annotations

import ast
from pathlib import Path

import crmcore

SERVICES = Path(crmcore.__file__).parent / "services"
FAMILY = ("approvals", "approval_policies", "approval_reviewers", "transitions", "workflow",
          "workflow_registry")


def _imports(module: str) -> set[str]:
    """Sibling service modules ``module`` imports anywhere (module level or inside a function)."""
    tree = ast.parse((SERVICES / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("crmcore.services."):
            found.add(node.module.split(".")[2])
    return found & {p.stem for p in SERVICES.glob("*.py")}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in path:
                stack.append((nxt, path + [nxt]))
    return None


def test_no_import_cycle_between_approvals_and_workflow():
    graph = {name: _imports(name) for name in {p.stem for p in SERVICES.glob("*.py")}}
    cycles = [c for name in FAMILY if (c := _cycle_from(name, graph))]
    assert cycles == []


def test_approval_and_workflow_modules_import_at_module_level_only():
    for name in FAMILY:
        tree = ast.parse((SERVICES / f"{name}.py").read_text(encoding="utf-8"))
        nested = [n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert nested == [], f"{name}.py imports inside functions at lines {nested}"


def test_approval_modules_stay_small():
    sizes = {name: len((SERVICES / f"{name}.py").read_text(encoding="utf-8").splitlines()) for name in FAMILY}
    assert {name: n for name, n in sizes.items() if n > 500} == {}
