"""Web worker memory: the resident size (RSS) of one gunicorn worker of the CRM after N API requests, next to a
bare Flask + SQLAlchemy app serving the same rows (``bench/_wsgi.py``). Target: under 100 MiB after 10k requests.
Measured for the whole app (``crmcore.wsgi``) and for an API-only web process (``crmcore.wsgi_api``, no admin pages).

``python bench/run.py worker_memory [--requests 2000] [--pg URL]`` (the issue's size: ``--requests 10000``).
The requests: nine reads of a customer (``GET /api/v1/customers/<id>``, with contacts, addresses and tags) to
one new customer (``POST /api/v1/customers``, a Chinese name: pinyin search text, a phone in E.164).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import Gunicorn, load, prepare  # noqa: E402


def calls(ids: list[int], count: int, tag: str) -> list[tuple[str, str, object]]:
    out: list[tuple[str, str, object]] = []
    for i in range(count):
        if i % 10 == 9:
            out.append(("POST", "/api/v1/customers", {"name": f"宁波港口物流 {tag} {i}", "phone": "0574-8765 4321"}))
        else:
            out.append(("GET", f"/api/v1/customers/{ids[i % len(ids)]}", None))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_memory")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL URL of a database to use instead of a temporary SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crm-bench-mem-") as tmp:
        url = args.pg or f"sqlite:///{Path(tmp) / 'crm.sqlite'}"
        token, ids = prepare(url, tmp, args.customers)
        env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_INSTANCE_PATH": tmp, "CRM_SECRET_KEY": "bench"}
        print(f"{'app':6} {'1 read':>8} {'9 reads':>8} {'+1 write':>9} {f'after {args.requests}':>12}  "
              "(RSS of the one worker, MiB)")
        results = {}
        for which in ("bare", "crm", "crm_api"):
            with Gunicorn(which, env, workers=1) as server:
                mix = calls(ids, 10, f"{which}w")
                load(server.port, token, mix[:1], clients=1)
                first = server.rss_mib()[0]
                load(server.port, token, mix[1:9], clients=1)
                reads = server.rss_mib()[0]
                load(server.port, token, mix[9:], clients=1)
                write = server.rss_mib()[0]
                load(server.port, token, calls(ids, args.requests, which), clients=2)
                done = server.rss_mib()[0]
            results[which] = done
            print(f"{which:6} {first:8.1f} {reads:8.1f} {write:9.1f} {done:12.1f}")
        for which, what in (("crm", "crm worker (crmcore.wsgi)"), ("crm_api", "API-only crm worker (crmcore.wsgi_api)")):
            print(f"{what} {results[which]:.0f} MiB = {results[which] / results['bare']:.2f}x the bare worker "
                  f"({results['bare']:.0f} MiB) after {args.requests} requests; target: under 100 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
