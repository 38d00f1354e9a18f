"""API overhead: requests per second of the CRM against a bare Flask + SQLAlchemy app (``bench/_wsgi.py``) serving
the same rows from the same database under the same WSGI server (gunicorn, 2 sync workers).

``python bench/run.py api_overhead [--requests 600] [--rounds 3] [--pg URL]``. Reads: ``GET /api/v1/customers/<id>``
(the customer with contacts, addresses and tags; the CRM also authenticates the token, checks the permission and
the record rule, and sends an ETag); target within 1.25x of the bare app. Writes: ``POST /api/v1/customers``
(the CRM validates, derives pinyin and E.164, writes the customer, its audit entry and outbox rows; the bare app
writes a customer, an audit entry and an outbox row in one transaction); target within 1.5x. Apps interleaved,
best of ``--rounds``; both servers run throughout, so the CRM's first write (pinyin loads) is not measured.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import Gunicorn, load, prepare  # noqa: E402

TARGETS = {"GET /customers/<id>": 1.25, "POST /customers": 1.5}


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

        best: dict[tuple[str, str], list[float]] = {}
        with Gunicorn("bare", env, workers=2) as bare, Gunicorn("crm", env, workers=2) as crm:
            servers = {"bare": bare, "crm": crm}
            for name, server in servers.items():  # warm up: every worker imports what a read and a write need
                load(server.port, token, reads[:20] + writes(f"warm{name}")[:20], clients=args.clients)
            for r in range(args.rounds):
                for name, server in servers.items():
                    best.setdefault(("GET /customers/<id>", name), []).append(
                        load(server.port, token, reads, clients=args.clients))
                    best.setdefault(("POST /customers", name), []).append(
                        load(server.port, token, writes(f"r{r}{name}"), clients=args.clients))
        db = "PostgreSQL" if args.pg else "SQLite"
        print(f"{db}, gunicorn 2 workers, {args.clients} clients, best of {args.rounds} (requests/s; all runs)")
        worst = 0.0
        for what, target in TARGETS.items():
            bare_rps, crm_rps = max(best[(what, "bare")]), max(best[(what, "crm")])
            ratio = bare_rps / crm_rps
            worst = max(worst, ratio / target)
            runs = " ".join(f"{b:.0f}/{c:.0f}" for b, c in zip(best[(what, "bare")], best[(what, "crm")], strict=True))
            print(f"{what:22} bare {bare_rps:7.1f}  crm {crm_rps:7.1f}  crm is {ratio:4.2f}x slower (target {target}x)"
                  f"  runs bare/crm: {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
