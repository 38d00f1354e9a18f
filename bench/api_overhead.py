"""API overhead: requests per second of the CRM against a bare Flask + SQLAlchemy app (``bench/_wsgi.py``) serving
the same rows from the same database under the same WSGI server (gunicorn, 2 sync workers).

``python bench/run.py api_overhead [--requests 600] [--rounds 3] [--pg URL]``. Reads: ``GET /api/v1/customers/<id>``
(the customer with contacts, addresses and tags; the CRM also authenticates the token, checks the permission and
the record rule, lists what the profile misses and sends an ETag); target within 1.25x of the bare app. Writes:
``POST /api/v1/customers`` (the CRM validates, derives pinyin and E.164, writes the customer, its audit entry and
outbox rows, and calls the plugins' listeners after commit; the bare app writes a customer, an audit entry and an
outbox row in one transaction); target within 1.5x. Apps interleaved, best of ``--rounds``; all servers run
throughout, so the CRM's first write (pinyin loads) is not measured.

Two measures each: requests per second (what a client sees; the load generator shares the machine) and the
workers' CPU time per request (read from ``/proc``: the app's own cost, less shaken by other load). Reads are
also compared with the same bare app written on the ORM (``bare_orm``): what the CRM adds on top of the ORM it
is built on, apart from what an ORM costs against Core.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import Gunicorn, load, prepare  # noqa: E402

READ, WRITE = "GET /customers/<id>", "POST /customers"
TARGETS = {READ: 1.25, WRITE: 1.5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="api_overhead")
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL URL of a database to use instead of a temporary SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crm-bench-api-") as tmp:
        url = args.pg or f"sqlite:///{Path(tmp) / 'crm.sqlite'}"
        token, ids = prepare(url, tmp, args.customers)
        env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_INSTANCE_PATH": tmp, "CRM_SECRET_KEY": "bench"}
        reads = [("GET", f"/api/v1/customers/{ids[i % len(ids)]}", None) for i in range(args.requests)]

        def writes(tag: str) -> list[tuple[str, str, object]]:
            return [("POST", "/api/v1/customers", {"name": f"宁波港口物流 {tag} {i}", "phone": f"0574-8765 {i % 10000:04d}",
                                                  "email": f"w{i}@{tag}.example"}) for i in range(args.requests // 2)]

        rps: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}

        def measure(what: str, name: str, server: Gunicorn, calls: list[tuple[str, str, object]]) -> None:
            before = server.cpu_seconds()
            rps.setdefault((what, name), []).append(load(server.port, token, calls, clients=args.clients))
            cpu.setdefault((what, name), []).append((server.cpu_seconds() - before) * 1000 / len(calls))

        with Gunicorn("bare", env, workers=2) as bare, Gunicorn("bare_orm", env, workers=2) as orm, \
                Gunicorn("crm", env, workers=2) as crm:
            servers = {"bare": bare, "bare_orm": orm, "crm": crm}
            for name, server in servers.items():  # warm up: every worker imports what a read and a write need
                load(server.port, token, reads[:20] + (writes(f"warm{name}")[:20] if name != "bare_orm" else []),
                     clients=args.clients)
            for r in range(args.rounds):
                for name, server in servers.items():
                    measure(READ, name, server, reads)
                    if name != "bare_orm":  # the ORM baseline serves reads only
                        measure(WRITE, name, server, writes(f"r{r}{name}"))
        db = "PostgreSQL" if args.pg else "SQLite"
        print(f"{db}, gunicorn 2 workers, {args.clients} clients, best of {args.rounds}: requests/s (all runs), and the"
              f" workers' CPU ms per request (best)")
        for what, target in TARGETS.items():
            base, mine = max(rps[(what, "bare")]), max(rps[(what, "crm")])
            runs = " ".join(f"{b:.0f}/{c:.0f}" for b, c in zip(rps[(what, "bare")], rps[(what, "crm")], strict=True))
            print(f"{what:22} bare {base:7.1f}  crm {mine:7.1f}  crm is {base / mine:4.2f}x slower (target {target}x)"
                  f"  runs bare/crm: {runs}")
            cpu_bare, cpu_crm = min(cpu[(what, "bare")]), min(cpu[(what, "crm")])
            line = f"{'':22} CPU per request: bare {cpu_bare:.2f} ms, crm {cpu_crm:.2f} ms ({cpu_crm / cpu_bare:.2f}x)"
            if (what, "bare_orm") in rps:
                orm_rps, cpu_orm = max(rps[(what, "bare_orm")]), min(cpu[(what, "bare_orm")])
                line += (f"; bare on the ORM {orm_rps:.1f}/s, {cpu_orm:.2f} ms: crm is {orm_rps / mine:.2f}x slower,"
                         f" {cpu_crm / cpu_orm:.2f}x the CPU")
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
