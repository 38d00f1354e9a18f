"""Run the benchmarks: every ``bench/*.py`` module with a ``main(argv)`` (``make bench``).

``python bench/run.py`` runs them all with their defaults; ``python bench/run.py analysis_rfm
--large`` runs one, passing the remaining arguments on. Benchmarks print ratios against a
baseline measured in the same run; they are never part of ``make test``.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Module names under bench/ that define ``main``, in name order."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.stem in ("run", "__init__") or path.stem.startswith("_"):
            continue
        if "\ndef main(" in path.read_text(encoding="utf-8"):
            found.append(path.stem)
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    names = discover()
    chosen = [argv.pop(0)] if argv and argv[0] in names else names
    failed = 0
    for name in chosen:
        print(f"== {name} ==", flush=True)
        status = importlib.import_module(name).main(argv)
        failed += bool(status)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
