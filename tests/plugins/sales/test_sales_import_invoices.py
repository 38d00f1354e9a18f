"""Import of invoices (by number) and payments (by reference): references by code and number, the
invoice's state following its payments, nothing paid twice."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from crmcore.errors import PermissionDenied
from crmcore.imports import ImportOptions
from crmcore.imports.driver import get_kind, import_rows
from crmcore.models import AuditLog
from plugins.sales.models import Invoice, Payment
from plugins.sales.services import orders


def load(ctx: Any, kind: str, rows: list[Any], **options: Any) -> list[Any]:
    """Import ``rows`` of ``kind`` as the bulk API does (the driver, one transaction per batch)."""
    return import_rows(ctx, get_kind(ctx, kind), rows, ImportOptions(**options))


def statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


@pytest.fixture
def setup(ctx: Any, make_customer: Any, make_rep: Any) -> dict[str, Any]:
    rep = make_rep("rep_a")
    acme = make_customer("Acme", rep, code="C-1", currency="USD")
    order = orders.record_order(ctx, {"number": "SO-1", "customer_id": acme.id, "order_date": "2026-03-01",
                                      "currency": "EUR", "lines": [{"description": "x", "unit_price": "100"}]})
    return {"acme": acme, "order": order, "rep": rep}


INVOICES = [{"number": "INV-1", "customer_code": "C-1", "order_number": "SO-1", "invoice_date": "2026-03-02",
             "due_date": "2026-04-01", "amount_total": "100"},
            {"number": "INV-2", "customer_code": "C-1", "invoice_date": "2026-03-05", "due_date": "2026-03-20",
             "amount_total": "50.5", "state": "paid", "owner": "rep_a"}]


def test_invoices_created_updated_unchanged(ctx: Any, setup: dict[str, Any]) -> None:
    results = load(ctx, "invoices", INVOICES)
    ctx.session.commit()
    assert statuses(results) == ["created", "created"]
    one, two = (ctx.session.get(Invoice, r.id) for r in results)
    assert (one.order_id, one.currency, one.state, one.source) == (setup["order"].id, "EUR", "open", "import")
    assert one.due_date == dt.date(2026, 4, 1) and one.amount_total == Decimal("100.00")
    # the state follows the payments: an invoice without any is open, whatever the file says
    assert (two.currency, two.state, two.owner_id) == ("USD", "open", setup["rep"].id)
    assert statuses(load(ctx, "invoices", INVOICES)) == ["unchanged", "unchanged"]
    changed = [dict(INVOICES[0], amount_total="120"), dict(INVOICES[1], state="cancelled")]
    assert statuses(load(ctx, "invoices", changed)) == ["updated", "updated"]
    ctx.session.commit()
    ctx.session.expire_all()
    assert one.amount_total == Decimal("120.00") and two.state == "cancelled"
    entries = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "invoice").order_by(AuditLog.id)).all()
    assert [e.action for e in entries] == ["created", "created", "updated", "updated"]


def test_bad_invoices_are_rejected_with_their_reasons(ctx: Any, setup: dict[str, Any]) -> None:
    rows = [dict(INVOICES[0], customer_code="NOPE"), dict(INVOICES[0], number="INV-3", order_number="SO-404"),
            dict(INVOICES[0], number="INV-4", due_date="soon"), dict(INVOICES[0], number="INV-5", amount_total=""),
            dict(INVOICES[0], number="INV-6", owner="nobody"), dict(INVOICES[0], number="INV-7", state="lost"),
            INVOICES[1], dict(INVOICES[1])]
    results = load(ctx, "invoices", rows)
    ctx.session.commit()
    assert statuses(results) == ["rejected"] * 6 + ["created", "unchanged"]  # the same again: as if row by row
    assert results[0].errors == {"customer_code": ["No customer has the code 'NOPE'."]}
    assert results[1].errors == {"order_number": ["No order has the number 'SO-404'."]}
    assert "due_date" in results[2].errors and "amount_total" in results[3].errors
    assert results[4].errors == {"owner": ["No user is called 'nobody'."]} and "state" in results[5].errors
    assert results[6].id == results[7].id
    assert ctx.session.scalars(select(Invoice.number)).all() == ["INV-2"]


def test_payments_add_up_and_set_the_state(ctx: Any, setup: dict[str, Any]) -> None:
    load(ctx, "invoices", INVOICES)
    ctx.session.commit()
    pays = [{"reference": "BANK-1", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "40"},
            {"reference": "BANK-2", "invoice_number": "INV-1", "paid_on": "2026-03-11", "amount": "60"},
            {"reference": "BANK-3", "invoice_number": "INV-2", "paid_on": "2026-03-11", "amount": "10"}]
    results = load(ctx, "payments", pays)
    ctx.session.commit()
    assert statuses(results) == ["created"] * 3
    one = ctx.session.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    two = ctx.session.scalar(select(Invoice).where(Invoice.number == "INV-2"))
    assert (one.amount_paid, one.state, two.amount_paid, two.state) == (Decimal("100.00"), "paid",
                                                                        Decimal("10.00"), "partial")
    assert ctx.session.get(Payment, results[0].id).source == "import"
    assert statuses(load(ctx, "payments", pays)) == ["unchanged"] * 3  # nothing is paid twice
    ctx.session.commit()
    ctx.session.refresh(one)
    assert one.amount_paid == Decimal("100.00")
    invoice_audit = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "invoice",
                                                               AuditLog.action == "updated")).all()
    assert sorted((a.entity_id, a.changes["state"][1]) for a in invoice_audit) == sorted(
        [(str(one.id), "paid"), (str(two.id), "partial")])


def test_payments_in_two_batches_and_an_invoice_changed_meanwhile(ctx: Any, rt: Any, setup: dict[str, Any]) -> None:
    """What is paid is written with one UPDATE per batch, checked against each invoice's version: the next
    batch in the same session adds to it; an invoice another session changed meanwhile is read again (the
    driver loads the rows again) and nothing is lost or paid twice."""
    load(ctx, "invoices", INVOICES)
    ctx.session.commit()

    def pay(reference: str, amount: str) -> dict[str, str]:
        return {"reference": reference, "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": amount}

    assert statuses(load(ctx, "payments", [pay("B-1", "10")])) == ["created"]
    assert statuses(load(ctx, "payments", [pay("B-2", "15")])) == ["created"]
    one = ctx.session.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    assert (one.amount_paid, one.state, one.version) == (Decimal("25.00"), "partial", 3)
    with rt.db.new_session() as other:  # another writer pays, after this session read the invoice
        other.execute(update(Invoice).where(Invoice.id == one.id).values(
            amount_paid=Decimal("30.00"), version=Invoice.version + 1))
        other.commit()
    assert statuses(load(ctx, "payments", [pay("B-3", "5")])) == ["created"]
    ctx.session.expire_all()
    one = ctx.session.get(Invoice, one.id)
    assert (one.amount_paid, one.version) == (Decimal("35.00"), 5)
    assert ctx.session.scalar(select(func.count()).select_from(Payment)) == 3


def test_bad_payments_are_rejected_alone(ctx: Any, setup: dict[str, Any]) -> None:
    load(ctx, "invoices", [INVOICES[0], dict(INVOICES[1], state="cancelled")])
    load(ctx, "payments", [{"reference": "BANK-1", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "40"}])
    ctx.session.commit()
    rows = [{"reference": "BANK-1", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "45"},
            {"reference": "BANK-1", "invoice_number": "INV-2", "paid_on": "2026-03-10", "amount": "40"},
            {"reference": "BANK-5", "invoice_number": "INV-9", "paid_on": "2026-03-10", "amount": "1"},
            {"reference": "BANK-6", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "0"},
            {"reference": "BANK-7", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "1",
             "currency": "USD"},
            {"reference": "BANK-8", "invoice_number": "INV-2", "paid_on": "2026-03-10", "amount": "1"},
            {"invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "1"},
            {"reference": "BANK-9", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "5"},
            {"reference": "BANK-9", "invoice_number": "INV-1", "paid_on": "2026-03-10", "amount": "5"}]
    results = load(ctx, "payments", rows)
    ctx.session.commit()
    assert statuses(results) == ["rejected"] * 7 + ["created", "unchanged"]
    assert "never changed" in results[0].errors["reference"][0]
    assert "another invoice" in results[1].errors["row"][0]
    assert results[2].errors == {"invoice_number": ["No invoice has the number 'INV-9'."]}
    assert "amount" in results[3].errors and "currency" in results[4].errors
    assert "invoice_number" in results[5].errors and "reference" in results[6].errors
    assert results[7].id == results[8].id
    one = ctx.session.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    assert one.amount_paid == Decimal("45.00")


def test_only_who_records_invoices_imports_them(rt: Any, setup: dict[str, Any], make_user: Any) -> None:
    rep, _headers = make_user("sales")
    ctx = rt.context(actor=rep, source="test")
    with pytest.raises(PermissionDenied):
        load(ctx, "invoices", INVOICES)
    with pytest.raises(PermissionDenied):
        load(ctx, "payments", [])
    assert ctx.session.scalar(select(func.count()).select_from(Invoice)) == 0


@pytest.mark.parametrize("extra,state", [({}, "open"), ({"state": "draft"}, "draft"), ({"state": "cancelled"}, "cancelled"),
                                         ({"amount_total": "0"}, "paid"), ({"state": "paid"}, "open"),
                                         ({"currency": "JPY"}, "open")])
def test_a_new_invoice_is_the_same_from_the_import_and_the_service(ctx: Any, setup: dict[str, Any],
                                                                   extra: dict[str, Any], state: str) -> None:
    """The importer and ``record_invoice`` build a new invoice alike (``orders.new_invoice``): owner and currency
    from its order, else its customer, unless given; the state following the payments unless draft or cancelled;
    the audit entry's changes the same but for the source."""
    acme, order = setup["acme"], setup["order"]
    row = {"customer_code": "C-1", "invoice_date": "2026-03-02", "due_date": "2026-04-01", "amount_total": "100",
           **extra}
    for number, with_order in (("IMP-1", True), ("IMP-2", False)):
        imported = load(ctx, "invoices", [{**row, "number": number, **({"order_number": "SO-1"} if with_order else {})}])
        assert statuses(imported) == ["created"], imported[0].errors
        data = {**{k: v for k, v in row.items() if k != "customer_code"}, "customer_id": acme.id,
                "number": f"API-{number}", **({"order_id": order.id} if with_order else {})}
        by_service = orders.record_invoice(ctx, data)
        ctx.session.commit()
        mine = ctx.session.get(Invoice, imported[0].id)
        fields = ("customer_id", "order_id", "owner_id", "currency", "amount_total", "amount_paid", "state",
                  "invoice_date", "due_date")
        assert [getattr(mine, f) for f in fields] == [getattr(by_service, f) for f in fields]
        assert (mine.source, by_service.source) == ("import", "crm")
        parent = order if with_order else acme
        assert (mine.state, mine.owner_id, mine.currency) == (state, parent.owner_id,
                                                               extra.get("currency", parent.currency))
        audits = {a.entity_id: a.changes for a in ctx.session.scalars(select(AuditLog).where(
            AuditLog.entity == "invoice", AuditLog.entity_id.in_([str(mine.id), str(by_service.id)])))}
        ours, theirs = audits[str(mine.id)], audits[str(by_service.id)]
        assert ours.pop("source") == ["crm", "import"] and ours.pop("number")[1] == number
        assert theirs.pop("number")[1] == f"API-{number}" and ours == theirs
        assert ours.get("state") == (None if state == "open" else ["open", state])
