"""Modules stay small: none of the shipped code is over 500 lines (Alembic migrations excepted)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 500
PACKAGES = ("crmcore", "plugins", "adapters", "examples", "bench")


def long_modules(root: Path = ROOT) -> dict[str, int]:
    """``{path: lines}`` of every Python module of the packages over the limit, outside migrations."""
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.relative_to(root).parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > LIMIT:
                found[path.relative_to(root).as_posix()] = lines
    return found


def test_no_module_over_500_lines() -> None:
    assert long_modules() == {}


def test_the_check_counts_lines_and_skips_migrations(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "big" / "migrations").mkdir(parents=True)
    (tmp_path / "plugins" / "big" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "plugins" / "big" / "fits.py").write_text("x = 1\n" * LIMIT)
    (tmp_path / "plugins" / "big" / "migrations" / "0001_big.py").write_text("x = 1\n" * 2000)
    assert long_modules(tmp_path) == {"plugins/big/long.py": LIMIT + 1}
