"""The dependency rule of the architecture: crmcore imports nothing from plugins or adapters."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_crmcore_never_imports_plugins_or_adapters():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & {"plugins", "adapters"})
                 for p in (ROOT / "crmcore").rglob("*.py") if _imports(p) & {"plugins", "adapters"}}
    assert offenders == {}


def test_adapters_import_only_crmcore():
    offenders = {str(p.relative_to(ROOT)) for p in (ROOT / "adapters").rglob("*.py") if "plugins" in _imports(p)}
    assert offenders == set()
