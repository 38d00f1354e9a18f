"""Synthetic shop data for the analysis benchmarks: customers and confirmed orders written straight
into a SQLite file with SQLAlchemy Core (fast), plus the runtime the services run in."""
from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

AS_OF = dt.date(2026, 6, 30)
DAYS = 730


def parse(argv: list[str] | None, description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--large", action="store_true", help="1M customers / 10M orders")
    p.add_argument("--dir", help="Where to put the SQLite file (default: a temporary folder)")
    args = p.parse_args(argv or [])
    if args.large:
        args.customers, args.orders = 1_000_000, 10_000_000
    return args


def runtime(path: Path) -> Any:
    """A runtime with the sales and analysis plugins on a fresh SQLite file, tables created."""
    from crmcore import models  # noqa: F401
    from crmcore.db import Base
    from crmcore.runtime import build_runtime

    rt = build_runtime({"DATABASE_URL": f"sqlite:///{path}", "PLUGINS_AUTOLOAD": False, "INSTANCE_PATH": str(path.parent),
                        "PLUGINS": ["plugins.sales", "plugins.analysis"]})
    Base.metadata.create_all(rt.db.engine)
    return rt


def add_customers(rt: Any, n: int) -> None:
    from sqlalchemy import insert

    from crmcore.models import Customer

    with rt.db.engine.begin() as conn:
        for start in range(0, n, 50_000):
            conn.execute(insert(Customer.__table__), [{"code": f"C{i:08d}", "name": f"Customer {i}"}
                                                     for i in range(start + 1, min(n, start + 50_000) + 1)])


def add_orders(rt: Any, customers: int, n: int, *, start: int = 0, seed: int = 1) -> None:
    """``n`` orders (numbers from ``start``): customers buy at individual rates over two years."""
    from sqlalchemy import insert

    from plugins.sales.models import Order

    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    table = Order.__table__
    with rt.db.engine.begin() as conn:
        batch = []
        for i in range(start, start + n):
            cid = min(customers, int(rng.paretovariate(1.2)) if rng.random() < 0.3 else rng.randint(1, customers))
            batch.append({"number": f"B{i:09d}", "customer_id": cid, "order_date": AS_OF - dt.timedelta(days=rng.randint(0, DAYS)),
                          "currency": "CNY", "status": "confirmed", "total": Decimal(rng.randint(500, 50_000)) / 100,
                          "source": "erp", "version": 1, "created_at": now, "updated_at": now})
            if len(batch) == 100_000:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)


def fresh_db(args: argparse.Namespace, orders: int) -> tuple[Any, Path]:
    folder = Path(args.dir or tempfile.mkdtemp(prefix="crm-bench-"))
    path = folder / f"bench_{args.customers}_{orders}.sqlite"
    path.unlink(missing_ok=True)
    rt = runtime(path)
    t = time.perf_counter()
    add_customers(rt, args.customers)
    add_orders(rt, args.customers, orders)
    print(f"  data: {args.customers:,} customers, {orders:,} orders in {time.perf_counter() - t:.1f}s ({path})", flush=True)
    return rt, path


def timed(func: Callable[[], Any], repeat: int = 2) -> float:
    """Best wall time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    return best


def peak_mib(func: Callable[[], Any]) -> float:
    """Peak Python memory (tracemalloc: includes numpy buffers) while ``func`` runs, in MiB."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
