"""The sales imports through the core's driver: ``POST /api/v1/sales/<kind>/bulk``, ``crm import <kind>
FILE``, an order's lines kept in one batch, ``--audit=summary`` and ``--no-update``."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore import hookimpl
from crmcore.imports import ImportOptions
from crmcore.imports.driver import get_kind, import_rows
from crmcore.models import AuditLog
from plugins.sales.models import Invoice, Order, OrderLine, PriceList, Product
from plugins.sales.services import catalog


@pytest.fixture
def refs(ctx: Any, make_customer: Any, make_user: Any) -> dict[str, str]:
    """Customer C-1 (owned by a manager, whose API headers are returned) and products P-1, P-2."""
    manager, headers = make_user("manager")
    make_customer("Acme", manager, code="C-1")
    for n in (1, 2):
        catalog.create_product(ctx, {"code": f"P-{n}", "name": f"Item {n}", "list_price": "10"})
    return headers


def line(number: str, product: str = "P-1", **more: str) -> dict[str, str]:
    return {"number": number, "customer_code": "C-1", "order_date": "2026-03-01", "product_code": product,
            "quantity": "1", "unit_price": "10", **more}


def count(ctx: Any, model: Any) -> int:
    return ctx.session.scalar(select(func.count()).select_from(model))


def test_bulk_endpoints_answer_per_row(client: Any, ctx: Any, refs: dict[str, str]) -> None:
    headers = refs
    url = "/api/v1/sales/orders/bulk"
    body = {"orders": [line("SO-1"), line("SO-1", "P-2"), line("SO-2", "P-404")]}
    answer = client.post(url, json=body, headers=headers)
    assert answer.status_code == 200, answer.json
    assert answer.json["summary"] == {"created": 2, "rejected": 1}, answer.json
    assert [(r["index"], r["status"], r["number"]) for r in answer.json["results"]] == [
        (1, "created", "SO-1"), (2, "created", "SO-1"), (3, "rejected", "SO-2")]
    assert answer.json["results"][2]["errors"] == {"product_code": ["No product has the code 'P-404'."]}
    zh = client.post(url, json=body, headers={**headers, "Accept-Language": "zh-CN"})
    assert zh.json["summary"] == {"unchanged": 2, "rejected": 1}
    assert zh.json["results"][2]["errors"] == {"product_code": ["没有编号为“P-404”的产品。"]}
    for path, rows in (("products", [{"code": "P-9", "name": "New", "list_price": "1"}]),
                       ("price-lists", [{"price_list": "Dealers", "product_code": "P-9", "price": "0.5"}]),
                       ("invoices", [{"number": "INV-1", "customer_code": "C-1", "order_number": "SO-1",
                                      "invoice_date": "2026-03-02", "due_date": "2026-04-01", "amount_total": "20"}]),
                       ("payments", [{"reference": "B-1", "invoice_number": "INV-1", "paid_on": "2026-03-03",
                                      "amount": "20"}]),
                       ("opportunities", [{"number": "OPP-1", "name": "Pumps", "customer_code": "C-1"}])):
        answer = client.post(f"/api/v1/sales/{path}/bulk", json={path.replace("-", "_"): rows}, headers=headers)
        assert (path, answer.status_code, answer.json["summary"]) == (path, 200, {"created": 1})
    ctx.session.expire_all()
    assert ctx.session.scalar(select(Invoice.state)) == "paid"


def test_bulk_endpoints_check_who_and_how_much(client: Any, refs: dict[str, str], make_user: Any) -> None:
    _rep, rep = make_user("sales")
    manager = refs
    assert client.post("/api/v1/sales/orders/bulk", json={"orders": [line("SO-1")]}).status_code == 401
    assert client.post("/api/v1/sales/orders/bulk", json={"orders": [line("SO-1")]}, headers=rep).status_code == 403
    assert client.post("/api/v1/sales/products/bulk", json={"products": [{"code": "X"}]},
                       headers=rep).status_code == 403
    many = client.post("/api/v1/sales/orders/bulk", json={"orders": [line(f"SO-{n}") for n in range(1001)]},
                       headers=manager)
    assert many.status_code == 413 and "1000" in many.json["message"]
    assert client.post("/api/v1/sales/orders/bulk", json={"orders": []}, headers=manager).status_code == 422


def test_an_order_is_never_cut_between_batches(ctx: Any, refs: dict[str, str]) -> None:
    kind = dataclasses.replace(get_kind(ctx, "orders"), batch_size=2)
    rows = [line("SO-1"), line("SO-1", "P-2"), line("SO-1"), line("SO-2"), line("SO-3"), line("SO-3", "P-2")]
    results = import_rows(ctx, kind, rows)
    assert [r.status for r in results] == ["created"] * 6
    lines = dict(ctx.session.execute(select(Order.number, func.count(OrderLine.id)).join(OrderLine)
                                     .group_by(Order.number)).all())
    assert lines == {"SO-1": 3, "SO-2": 1, "SO-3": 2}


def test_an_order_number_coming_back_later_replaces_the_lines(ctx: Any, refs: dict[str, str]) -> None:
    results = import_rows(ctx, get_kind(ctx, "orders"), [line("SO-1"), line("SO-1", "P-2"), line("SO-2"),
                                                        line("SO-1", "P-2", quantity="4")])
    assert [r.status for r in results] == ["created", "created", "created", "updated"]
    order = ctx.session.scalar(select(Order).where(Order.number == "SO-1"))
    assert [(ln.product_id is not None, ln.quantity) for ln in order.lines] == [(True, 4)]


def test_a_line_with_an_unknown_column_takes_its_order_with_it(ctx: Any, refs: dict[str, str]) -> None:
    rows = [line("SO-1"), line("SO-1", colour="red"), line("SO-2")]
    results = import_rows(ctx, get_kind(ctx, "orders"), rows)
    assert [r.status for r in results] == ["rejected", "rejected", "created"]
    assert results[1].errors == {"colour": ["Unknown field."]}
    assert "line 2" in results[0].errors["row"][0]
    assert ctx.session.scalars(select(Order.number)).all() == ["SO-2"]


def test_summary_audit_and_no_update(ctx: Any, refs: dict[str, str]) -> None:
    kind = get_kind(ctx, "orders")
    import_rows(ctx, kind, [line("SO-1"), line("SO-2")], ImportOptions(audit="summary"))
    entries = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "order")).all()
    assert [(e.action, e.data["rows"], e.data["created"]) for e in entries] == [("imported", 2, 2)]
    results = import_rows(ctx, kind, [line("SO-1", quantity="3"), line("SO-3")], ImportOptions(update=False))
    assert [r.status for r in results] == ["rejected", "created"]
    assert "Already exists" in results[0].errors["row"][0]
    products = import_rows(ctx, get_kind(ctx, "products"), [{"code": "P-1", "name": "X", "list_price": "3"}],
                           ImportOptions(update=False))
    assert products[0].status == "rejected" and count(ctx, Product) == 2


def test_crm_import_orders_from_a_file(runner: Any, ctx: Any, refs: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("number,customer_code,order_date,product_code,quantity,unit_price\n"
                    "SO-1,C-1,2026-03-01,P-1,2,10\n"
                    "SO-1,C-1,2026-03-01,P-2,1,5\n"
                    "SO-2,C-9,2026-03-01,P-1,1,10\n", encoding="gb18030")
    from crmcore.cli import cli

    result = runner.invoke(cli, args=["import", "orders", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 rows read: created 2, updated 0, unchanged 0, rejected 1" in result.output
    rejects = (tmp_path / "orders.rejected.csv").read_text(encoding="utf-8-sig")
    assert "4,SO-2" in rejects and "No customer has the code 'C-9'." in rejects
    assert ctx.session.scalar(select(Order.total).where(Order.number == "SO-1")) == 25
    again = runner.invoke(cli, args=["import", "orders", str(path)])
    assert "unchanged 2" in again.output
    listed = runner.invoke(cli, args=["import", "--help"])
    assert all(name in listed.output for name in ("orders", "invoices", "payments", "products", "price_lists",
                                                  "opportunities"))
    assert count(ctx, PriceList) == 0


class Spy:
    """A plugin that notes every event it is sent after commit."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def crm_event(self, ctx: Any, event: Any) -> None:
        self.events.append((event.name, event.data.get("number")))


def test_each_imported_record_sends_its_event_after_commit(make_app: Any, make_customer: Any) -> None:
    spy = Spy()
    app = make_app(plugins=[("spy", spy)], PLUGINS=["plugins.sales"])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    make_customer("Acme", code="C-1")
    catalog.create_product(ctx, {"code": "P-1", "name": "Item", "list_price": "10"})
    spy.events.clear()
    results = import_rows(ctx, get_kind(ctx, "orders"), [line("SO-1"), line("SO-1"), line("SO-2"), line("SO-3", "P-9")])
    assert [r.status for r in results] == ["created", "created", "created", "rejected"]
    assert spy.events == [("sales.order.created", "SO-1"), ("sales.order.created", "SO-2")]
    import_rows(ctx, get_kind(ctx, "orders"), [line("SO-1", quantity="2"), line("SO-2")])
    assert spy.events[2:] == [("sales.order.updated", "SO-1")]
