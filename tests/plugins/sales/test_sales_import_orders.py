"""Import of orders with lines (one row per line, grouped by order number): created, updated,
unchanged and rejected orders, a bad line refusing its whole order only, audit and events in bulk."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import Conflict, PermissionDenied
from crmcore.imports import ImportOptions
from crmcore.imports.driver import get_kind, import_rows
from crmcore.models import AuditLog
from plugins.sales.models import Order
from plugins.sales.services import catalog, orders


def load(ctx: Any, kind: str, rows: list[Any], **options: Any) -> list[Any]:
    """Import ``rows`` of ``kind`` as the bulk API does (the driver, one transaction per batch)."""
    return import_rows(ctx, get_kind(ctx, kind), rows, ImportOptions(**options))


@pytest.fixture
def setup(ctx: Any, make_customer: Any) -> dict[str, Any]:
    acme = make_customer("Acme", code="C-1", currency="USD")
    beta = make_customer("Beta", code="C-2")
    p1 = catalog.create_product(ctx, {"code": "P-1", "name": "Pump", "list_price": "100"})
    p2 = catalog.create_product(ctx, {"code": "P-2", "name": "Valve", "list_price": "20"})
    return {"acme": acme, "beta": beta, "p1": p1, "p2": p2}


def line(number: str, customer: str, product: str, qty: str, price: str, **more: str) -> dict[str, str]:
    return {"number": number, "customer_code": customer, "order_date": "2026-03-01", "product_code": product,
            "quantity": qty, "unit_price": price, **more}


def rows() -> list[dict[str, str]]:
    return [line("SO-1", "C-1", "P-1", "2", "95.50", list_price="100", discount_percent="10"),
            line("SO-1", "C-1", "P-2", "3", "19.99", list_price="20"),
            line("SO-2", "Ｃ-2", "Ｐ-2", "1", "20", status="delivered")]


def statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


def audits(ctx: Any) -> int:
    return ctx.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "order"))


def test_orders_are_created_with_totals_as_the_service_computes_them(ctx: Any, setup: dict[str, Any]) -> None:
    results = load(ctx, "orders", rows())
    ctx.session.commit()
    assert statuses(results) == ["created"] * 3
    assert results[0].id == results[1].id != results[2].id
    so1 = ctx.session.scalar(select(Order).where(Order.number == "SO-1"))
    # 2 x 95.50 less 10 % = 171.90; 3 x 19.99 = 59.97 (the service's rounding, half up to cents)
    assert [ln.line_total for ln in so1.lines] == [Decimal("171.90"), Decimal("59.97")]
    assert so1.total == Decimal("231.87") and so1.list_total == Decimal("260.00")
    assert so1.currency == "USD" and so1.status == "confirmed" and so1.source == "import"
    assert so1.order_date == dt.date(2026, 3, 1) and so1.customer_id == setup["acme"].id
    assert [ln.description for ln in so1.lines] == ["Pump", "Valve"]
    so2 = ctx.session.get(Order, results[2].id)
    assert so2.status == "delivered" and so2.currency == "CNY" and so2.customer_id == setup["beta"].id
    entries = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "order").order_by(AuditLog.id)).all()
    assert [(e.action, e.entity_id, e.data["number"]) for e in entries] == [
        ("created", str(so1.id), "SO-1"), ("created", str(so2.id), "SO-2")]


def test_the_same_file_again_changes_nothing(ctx: Any, setup: dict[str, Any]) -> None:
    load(ctx, "orders", rows())
    ctx.session.commit()
    before = audits(ctx)
    results = load(ctx, "orders", rows())
    ctx.session.commit()
    assert statuses(results) == ["unchanged"] * 3
    assert audits(ctx) == before
    assert ctx.session.scalar(select(func.count()).select_from(Order)) == 2


def test_a_changed_order_gets_its_lines_replaced(ctx: Any, setup: dict[str, Any]) -> None:
    first = load(ctx, "orders", rows())
    ctx.session.commit()
    changed = [line("SO-1", "C-1", "P-2", "5", "18")] + rows()[2:]
    results = load(ctx, "orders", changed)
    ctx.session.commit()
    assert statuses(results) == ["updated", "unchanged"]
    ctx.session.expire_all()
    so1 = ctx.session.get(Order, first[0].id)
    assert [(ln.product_id, ln.quantity, ln.line_total) for ln in so1.lines] == [
        (setup["p2"].id, Decimal("5.000"), Decimal("90.00"))]
    assert so1.total == Decimal("90.00") and so1.list_total is None and so1.version == 2
    entry = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "order", AuditLog.action == "updated")).one()
    assert entry.changes["total"] == ["231.87", "90.00"]


def test_a_bad_line_refuses_its_whole_order_and_nothing_else(ctx: Any, setup: dict[str, Any]) -> None:
    bad = rows()
    bad[1]["quantity"] = "three"
    results = load(ctx, "orders", bad)
    ctx.session.commit()
    assert statuses(results) == ["rejected", "rejected", "created"]
    assert "quantity" in results[1].errors
    assert "SO-1" in results[0].errors["order"][0]
    assert ctx.session.scalars(select(Order.number)).all() == ["SO-2"]


def test_one_batch_of_updates_new_orders_and_a_bad_one_in_the_middle(ctx: Any, setup: dict[str, Any]) -> None:
    """In one chunk: an order whose lines change, new orders, an order with a bad line between them (rejected
    alone, with the reason on its own row) and one left as it was; cells with spaces read as trimmed."""
    load(ctx, "orders", rows())
    ctx.session.commit()
    batch = [line("SO-1", "C-1", "P-2", "5", "18"), line("SO-1", "C-1", "P-1", "1", "100"),
             line("SO-3", "C-2", "P-1", "1", "100"),
             line("SO-4", "C-2", "P-1", "1", "100"), line("SO-4", "C-2", "P-2", "-x", "20"),
             line("SO-2", "Ｃ-2", "Ｐ-2", "1", "20", status="delivered"),
             line(" SO-5 ", " C-1 ", " P-2 ", " 2 ", " 20.00 ", discount_percent=" ")]
    results = load(ctx, "orders", batch)
    ctx.session.commit()
    assert statuses(results) == ["updated", "updated", "created", "rejected", "rejected", "unchanged", "created"]
    assert "quantity" in results[4].errors and "SO-4" in results[3].errors["order"][0]
    ctx.session.expire_all()
    orders_by_number = {o.number: o for o in ctx.session.scalars(select(Order))}
    assert sorted(orders_by_number) == ["SO-1", "SO-2", "SO-3", "SO-5"]
    so1 = orders_by_number["SO-1"]
    assert [(ln.product_id, ln.quantity, ln.line_total) for ln in so1.lines] == [
        (setup["p2"].id, Decimal("5.000"), Decimal("90.00")), (setup["p1"].id, Decimal("1.000"), Decimal("100.00"))]
    assert so1.total == Decimal("190.00") and so1.version == 2
    so5 = orders_by_number["SO-5"]
    assert so5.customer_id == setup["acme"].id and so5.total == Decimal("40.00") and so5.currency == "USD"
    assert [(ln.description, ln.discount_percent) for ln in so5.lines] == [("Valve", Decimal("0.00"))]


def test_unknown_customer_and_product_codes_are_named(ctx: Any, setup: dict[str, Any]) -> None:
    data = [line("SO-7", "NOPE", "P-1", "1", "1"), line("SO-8", "C-1", "P-404", "1", "1"),
            line("SO-8", "C-1", "P-1", "1", "1"), line("SO-9", "C-2", "P-1", "1", "1")]
    results = load(ctx, "orders", data)
    ctx.session.commit()
    assert statuses(results) == ["rejected", "rejected", "rejected", "created"]
    assert results[0].errors == {"customer_code": ["No customer has the code 'NOPE'."]}
    assert results[1].errors == {"product_code": ["No product has the code 'P-404'."]}
    assert "another of its lines" in results[2].errors["order"][0]


def test_lines_of_one_order_must_agree_on_the_order(ctx: Any, setup: dict[str, Any]) -> None:
    data = [line("SO-1", "C-1", "P-1", "1", "1"), line("SO-1", "C-2", "P-2", "1", "1")]
    results = load(ctx, "orders", data)
    assert statuses(results) == ["rejected", "rejected"]
    assert "C-1" in results[1].errors["customer_code"][0]


def test_the_service_rules_reject_with_their_reasons(ctx: Any, setup: dict[str, Any]) -> None:
    data = [line("SO-1", "C-1", "P-1", "1", "1", status="shipped"), line("SO-2", "C-1", "P-1", "1", "1",
                                                                         order_date="01/03/2026"),
            line("SO-3", "C-1", "P-1", "1", "1", currency="dollars"), {"number": "SO-4", "customer_code": "C-1",
                                                                         "colour": "red"}, {"customer_code": "C-1"},
            line("SO-5", "C-1", "P-1", "1", "1", discount_percent="150"), line("SO-6" * 20, "C-1", "P-1", "1", "1")]
    results = load(ctx, "orders", data)
    assert statuses(results) == ["rejected"] * 7
    assert "status" in results[0].errors and "order_date" in results[1].errors
    assert "currency" in results[2].errors and "colour" in results[3].errors and "number" in results[4].errors
    assert "discount_percent" in results[5].errors and "number" in results[6].errors


def test_a_cancelled_order_cannot_be_changed(ctx: Any, setup: dict[str, Any]) -> None:
    data = rows()[:2]
    for row in data:
        row["status"] = "cancelled"
    load(ctx, "orders", data)
    ctx.session.commit()
    assert statuses(load(ctx, "orders", data)) == ["unchanged", "unchanged"]
    data[0]["quantity"] = "9"
    results = load(ctx, "orders", data)
    assert statuses(results) == ["rejected", "rejected"]
    assert results[0].errors == {"row": ["Order SO-1 is cancelled; it cannot be changed."]}
    with pytest.raises(Conflict):
        orders.record_order(ctx, {"number": "SO-1", "status": "confirmed"})


def test_deleted_customers_take_no_orders(ctx: Any, setup: dict[str, Any]) -> None:
    from crmcore.services.customers import delete_customer

    delete_customer(ctx, setup["beta"].id)
    results = load(ctx, "orders", rows())
    assert statuses(results) == ["created", "created", "rejected"]
    assert "deleted" in results[2].errors["customer_code"][0]


def test_only_who_records_orders_imports_them(rt: Any, setup: dict[str, Any], make_user: Any) -> None:
    rep, _headers = make_user("sales")
    with pytest.raises(PermissionDenied):
        load(rt.context(actor=rep, source="test"), "orders", rows())


def test_a_plugin_sees_a_new_imported_order_with_its_lines_and_its_change_is_written(ctx: Any,
                                                                                     setup: dict[str, Any]) -> None:
    """``crm_before_save`` of a new order from a file gets the order with its lines and totals applied (as a
    new order from the API does), and what it sets on the order is what the bulk INSERT writes."""
    from crmcore import hookimpl

    seen: list[Any] = []

    class Stamp:
        @hookimpl
        def crm_before_save(self, ctx: Any, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
            if entity == "order" and created:
                seen.append((obj.number, [(ln.description, ln.line_total) for ln in obj.lines], obj.total,
                             changes["lines"]))
                obj.status = "delivered"

    ctx.pm.register(Stamp(), name="stamp")
    try:
        results = load(ctx, "orders", rows()[:2])
    finally:
        ctx.pm.unregister(name="stamp")
    ctx.session.commit()
    assert statuses(results) == ["created", "created"]
    assert seen == [("SO-1", [("Pump", Decimal("171.90")), ("Valve", Decimal("59.97"))], Decimal("231.87"),
                     [None, 2])]
    so1 = ctx.session.scalar(select(Order).where(Order.number == "SO-1"))
    assert (so1.status, [ln.description for ln in so1.lines], so1.total) == ("delivered", ["Pump", "Valve"],
                                                                            Decimal("231.87"))


def test_new_orders_and_lines_are_built_without_the_orms_change_events(ctx: Any, setup: dict[str, Any]) -> None:
    """An import builds thousands of orders and lines never held by a session: their fields are written
    without the ORM's per-field events, and the plugins' ``crm_before_save`` still sees each order whole;
    the API's order, added to the session, is stored the same."""
    from sqlalchemy import event

    from plugins.sales.models import OrderLine

    fired: list[str] = []
    seen: list[tuple[str, Any, list[Any]]] = []

    def on_set(target: Any, value: Any, old: Any, initiator: Any) -> None:
        fired.append(initiator.key)

    class Watcher:
        from crmcore import hookimpl

        @hookimpl
        def crm_before_save(self, ctx: Any, entity: str, obj: Any, changes: Any, created: bool) -> None:
            if entity == "order":
                seen.append((obj.number, obj.total, [(ln.product_id, ln.line_total) for ln in obj.lines]))

    ctx.runtime.pm.register(Watcher(), name="watcher")
    watched = [(OrderLine.quantity, "set"), (Order.total, "set"), (Order.number, "set")]
    for attr, name in watched:
        event.listen(attr, name, on_set)
    try:
        assert statuses(load(ctx, "orders", rows())) == ["created"] * 3
        assert fired == []
        p1, p2 = setup["p1"].id, setup["p2"].id
        assert seen == [("SO-1", Decimal("231.87"), [(p1, Decimal("171.90")), (p2, Decimal("59.97"))]),
                        ("SO-2", Decimal("20.00"), [(p2, Decimal("20.00"))])]
        made = orders.record_order(ctx, {"number": "SO-3", "customer_id": setup["acme"].id, "order_date": "2026-03-02",
                                         "lines": [{"product_id": p1, "quantity": "2", "unit_price": "10"}]})
    finally:
        for attr, name in watched:
            event.remove(attr, name, on_set)
        ctx.runtime.pm.unregister(name="watcher")
    ctx.session.expire_all()
    stored = ctx.session.get(Order, made.id)
    assert (stored.total, stored.currency, [(ln.description, ln.line_total) for ln in stored.lines]) == (
        Decimal("20.00"), "USD", [("Pump", Decimal("20.00"))])
