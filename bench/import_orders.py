"""``crm import orders`` (one CSV row per order line) against a hand-written ``executemany`` baseline
writing the same rows: orders with the service's totals, their lines, an audit entry and the outbox
rows per order.

``python bench/run.py import_orders [--rows 2000] [--rounds 3] [--pg URL] [--audit row|summary] [--memory]``;
``--rows`` counts orders here (1 to 5 lines each, ~3 on average); the full size is ``--rows 70000`` (a store's
order history, ~210,000 lines). Each run is on a fresh database with the same customers and products.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from _baseline import Baseline, insert_ids, timed
from _import_bench import arguments, measure, seed_customers, seed_products

COLUMNS = ["number", "customer_code", "order_date", "status", "product_code", "quantity", "unit_price",
           "list_price", "discount_percent"]
CUSTOMERS, PRODUCTS = 2000, 300
CENT = Decimal("0.01")


def write_file(path: Path, orders: int) -> None:
    """``orders`` orders of 1 to 5 lines (3 on average)."""
    rnd = random.Random(orders)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        day = dt.date(2024, 1, 1)
        for n in range(orders):
            head = [f"SO{n:08d}", f"K{rnd.randrange(CUSTOMERS):07d}", (day + dt.timedelta(days=n % 700)).isoformat(),
                    rnd.choice(["confirmed", "confirmed", "delivered"])]
            for _line in range(rnd.randint(1, 5)):
                price = rnd.randint(100, 99999)
                out.writerow(head + [f"P{rnd.randrange(PRODUCTS):04d}", rnd.randint(1, 20), f"{price / 100:.2f}",
                                     f"{price * 1.1 / 100:.2f}", rnd.choice(["0", "0", "5", "12.5"])])


def prepare(rt: Any, orders: int) -> None:
    seed_customers(rt, CUSTOMERS)
    seed_products(rt, PRODUCTS)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    """Codes resolved with one IN query per batch, totals as the service computes them, orders and lines with
    one executemany per table."""
    from sqlalchemy import insert, select

    from crmcore.db import utcnow
    from crmcore.models import Customer
    from plugins.sales.models import Order, OrderLine, Product

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
    ids = insert_ids(session, table, list(orders.values()))
    session.execute(insert(OrderLine.__table__), [{"order_id": oid, **ln} for number, oid in zip(orders, ids, strict=True)
                                                  for ln in lines[number]])
    for (number, order), oid in zip(orders.items(), ids, strict=True):
        changes = {k: [None, order[k]] for k in ("number", "customer_id", "order_date", "status", "source")}
        changes["lines"] = [None, len(lines[number])]
        changes["total"] = [Decimal("0"), order["total"]]
        recorder.change("order", "created", oid, changes, {"number": number, "customer_id": order["customer_id"]},
                        "sales.order.created")


def baseline(rt: Any, path: Path) -> float:
    return timed(rt, path, write, key="number")


def main(argv: list[str] | None = None) -> int:
    args = arguments("import_orders", argv, default_rows=2000)
    return measure("import_orders", args, "orders", write_file, prepare, baseline)


if __name__ == "__main__":
    raise SystemExit(main())
