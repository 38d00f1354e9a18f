"""Prices, credit limits and payments pulled from a real Tryton (modules product_price_list,
account_credit_limit and account_invoice's Pay wizard); one server for the module, each test its own
records and CRM database."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from adapters.erp.models import ErpInvoice, SyncIssue
from adapters.erp.panels import finance
from adapters.erp.runner import run_sync
from crmcore.models import Customer
from plugins.sales.models import Invoice, Payment, PriceList, Product

from .conftest import TrytonSeed, connect
from .tryton.server import TrytonServer


@pytest.fixture(scope="module")
def server(tryton_template, tmp_path_factory):
    server = TrytonServer.from_template(tryton_template, tmp_path_factory.mktemp("tryton-finance")).start()
    yield server
    server.stop()


@pytest.fixture
def erp(server) -> TrytonSeed:
    return TrytonSeed(server)


def dec(value: str) -> dict:
    return {"__class__": "Decimal", "decimal": value}


def stream_counts(result, stream):
    c = result.streams[stream]
    return c.created, c.updated, c.failed


def test_price_lists_are_pulled_updated_and_idempotent(ctx, server, erp):
    widget = erp.product("Price widget", "PL-W", "12.50")
    gadget = erp.product("Price gadget", "PL-G", "20.00")
    [price_list] = erp.call("model.product.price_list.create", [{"name": "Wholesale 批发", "lines": [["create", [
        {"product": widget, "formula": "9.80"},
        {"product": widget, "formula": "1.00", "quantity": 100.0},  # a quantity break: not a fixed price
        {"product": gadget, "formula": "list_price * Decimal('0.9')"},  # a formula: Tryton computes it
    ]]]}])
    connect(ctx, server, push_enabled=False)

    [first] = run_sync(ctx, streams=["products", "prices"])
    assert first.errors == {} and stream_counts(first, "prices") == (1, 0, 0)
    pl = ctx.session.scalar(select(PriceList).where(PriceList.name == "Wholesale 批发"))
    crm_widget = ctx.session.scalar(select(Product).where(Product.code == "PL-W"))
    assert (pl.source, pl.currency) == ("erp", "CNY")
    assert [(i.product_id, i.price) for i in pl.items] == [(crm_widget.id, Decimal("9.80"))]

    line = erp.search_read("product.price_list.line", [("price_list", "=", price_list), ("product", "=", widget),
                                                        ("quantity", "=", None)], ["id"])[0]["id"]
    erp.call("model.product.price_list.line.write", [line], {"formula": "9.50"})
    [second] = run_sync(ctx, streams=["products", "prices"])
    assert stream_counts(second, "prices") == (0, 1, 0)
    ctx.session.expire_all()
    assert [(i.product_id, i.price) for i in ctx.session.get(PriceList, pl.id).items] == [
        (crm_widget.id, Decimal("9.50"))]

    [third] = run_sync(ctx, streams=["products", "prices"])
    assert stream_counts(third, "prices") == (0, 0, 0) and third.streams["prices"].deleted == 0
    assert ctx.session.scalar(select(func.count()).select_from(PriceList)) == 1

    erp.call("model.product.price_list.line.delete", [line])  # gone in Tryton: a person decides in the CRM
    [fourth] = run_sync(ctx, streams=["products", "prices"])
    assert fourth.streams["prices"].deleted == 1
    issue = ctx.session.scalar(select(SyncIssue).where(SyncIssue.kind == "deleted", SyncIssue.stream == "prices"))
    assert issue.external_id == f"{price_list}:{widget}" and issue.status == "open"


def test_a_credit_limit_set_in_tryton_reaches_the_customer_and_the_finance_panel(ctx, server, erp):
    party = erp.party("Credit Kappa 信用", street="8 Credit Road")
    erp.invoice(party, "300.00", (2026, 11, 20))
    erp.call("model.party.party.write", [party], {"credit_limit_amount": dec("1000.00")})
    connect(ctx, server, push_enabled=False)

    [first] = run_sync(ctx)
    assert first.errors == {} and first.streams["credit_limits"].updated >= 1
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "Credit Kappa 信用"))
    assert customer.credit_limit == Decimal("1000.00")
    money = finance(ctx, customer, today=dt.date(2026, 12, 2))
    assert (money["credit_used_percent"], money["credit_available"]) == (Decimal("30.0"), Decimal("700.00"))

    erp.call("model.party.party.write", [party], {"credit_limit_amount": dec("2000.00")})
    [second] = run_sync(ctx)
    assert stream_counts(second, "credit_limits") == (0, 1, 0)
    ctx.session.expire_all()
    customer = ctx.session.get(Customer, customer.id)
    assert customer.credit_limit == Decimal("2000.00")
    assert finance(ctx, customer, today=dt.date(2026, 12, 2))["credit_used_percent"] == Decimal("15.0")
    [third] = run_sync(ctx)
    assert stream_counts(third, "credit_limits") == (0, 0, 0)


def test_payments_made_in_tryton_pay_the_crm_invoice(ctx, server, erp):
    party = erp.party("Payer Lambda 付款", street="9 Pay Street")
    invoice = erp.invoice(party, "300.00", (2026, 11, 21))  # after the other tests' (sequence order)
    connect(ctx, server, push_enabled=False)
    [first] = run_sync(ctx)
    assert first.errors == {}
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "Payer Lambda 付款"))
    crm_invoice = ctx.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id))
    assert (crm_invoice.amount_paid, crm_invoice.amount_due) == (Decimal("0"), Decimal("300.00"))

    erp.pay(invoice, "100.00", (2026, 11, 25))  # a partial payment: added to the invoice's payment lines
    [second] = run_sync(ctx)
    assert stream_counts(second, "payments") == (1, 0, 0)
    ctx.session.expire_all()
    crm_invoice = ctx.session.get(Invoice, crm_invoice.id)
    [payment] = ctx.session.scalars(select(Payment).where(Payment.invoice_id == crm_invoice.id)).all()
    assert (payment.amount, payment.paid_on, payment.source) == (Decimal("100.00"), dt.date(2026, 11, 25), "erp")
    assert (crm_invoice.amount_due, crm_invoice.state) == (Decimal("200.00"), "partial")
    assert finance(ctx, customer, today=dt.date(2026, 11, 26))["amount_due"] == {"CNY": Decimal("200.00")}

    erp.pay(invoice, "200.00", (2026, 11, 28))  # the rest: Tryton reconciles and the invoice is paid
    assert erp.search_read("account.invoice", [("id", "=", invoice)], ["state"])[0]["state"] == "paid"
    [third] = run_sync(ctx)
    assert stream_counts(third, "payments") == (1, 0, 0)
    ctx.session.expire_all()
    crm_invoice = ctx.session.get(Invoice, crm_invoice.id)
    paid = ctx.session.execute(select(Payment.paid_on, Payment.amount).where(Payment.invoice_id == crm_invoice.id)
                               .order_by(Payment.paid_on)).all()
    assert paid == [(dt.date(2026, 11, 25), Decimal("100.00")), (dt.date(2026, 11, 28), Decimal("200.00"))]
    assert (crm_invoice.amount_paid, crm_invoice.amount_due, crm_invoice.state) == (
        Decimal("300.00"), Decimal("0.00"), "paid")
    mirror = ctx.session.scalar(select(ErpInvoice).where(ErpInvoice.external_id == str(invoice)))
    assert (mirror.state, mirror.amount_due) == ("paid", Decimal("0"))

    [fourth] = run_sync(ctx)  # nothing new: no payment twice
    assert stream_counts(fourth, "payments") == (0, 0, 0) and stream_counts(fourth, "invoices") == (0, 0, 0)
    assert ctx.session.scalar(select(func.count()).select_from(Payment)) == 2


def test_fixed_prices_follow_trytons_first_matching_line():
    from adapters.erp.tryton import _fixed_prices

    lines = [{"id": 1, "sequence": 20, "product": 7, "formula": "5"},
             {"id": 2, "sequence": 10, "product": 7, "formula": "Decimal('4.50')"},  # first by sequence
             {"id": 3, "sequence": None, "product": 8, "formula": "unit_price * 2"},  # empty sequence first
             {"id": 4, "sequence": 30, "product": 8, "formula": "3"},  # hidden by line 3 (a formula)
             {"id": 5, "sequence": 40, "product": 9, "formula": "__import__('os')"},  # never evaluated
             {"id": 6, "sequence": 50, "product": None, "formula": "list_price"},  # every product: stops
             {"id": 7, "sequence": 60, "product": 10, "formula": "1"}]
    assert _fixed_prices(lines) == {7: Decimal("4.50")}
