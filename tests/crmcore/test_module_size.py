"""Modules stay small: none of the shipped code is over 500 lines (Alembic migrations excepted), no test
file over 800."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 500
PACKAGES = ("crmcore", "plugins", "adapters", "examples", "bench")
TEST_LIMIT = 800
TESTS = ("tests",)


def long_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, limit: int = LIMIT) -> dict[str, int]:
    """``{path: lines}`` of every Python module of ``packages`` over ``limit`` lines, outside migrations."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.relative_to(root).parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
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


def test_no_test_file_over_800_lines() -> None:
    assert long_modules(packages=TESTS, limit=TEST_LIMIT) == {}


def test_the_test_check_counts_test_files(tmp_path: Path) -> None:
    (tmp_path / "tests" / "plugins").mkdir(parents=True)
    (tmp_path / "tests" / "plugins" / "test_long.py").write_text("x = 1\n" * (TEST_LIMIT + 1))
    (tmp_path / "tests" / "plugins" / "test_fits.py").write_text("x = 1\n" * TEST_LIMIT)
    assert long_modules(tmp_path, TESTS, TEST_LIMIT) == {"tests/plugins/test_long.py": TEST_LIMIT + 1}
