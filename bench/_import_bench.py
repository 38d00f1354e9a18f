"""Shared harness of the import benchmarks: fresh databases, the CRM runtime, best-of-N interleaved timings.

Each benchmark times the real import (the driver ``crm import`` runs, in-process) against a hand-written
``executemany`` baseline that writes the same rows with the same derived fields, audit entries and
outbox rows, each on a fresh database, rounds interleaved, and prints the ratio of the best times.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


BUILT_IN = ("sales", "analysis", "service", "erp", "oa")


def arguments(prog: str, argv: list[str] | None, default_rows: int = 3000) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--rows", type=int, nargs="+", default=[default_rows],
                        help="file sizes to measure (e.g. --rows 10000 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--pg", metavar="URL", help="also measure on this PostgreSQL database (its tables are "
                        "dropped and created again for every run)")
    parser.add_argument("--audit", choices=["row", "summary"], default="row")
    parser.add_argument("--memory", action="store_true", help="also trace the import's peak memory (slow)")
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


def runtime(url: str, folder: Path) -> Any:
    """The CRM with the built-in plugins (as ``crm`` loads them; no other installed ones, e.g. the example
    loyalty plugin, whose listener commits once per event), on a fresh database."""
    from crmcore.db import Base
    from crmcore.runtime import build_runtime
    from crmcore.services import users as user_svc

    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "bench",
                        "PLUGINS_ALLOW": list(BUILT_IN)})
    if not url.startswith("sqlite"):  # the --pg database starts empty every run (whatever made its tables)
        from sqlalchemy import text

        with rt.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(rt.db.engine)
    user_svc.seed_roles(rt.context())
    return rt


def databases(args: argparse.Namespace, tmp: Path) -> list[tuple[str, Callable[[str], str]]]:
    """``(label, name -> URL)`` of each database to measure on: SQLite files, and ``--pg``."""
    out: list[tuple[str, Callable[[str], str]]] = [("SQLite", lambda name: f"sqlite:///{tmp / name}.sqlite")]
    if args.pg:
        out.append(("PostgreSQL", lambda name: args.pg))
    return out


def seed_customers(rt: Any, count: int) -> None:
    """``count`` customers with codes ``K0000000``... for the rows of another kind to refer to."""
    from sqlalchemy import insert

    from crmcore.db import utcnow
    from crmcore.models import Customer

    now = utcnow()
    with rt.db.new_session() as session:
        for start in range(0, count, 5000):
            session.execute(insert(Customer.__table__), [
                {"code": f"K{i:07d}", "name": f"Kunde {i}", "kind": "organization", "stage": "customer",
                 "currency": "CNY", "attributes": {}, "completeness": 10, "version": 1, "search_text": f"kunde {i}",
                 "created_at": now, "updated_at": now} for i in range(start, min(count, start + 5000))])
        session.commit()


def import_run(rt: Any, kind_name: str, path: Path, audit: str, trace: bool = False) -> tuple[float, dict[str, int], int]:
    """``crm import <kind> FILE`` in-process: (seconds, counts, peak traced bytes)."""
    from crmcore.imports import ImportOptions
    from crmcore.imports.driver import get_kind, import_file

    ctx = rt.context(source="cli", session=rt.db.new_session())
    kind = get_kind(ctx, kind_name)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    outcome = import_file(ctx, kind, str(path), options=ImportOptions(audit=audit))
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    ctx.session.close()
    return seconds, outcome.summary.counts, peak


def cold() -> None:
    """Forget what an earlier run cached (normalised phone numbers), so no run profits from another's."""
    from crmcore.normalize import normalize_phone

    normalize_phone.cache_clear()
    gc.collect()


def measure(prog: str, args: argparse.Namespace, kind_name: str, write_file: Callable[[Path, int], None],
            prepare: Callable[[Any, int], None], baseline: Callable[[Any, Path], float]) -> int:
    """For each size and database: best of ``--rounds`` of the import and of the baseline, interleaved,
    each on a fresh database; print both and the ratio (and the import's peak memory with ``--memory``)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for rows in args.rows:
            path = tmp / f"{kind_name}-{rows}.csv"
            write_file(path, rows)
            for label, url_of in databases(args, tmp):
                best_import = best_base = cpu_import = cpu_base = float("inf")
                ratios: list[float] = []
                counts: dict[str, int] = {}
                for i in range(args.rounds):
                    rt = runtime(url_of(f"base{rows}-{i}"), tmp)
                    prepare(rt, rows)
                    cold()
                    cpu = time.process_time()
                    base_s = baseline(rt, path)
                    cpu_base = min(cpu_base, time.process_time() - cpu)
                    best_base = min(best_base, base_s)
                    rt.db.dispose()
                    rt = runtime(url_of(f"import{rows}-{i}"), tmp)
                    prepare(rt, rows)
                    cold()
                    cpu = time.process_time()
                    seconds, counts, _peak = import_run(rt, kind_name, path, args.audit)
                    cpu_import = min(cpu_import, time.process_time() - cpu)
                    best_import = min(best_import, seconds)
                    ratios.append(seconds / base_s)
                    rt.db.dispose()
                # the CPU time of this process: on SQLite all of the work, less shaken than wall time by the
                # machine's other load; on PostgreSQL the server's share is not in it
                result = {"bench": prog, "database": label, "rows": rows, "audit": args.audit,
                          "import_s": round(best_import, 3), "baseline_s": round(best_base, 3),
                          "rows_per_s": round(rows / best_import), "ratio": round(best_import / best_base, 2),
                          "round_ratios": [round(r, 2) for r in ratios],
                          "cpu_ratio": round(cpu_import / max(cpu_base, 1e-9), 2), "counts": counts}
                if args.memory:
                    rt = runtime(url_of(f"mem{rows}"), tmp)
                    prepare(rt, rows)
                    result["peak_mib"] = round(import_run(rt, kind_name, path, args.audit, trace=True)[2] / 2**20, 1)
                    rt.db.dispose()
                print(f"{prog} {label} {rows} rows (audit={args.audit}): import {best_import:.2f}s "
                      f"({rows / best_import:.0f} rows/s), baseline {best_base:.2f}s, ratio {best_import / best_base:.2f}x"
                      f" (rounds {', '.join(f'{r:.2f}x' for r in ratios)}; CPU of this process {result['cpu_ratio']}x)"
                      + (f", peak {result['peak_mib']} MiB traced" if args.memory else ""), flush=True)
                print(json.dumps(result), flush=True)
    return 0


def seed_products(rt: Any, count: int) -> None:
    """``count`` products with codes ``P0000``... (list price 10.00 CNY) for sales rows to refer to."""
    from decimal import Decimal

    from sqlalchemy import insert

    from crmcore.db import utcnow
    from plugins.sales.models import Product

    now = utcnow()
    with rt.db.new_session() as session:
        session.execute(insert(Product.__table__), [
            {"code": f"P{i:04d}", "name": f"产品 {i}", "unit": "pcs", "list_price": Decimal("10.00"), "currency": "CNY",
             "active": True, "source": "crm", "version": 1, "created_at": now, "updated_at": now}
            for i in range(count)])
        session.commit()
