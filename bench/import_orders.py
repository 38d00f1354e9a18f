"""``crm import orders`` (one CSV row per order line) against a hand-written ``executemany`` baseline
writing the same rows: orders with the service's totals, their lines, an audit entry and the outbox
rows per order.

``python bench/run.py import_orders [--orders 2000] [--rounds 3] [--pg URL] [--audit row|summary]``;
the full size is ``--orders 70000`` (~3 lines each, ~210,000 rows). Each run is on a fresh database
with the same customers and products; import and baseline runs interleaved, best of ``--rounds``.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
import tempfile
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = ["number", "customer_code", "order_date", "status", "product_code", "quantity", "unit_price",
           "list_price", "discount_percent"]
CUSTOMERS, PRODUCTS, BATCH = 2000, 300, 1000
CENT = Decimal("0.01")


def write_file(path: Path, orders: int) -> int:
    """``orders`` orders of 1 to 5 lines (3 on average); returns the number of rows."""
    rnd = random.Random(orders)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        day = dt.date(2024, 1, 1)
        for n in range(orders):
            head = [f"SO{n:08d}", f"C{rnd.randrange(CUSTOMERS):05d}", (day + dt.timedelta(days=n % 700)).isoformat(),
                    rnd.choice(["confirmed", "confirmed", "delivered"])]
            for _line in range(rnd.randint(1, 5)):
                price = rnd.randint(100, 99999)
                out.writerow(head + [f"P{rnd.randrange(PRODUCTS):04d}", rnd.randint(1, 20), f"{price / 100:.2f}",
                                     f"{price * 1.1 / 100:.2f}", rnd.choice(["0", "0", "5", "12.5"])])
                rows += 1
    return rows


def runtime(url: str, folder: Path) -> Any:
    """The CRM with the built-in plugins (as ``crm`` loads them) on a fresh database with customers and products."""
    from sqlalchemy import insert

    from crmcore.db import Base, utcnow
    from crmcore.models import Customer
    from crmcore.runtime import build_runtime
    from crmcore.services import users as user_svc
    from plugins.sales.models import Product

    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "bench"})
    if not url.startswith("sqlite"):
        Base.metadata.drop_all(rt.db.engine)
    Base.metadata.create_all(rt.db.engine)
    user_svc.seed_roles(rt.context())
    now = utcnow()
    with rt.db.engine.begin() as conn:
        conn.execute(insert(Customer.__table__), [
            {"code": f"C{i:05d}", "name": f"客户 {i}", "kind": "organization", "stage": "customer", "currency": "CNY",
             "attributes": {}, "version": 1, "created_at": now, "updated_at": now} for i in range(CUSTOMERS)])
        conn.execute(insert(Product.__table__), [
            {"code": f"P{i:04d}", "name": f"产品 {i}", "unit": "pcs", "list_price": Decimal("10.00"),
             "currency": "CNY", "active": True, "source": "crm", "version": 1, "created_at": now, "updated_at": now}
            for i in range(PRODUCTS)])
    return rt


def import_run(rt: Any, path: Path, audit: str) -> tuple[float, dict[str, int]]:
    """``crm import orders FILE`` in-process: (seconds, counts)."""
    from crmcore.imports import ImportOptions
    from crmcore.imports.driver import get_kind, import_file

    ctx = rt.context(source="cli", session=rt.db.new_session())
    started = time.perf_counter()
    outcome = import_file(ctx, get_kind(ctx, "orders"), str(path), options=ImportOptions(audit=audit))
    seconds = time.perf_counter() - started
    ctx.session.close()
    return seconds, outcome.summary.counts


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def baseline(rt: Any, path: Path, audit: str) -> float:
    """The same orders by hand: codes resolved with one IN query per batch, totals as the service computes
    them, orders, lines, audit entries and outbox rows with one executemany per table, 1,000 rows a batch."""
    from sqlalchemy import insert, select

    from crmcore.db import utcnow
    from crmcore.events import jsonable
    from crmcore.models import AuditLog, Customer, OutboxMessage
    from plugins.sales.models import Order, OrderLine, Product

    handlers = list(rt.registry.outbox_handlers.values())
    session = rt.db.new_session()
    started = time.perf_counter()

    def write(batch: list[dict[str, str]]) -> None:
        now = utcnow()
        customers = dict(session.execute(select(Customer.code, Customer.id).where(
            Customer.code.in_({r["customer_code"] for r in batch}))).all())
        products = {code: (pid, name) for code, pid, name in session.execute(select(
            Product.code, Product.id, Product.name).where(Product.code.in_({r["product_code"] for r in batch})))}
        orders: dict[str, dict[str, Any]] = {}
        lines: dict[str, list[dict[str, Any]]] = {}
        for r in batch:
            qty, price = Decimal(r["quantity"]).quantize(Decimal("0.001")), Decimal(r["unit_price"])
            discount, list_price = Decimal(r["discount_percent"]).quantize(CENT), Decimal(r["list_price"])
            pid, name = products[r["product_code"]]
            lines.setdefault(r["number"], []).append({
                "product_id": pid, "description": name, "quantity": qty, "unit_price": price,
                "list_price": list_price, "discount_percent": discount,
                "line_total": cents(qty * price * (100 - discount) / 100)})
            orders.setdefault(r["number"], {"number": r["number"], "customer_id": customers[r["customer_code"]],
                                            "owner_id": None, "order_date": dt.date.fromisoformat(r["order_date"]),
                                            "currency": "CNY", "status": r["status"], "source": "import",
                                            "version": 1, "created_at": now, "updated_at": now})
        for number, order in orders.items():
            order["total"] = sum((ln["line_total"] for ln in lines[number]), Decimal("0.00"))
            order["list_total"] = cents(sum((ln["quantity"] * ln["list_price"] for ln in lines[number]), Decimal(0)))
        table = Order.__table__
        ids = list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                   list(orders.values())).scalars())
        session.execute(insert(OrderLine.__table__), [{"order_id": oid, **ln} for number, oid in zip(orders, ids, strict=True)
                                                      for ln in lines[number]])
        audits, outbox = [], []
        for (number, order), oid in zip(orders.items(), ids, strict=True):
            event_id = str(uuid.uuid4())
            changes = {k: [None, order[k]] for k in ("number", "customer_id", "order_date", "status", "source")}
            changes["lines"] = [None, len(lines[number])]
            changes["total"] = [Decimal("0"), order["total"]]
            data = jsonable({"changes": changes, "number": number, "customer_id": order["customer_id"]})
            audits.append({"actor_id": None, "actor_label": "cli", "source": "cli", "action": "created",
                           "entity": "order", "entity_id": str(oid), "changes": data["changes"],
                           "data": {"number": number, "customer_id": order["customer_id"]}, "event_id": event_id})
            for handler in handlers:
                if handler.wants("sales.order.created", "cli"):
                    outbox.append({"event_id": event_id, "topic": "sales.order.created", "destination": handler.name,
                                   "idempotency_key": f"{event_id}:{handler.name}", "payload": {
                                       "id": event_id, "name": "sales.order.created", "entity": "order",
                                       "entity_id": oid, "data": data, "actor_id": None, "at": now.isoformat()}})
        if audit == "row":
            session.execute(insert(AuditLog.__table__), audits)
        if outbox:
            session.execute(insert(OutboxMessage.__table__), outbox)
        session.commit()

    with path.open(encoding="utf-8", newline="") as fh:
        batch: list[dict[str, str]] = []
        for row in csv.DictReader(fh):
            if len(batch) >= BATCH and row["number"] != batch[-1]["number"]:  # an order's lines stay together
                write(batch)
                batch = []
            batch.append(row)
        if batch:
            write(batch)
    seconds = time.perf_counter() - started
    session.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="import_orders")
    parser.add_argument("--orders", type=int, nargs="+", default=[2000], help="orders per file (full size: 70000)")
    parser.add_argument("--rounds", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--pg", metavar="URL", help="also measure on this PostgreSQL database (its tables are "
                        "dropped and created again for every run)")
    parser.add_argument("--audit", choices=["row", "summary"], default="row")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for orders in args.orders:
            path = tmp / f"orders-{orders}.csv"
            rows = write_file(path, orders)
            targets = [("SQLite", lambda name: f"sqlite:///{tmp / name}.sqlite")]
            if args.pg:
                targets.append(("PostgreSQL", lambda name: args.pg))
            for label, url_of in targets:
                best_import = best_base = float("inf")
                counts: dict[str, int] = {}
                for i in range(args.rounds):
                    rt = runtime(url_of(f"base{orders}-{i}"), tmp)
                    best_base = min(best_base, baseline(rt, path, args.audit))
                    rt.db.dispose()
                    rt = runtime(url_of(f"import{orders}-{i}"), tmp)
                    seconds, counts = import_run(rt, path, args.audit)
                    best_import = min(best_import, seconds)
                    rt.db.dispose()
                ratio = best_import / best_base
                print(f"import_orders {label} {orders} orders, {rows} rows (audit={args.audit}): import "
                      f"{best_import:.2f}s ({orders / best_import:.0f} orders/s), baseline {best_base:.2f}s, "
                      f"ratio {ratio:.2f}x", flush=True)
                print(json.dumps({"bench": "import_orders", "database": label, "orders": orders, "rows": rows,
                                  "audit": args.audit, "import_s": round(best_import, 3),
                                  "baseline_s": round(best_base, 3), "ratio": round(ratio, 2), "counts": counts}),
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
