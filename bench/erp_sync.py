"""ERP sync throughput against a real Tryton, as a ratio to a plain loop of ``search_read`` pages over
the same parties in the same run; and the sync's peak memory for a small and a large load.

``python bench/run.py erp_sync [--small 300] [--large 1200] [--page 200] [--rounds 3] [--pg URL]`` (or
``python bench/erp_sync.py --small 1000 --large 5000``); ``--pg``: the CRM on PostgreSQL instead of SQLite. Builds (or reuses) the Tryton template of the tests
(~75 s the first time), seeds parties with a contact and an address. Every timing is the best of
``--rounds`` runs, baselines and syncs interleaved (the machines are noisy).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "adapters" / "erp"))

from tryton.server import TrytonServer, ensure_template  # noqa: E402


def seed(server: TrytonServer, start: int, count: int) -> None:
    auth, ctx = server.session()
    for first in range(start, start + count, 300):
        server.call("model.party.party.create", [[{
            "name": f"Bench 客户 {i:05d}",
            "contact_mechanisms": [["create", [{"type": "email", "value": f"b{i}@bench.example"}]]],
            "addresses": [["create", [{"street": f"{i} 号", "city": "上海"}]]]}
            for i in range(first, min(first + 300, start + count))], ctx], auth)


def plain_loop(server: TrytonServer, page: int, related: bool) -> tuple[float, int]:
    """The baseline: page through the parties with search_read, nothing else. With ``related``, with
    their contact mechanisms and addresses read nested, as the adapter reads them."""
    import requests

    started = time.perf_counter()
    auth, ctx = server.session()  # the sync logs in too
    http = requests.Session()
    http.headers["Authorization"] = auth

    def search_read(model: str, domain: list[Any], fields: list[str], limit: int | None) -> list[dict[str, Any]]:
        return http.post(server.url, json={"id": 1, "method": f"model.{model}.search_read", "params": [
            domain, 0, limit, [["id", "ASC"]], fields, ctx]}, timeout=60).json()["result"]

    flat = ["name", "code", "active", "create_date", "write_date", "identifiers"]
    nested = flat[:-1] + ["identifiers.code", *[f"contact_mechanisms.{f}" for f in (
        "type", "value", "name", "active", "sequence")], *[f"addresses.{f}" for f in (
            "street", "city", "postal_code", "country.code", "subdivision.name", "active")]]
    last, n = 0, 0
    while True:
        rows = search_read("party.party", [("id", ">", last)], nested if related else flat, page)
        if not rows:
            break
        n += len(rows)
        last = rows[-1]["id"]
        if len(rows) < page:
            break
    return time.perf_counter() - started, n


def crm_runtime(folder: Path, pg: str | None = None) -> Any:
    """The CRM on an empty database: a SQLite file in ``folder``, or the ``pg`` database emptied."""
    from sqlalchemy import text

    from crmcore.db import Base
    from crmcore.runtime import build_runtime
    from crmcore.services import users as user_svc

    folder.mkdir(parents=True, exist_ok=True)
    rt = build_runtime({"DATABASE_URL": pg or f"sqlite:///{folder / 'crm.sqlite'}", "INSTANCE_PATH": str(folder),
                        "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "adapters.erp"]})
    if pg:
        with rt.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(rt.db.engine)
    user_svc.seed_roles(rt.context())
    return rt


def sync(rt: Any, server: TrytonServer, page: int, trace: bool = False) -> tuple[float, int, int]:
    """One run of the customers stream; (seconds, records read, peak bytes traced when ``trace``)."""
    from sqlalchemy import text

    from adapters.erp.connections import save_connection
    from adapters.erp.runner import run_sync

    ctx = rt.context(source="erp-sync", session=rt.db.new_session())
    if not ctx.session.execute(text("SELECT count(*) FROM erp_connections")).scalar():
        save_connection(ctx, {"name": "tryton", "adapter": "tryton", "page_size": page, "streams": ["customers"],
                              "settings": {"url": f"http://127.0.0.1:{server.port}", "database": server.database,
                                           "login": server.login}, "secret": server.password})
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    [result] = run_sync(ctx, push=False)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    ctx.session.close()
    return elapsed, result.total.read, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="erp_sync")
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--page", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--pg", metavar="URL", help="the CRM on this PostgreSQL database instead of SQLite (its "
                        "tables are dropped and created again for every run)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    template = ensure_template()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        server = TrytonServer.from_template(template, tmp_path / "tryton").start()
        try:
            seed(server, 0, args.small)
            small_rt = crm_runtime(tmp_path / "small", args.pg)
            _t, small_n, small_peak = sync(small_rt, server, args.page, trace=True)
            small_rt.db.dispose()
            seed(server, args.small, args.large - args.small)
            traced_rt = crm_runtime(tmp_path / "traced", args.pg)
            _t, large_n, large_peak = sync(traced_rt, server, args.page, trace=True)
            traced_rt.db.dispose()
            # best of --rounds for every timing (timeit's rule: the minimum is the least disturbed run), the
            # baselines and the syncs interleaved so a noisy moment hits both
            base = base_related = first = again = float("inf")
            firsts: list[float] = []
            for i in range(args.rounds):
                t, n = plain_loop(server, args.page, related=False)
                base = min(base, t)
                base_related = min(base_related, plain_loop(server, args.page, related=True)[0])
                rt = crm_runtime(tmp_path / f"large{i}", args.pg)
                t, read_first, _peak = sync(rt, server, args.page)
                first = min(first, t)
                firsts.append(t)
                t, read_again, _peak = sync(rt, server, args.page)
                again = min(again, t)
                rt.db.dispose()
            print(f"CRM database: {'PostgreSQL' if args.pg else 'SQLite'}; parties in Tryton: {n} (the company's "
                  f"own included); page size {args.page}; best of {args.rounds} rounds (initial syncs: "
                  f"{', '.join(f'{t:.2f}' for t in firsts)} s)")
            print(f"baseline, search_read of the party pages: {base:.2f} s ({n / base:.0f} records/s)")
            print(f"baseline, the same with contacts and addresses read nested (the adapter's call): "
                  f"{base_related:.2f} s")
            print(f"initial sync (read, then create every customer with its address: checks, derived fields, audit, "
                  f"events, outbox, links; the baselines only read): {first:.2f} s, {read_first / first:.0f} records/s; "
                  f"ratio {first / base:.2f}x / {first / base_related:.2f}x (target 1.5x)")
            print(f"re-run, nothing changed (read, compare fingerprints, skip): {again:.2f} s, "
                  f"{read_again / again:.0f} records/s; ratio {again / base:.2f}x / {again / base_related:.2f}x "
                  f"(target 1.5x)")
            print(f"peak traced memory of a sync: {small_peak / 1e6:.1f} MB for {small_n} records, "
                  f"{large_peak / 1e6:.1f} MB for {large_n} records (ratio {large_peak / max(small_peak, 1):.2f}; "
                  f"flat is ~1)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
