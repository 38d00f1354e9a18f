"""``crm import products|price_lists|invoices|payments|opportunities`` against hand-written ``executemany``
baselines writing the same rows (records, audit entries, outbox rows; orders are in ``import_orders``).

``python bench/run.py import_sales [--kind products ...] [--rows 3000] [--rounds 3] [--pg URL]
[--audit row|summary] [--memory]``. Each kind's file refers to customers, products, orders or invoices made
beforehand; each baseline looks its references up with one IN query per batch of 1,000 rows.
"""
from __future__ import annotations

import csv
import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from _baseline import Baseline, insert_ids, timed
from _import_bench import arguments, measure, seed_customers, seed_products

DAY = dt.date(2026, 1, 1)
LIST_SIZE = 50  # price list rows per list
PRODUCTS = 300


def _csv(path: Path, columns: list[str], rows: Any) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows(rows)


def _now() -> dt.datetime:
    from crmcore.db import utcnow

    return utcnow()


def _ids(session: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    return insert_ids(session, table, rows)


def _by(session: Any, key: Any, value: Any, wanted: set[str]) -> dict[Any, Any]:
    from sqlalchemy import select

    return dict(session.execute(select(key, value).where(key.in_(wanted))).all())


# --- products ------------------------------------------------------------------------------------

def products_file(path: Path, rows: int) -> None:
    _csv(path, ["code", "name", "list_price", "category", "unit"],
         ([f"X{i:07d}", f"产品 {i}", f"{(i % 997 + 1) * 1.25:.2f}", ("茶叶", "茶具", "礼盒")[i % 3], "pcs"]
          for i in range(rows)))


def products_write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    from plugins.sales.models import Product

    now = _now()
    items = [{"code": r["code"], "name": r["name"], "list_price": Decimal(r["list_price"]), "category": r["category"],
              "unit": r["unit"], "currency": "CNY", "active": True, "source": "crm", "version": 1,
              "created_at": now, "updated_at": now} for r in batch]
    for item, pid in zip(items, _ids(session, Product.__table__, items), strict=True):
        recorder.change("product", "created", pid, {k: [None, item[k]] for k in (
            "code", "name", "list_price", "category", "unit")}, {}, "sales.product.created")


# --- price lists ---------------------------------------------------------------------------------

def price_lists_file(path: Path, rows: int) -> None:
    _csv(path, ["price_list", "product_code", "price", "currency"],
         ([f"价目表 {i // LIST_SIZE}", f"P{i % LIST_SIZE * 5 % PRODUCTS:04d}", f"{9 + i % 7}.50", "CNY"]
          for i in range(rows)))


def price_lists_write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    from plugins.sales.models import PriceList, PriceListItem, Product

    now = _now()
    products = _by(session, Product.code, Product.id, {r["product_code"] for r in batch})
    names = list(dict.fromkeys(r["price_list"] for r in batch))
    lists = [{"name": n, "currency": "CNY", "active": True, "source": "crm", "created_at": now} for n in names]
    ids = dict(zip(names, _ids(session, PriceList.__table__, lists), strict=True))
    items = [{"price_list_id": ids[r["price_list"]], "product_id": products[r["product_code"]],
              "price": Decimal(r["price"])} for r in batch]
    _ids(session, PriceListItem.__table__, items)
    prices: dict[int, dict[str, str]] = {}
    for i in items:
        prices.setdefault(i["price_list_id"], {})[str(i["product_id"])] = str(i["price"])
    for name in names:
        recorder.change("price_list", "created", ids[name], {"name": [None, name], "items": [{}, prices[ids[name]]]},
                        {}, "sales.price_list.created")


# --- invoices ------------------------------------------------------------------------------------

def invoices_file(path: Path, rows: int) -> None:
    _csv(path, ["number", "customer_code", "invoice_date", "due_date", "amount_total"],
         ([f"INV{i:08d}", f"K{i // 3:07d}", (DAY + dt.timedelta(days=i % 300)).isoformat(),
           (DAY + dt.timedelta(days=i % 300 + 30)).isoformat(), f"{(i % 991 + 1) * 3.5:.2f}"] for i in range(rows)))


def invoices_write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    from crmcore.models import Customer
    from plugins.sales.models import Invoice

    now = _now()
    customers = _by(session, Customer.code, Customer.id, {r["customer_code"] for r in batch})
    items = [{"number": r["number"], "customer_id": customers[r["customer_code"]], "order_id": None, "owner_id": None,
              "invoice_date": dt.date.fromisoformat(r["invoice_date"]), "due_date": dt.date.fromisoformat(r["due_date"]),
              "currency": "CNY", "amount_total": Decimal(r["amount_total"]), "amount_paid": Decimal("0.00"),
              "state": "open", "source": "import", "version": 1, "created_at": now, "updated_at": now} for r in batch]
    for item, iid in zip(items, _ids(session, Invoice.__table__, items), strict=True):
        recorder.change("invoice", "created", iid, {k: [None, item[k]] for k in (
            "number", "customer_id", "invoice_date", "due_date", "amount_total", "currency", "state", "source")},
            {"number": item["number"], "customer_id": item["customer_id"]}, "sales.invoice.created")


# --- payments ------------------------------------------------------------------------------------

def payments_file(path: Path, rows: int) -> None:
    """Two payments per invoice (the invoices of 100.00 made beforehand): the first half, then the rest."""
    _csv(path, ["reference", "invoice_number", "paid_on", "amount"],
         ([f"PAY{i:08d}", f"PINV{i % ((rows + 1) // 2):08d}", (DAY + dt.timedelta(days=i % 200)).isoformat(),
           "50.00"] for i in range(rows)))


def payments_prepare(rt: Any, rows: int) -> None:
    from sqlalchemy import insert

    from plugins.sales.models import Invoice

    count = (rows + 1) // 2
    seed_customers(rt, count // 3 + 1)
    now = _now()
    with rt.db.new_session() as session:
        from crmcore.models import Customer

        first = _by(session, Customer.code, Customer.id, {"K0000000"})["K0000000"]
        for start in range(0, count, 5000):
            session.execute(insert(Invoice.__table__), [
                {"number": f"PINV{i:08d}", "customer_id": first + i // 3, "invoice_date": DAY,
                 "due_date": DAY + dt.timedelta(days=30), "currency": "CNY", "amount_total": Decimal("100.00"),
                 "amount_paid": Decimal("0.00"), "state": "open", "source": "crm", "version": 1, "created_at": now,
                 "updated_at": now} for i in range(start, min(count, start + 5000))])
        session.commit()


def payments_write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    from sqlalchemy import bindparam, select, update

    from plugins.sales.models import Invoice, Payment

    now = _now()
    invoices = {r.number: r for r in session.execute(select(
        Invoice.id, Invoice.number, Invoice.customer_id, Invoice.amount_total, Invoice.amount_paid, Invoice.state)
        .where(Invoice.number.in_({r["invoice_number"] for r in batch})))}
    paid = {inv.id: [inv.amount_paid, inv.state, inv.amount_paid] for inv in invoices.values()}
    items = []
    for r in batch:
        inv = invoices[r["invoice_number"]]
        amount = Decimal(r["amount"])
        paid[inv.id][2] += amount
        items.append({"invoice_id": inv.id, "paid_on": dt.date.fromisoformat(r["paid_on"]), "amount": amount,
                      "currency": "CNY", "reference": r["reference"], "source": "import", "created_at": now})
    for item, pid in zip(items, _ids(session, Payment.__table__, items), strict=True):
        recorder.change("payment", "created", pid, {"amount": [None, item["amount"]]},
                        {"invoice_id": item["invoice_id"]}, "sales.payment.recorded")
    totals = {inv.id: inv.amount_total for inv in invoices.values()}
    changed = []
    for iid, (before, state, after) in paid.items():
        new_state = "paid" if after >= totals[iid] else "partial"
        changed.append({"iid": iid, "paid": after, "state": new_state})
        recorder.change("invoice", "updated", iid, {"amount_paid": [before, after], "state": [state, new_state]}, {},
                        "sales.invoice.paid" if new_state == "paid" else "sales.invoice.updated")
    table = Invoice.__table__
    session.execute(update(table).where(table.c.id == bindparam("iid")).values(
        amount_paid=bindparam("paid"), state=bindparam("state"), version=table.c.version + 1, updated_at=now), changed)


# --- opportunities -------------------------------------------------------------------------------

def opportunities_file(path: Path, rows: int) -> None:
    _csv(path, ["number", "name", "customer_code", "amount", "expected_close_date"],
         ([f"OPP{i:08d}", f"商机 {i}", f"K{i // 2:07d}", f"{(i % 500 + 1) * 100}.00",
           (DAY + dt.timedelta(days=60 + i % 200)).isoformat()] for i in range(rows)))


def opportunities_prepare(rt: Any, rows: int) -> None:
    from plugins.sales.services.stages import ensure_stages

    seed_customers(rt, rows // 2 + 1)
    ctx = rt.context(session=rt.db.new_session())
    ensure_stages(ctx)
    ctx.session.close()


def opportunities_write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
    from sqlalchemy import insert, select

    from crmcore.models import Customer, ExternalRef
    from plugins.sales.models import Opportunity, Stage, StageHistory

    now = _now()
    customers = {r.code: r for r in session.execute(select(Customer.code, Customer.id, Customer.owner_id,
                                                             Customer.currency).where(
        Customer.code.in_({r["customer_code"] for r in batch})))}
    stage = session.execute(select(Stage.id, Stage.name, Stage.probability).where(
        Stage.active.is_(True), Stage.is_won.is_(False), Stage.is_lost.is_(False)).order_by(Stage.sequence)).first()
    items = []
    for r in batch:
        c = customers[r["customer_code"]]
        items.append({"name": r["name"], "customer_id": c.id, "owner_id": c.owner_id, "amount": Decimal(r["amount"]),
                      "currency": c.currency or "CNY", "expected_close_date": dt.date.fromisoformat(r["expected_close_date"]),
                      "probability": stage.probability, "stage_id": stage.id, "status": "open", "stage_entered_at": now,
                      "version": 1, "created_at": now, "updated_at": now})
    ids = _ids(session, Opportunity.__table__, items)
    session.execute(insert(StageHistory.__table__), [{"opportunity_id": oid, "stage_id": stage.id, "entered_at": now,
                                                      "user_id": None} for oid in ids])
    session.execute(insert(ExternalRef.__table__), [
        {"system": "import", "entity": "opportunity", "entity_id": oid, "external_id": r["number"], "created_at": now,
         "last_synced_at": now} for r, oid in zip(batch, ids, strict=True)])
    for item, oid in zip(items, ids, strict=True):
        recorder.change("opportunity", "created", oid, {k: [None, item[k]] for k in (
            "name", "customer_id", "amount", "expected_close_date", "owner_id")},
            {"customer_id": item["customer_id"], "stage": stage.name}, "sales.opportunity.created")


def _seed(customers: Callable[[int], int], products: bool = False) -> Callable[[Any, int], None]:
    def prepare(rt: Any, rows: int) -> None:
        if customers(rows):
            seed_customers(rt, customers(rows))
        if products:
            seed_products(rt, PRODUCTS)
    return prepare


#: kind -> (file writer, what the database holds first, the baseline's batch writer, rows kept together by)
KINDS: dict[str, tuple[Callable[..., None], Callable[[Any, int], None], Any, str | None]] = {
    "products": (products_file, _seed(lambda rows: 0), products_write, None),
    "price_lists": (price_lists_file, _seed(lambda rows: 0, products=True), price_lists_write, "price_list"),
    "invoices": (invoices_file, _seed(lambda rows: rows // 3 + 1), invoices_write, None),
    "payments": (payments_file, payments_prepare, payments_write, None),
    "opportunities": (opportunities_file, opportunities_prepare, opportunities_write, None),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    kinds = list(KINDS)
    if "--kind" in argv:
        at = argv.index("--kind")
        end = next((j for j in range(at + 1, len(argv)) if argv[j].startswith("--")), len(argv))
        kinds, argv = argv[at + 1:end], argv[:at] + argv[end:]
    args = arguments("import_sales", argv)
    for kind in kinds:
        write_file, prepare, write, key = KINDS[kind]

        def baseline(rt: Any, path: Path, write: Any = write, key: str | None = key) -> float:
            return timed(rt, path, write, key=key)

        measure(f"import_{kind}", args, kind, write_file, prepare, baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
