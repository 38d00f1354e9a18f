"""Pulling from a real Tryton: initial and incremental runs, idempotent re-runs, the finance panel."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from adapters.erp.models import ErpInvoice, SyncIssue
from adapters.erp.panels import finance
from adapters.erp.runner import run_sync
from crmcore.models import Address, Contact, Customer, ExternalRef, SyncState
from plugins.sales.models import Invoice, Order, Payment, Product

from .conftest import connect


def counts(result):
    return {s: (c.read, c.created, c.updated, c.skipped, c.failed) for s, c in result.streams.items()}


def test_initial_incremental_and_repeated_pulls(ctx, tryton, seed):
    acme = seed.party("上海艾克美贸易有限公司", phone="+86 21 6888 1234", email="Sales@Acme.cn", street="浦东大道 100 号",
                      contacts=[{"type": "mobile", "value": "13800138000", "name": "王经理"},
                                {"type": "email", "value": "wang@acme.cn", "name": "王经理"}])
    beta = seed.party("Beta Ltd", email="ap@beta.example", street="1 Harbour Road")
    widget = seed.product("Widget 小部件", "W-1", "12.50")
    seed.sale(acme, widget, 4, "12.50")
    overdue = seed.invoice(beta, "300.00", (2026, 1, 15))
    seed.invoice(acme, "80.00", (2026, 11, 20))
    conn = connect(ctx, tryton)

    [first] = run_sync(ctx, streams=None)
    assert first.errors == {}
    c = counts(first)
    assert c["customers"] == (2, 2, 0, 0, 0)  # the company's own party is not a customer
    assert c["products"][1] == 1 and c["orders"][1] == 1 and c["invoices"][1] == 2
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "上海艾克美贸易有限公司"))
    assert customer.phone == "+86 21 6888 1234" and customer.email == "Sales@Acme.cn"
    [person] = ctx.session.scalars(select(Contact).where(Contact.customer_id == customer.id)).all()
    assert (person.name, person.mobile, person.email) == ("王经理", "13800138000", "wang@acme.cn")
    assert ctx.session.scalar(select(Address.line1).where(Address.customer_id == customer.id)) == "浦东大道 100 号"
    product = ctx.session.scalar(select(Product).where(Product.code == "W-1"))
    assert product.list_price == Decimal("12.50") and product.source == "erp"
    order = ctx.session.scalar(select(Order).where(Order.customer_id == customer.id))
    assert order.total == Decimal("50.00") and order.status == "confirmed" and order.lines[0].product_id == product.id
    beta_customer = ctx.session.scalar(select(Customer).where(Customer.name == "Beta Ltd"))
    invoice = ctx.session.scalar(select(Invoice).where(Invoice.customer_id == beta_customer.id))
    assert (invoice.amount_total, invoice.state, invoice.due_date) == (Decimal("300.00"), "open", dt.date(2026, 2, 14))
    money = finance(ctx, beta_customer, today=dt.date(2026, 12, 2))
    assert money["amount_due"] == {"CNY": Decimal("300.00")} and money["overdue"] == {"CNY": Decimal("300.00")}
    bookmark = ctx.session.scalar(select(SyncState.bookmark).where(SyncState.stream == "customers"))
    assert bookmark["value"] and "resume" not in bookmark

    # a second run reads the overlap window again and changes nothing
    [second] = run_sync(ctx)
    assert all(created == updated == failed == 0 for _r, created, updated, _s, failed in counts(second).values())
    refs = ctx.session.scalar(select(func.count()).select_from(ExternalRef).where(ExternalRef.entity == "customer"))
    assert refs == 2 and ctx.session.scalar(select(func.count()).select_from(Customer)) == 2

    # incremental: a renamed party, a new one, a payment in Tryton
    seed.call("model.party.party.write", [beta], {"name": "Beta Holdings Ltd"})
    seed.party("Gamma 商店", phone="021-6888-0000")
    seed.call("model.account.invoice.write", [overdue], {"description": "reminded"})
    [third] = run_sync(ctx)
    c = counts(third)
    assert c["customers"][1:3] == (1, 1)
    ctx.session.expire_all()
    assert ctx.session.get(Customer, beta_customer.id).name == "Beta Holdings Ltd"  # the ERP owns the name
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 3
    assert ctx.session.scalar(select(func.count()).select_from(Invoice)) == 2
    assert ctx.session.scalar(select(func.count()).select_from(ErpInvoice)) == 2
    assert ctx.session.scalar(select(func.count()).select_from(Payment)) == 0
    assert ctx.session.scalar(select(func.count()).select_from(SyncIssue).where(SyncIssue.status == "open")) == 0
    assert conn.name == "tryton"


def test_crm_owned_contact_fields_are_kept_and_conflicts_recorded(ctx, tryton, seed):
    from crmcore.services import customers as customer_svc

    party = seed.party("Delta Co", email="old@delta.example", street="2 Side Street")
    connect(ctx, tryton, push_enabled=False)
    run_sync(ctx)
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "Delta Co"))
    customer_svc.update_customer(ctx, customer.id, {"email": "crm@delta.example"})
    mechanism = seed.search_read("party.contact_mechanism", [("party", "=", party)], ["id"])[0]["id"]
    seed.call("model.party.contact_mechanism.write", [mechanism], {"value": "erp@delta.example"})
    seed.call("model.party.party.write", [party], {"name": "Delta Company"})
    run_sync(ctx)
    ctx.session.expire_all()
    customer = ctx.session.get(Customer, customer.id)
    assert customer.email == "crm@delta.example" and customer.name == "Delta Company"
    issue = ctx.session.scalar(select(SyncIssue).where(SyncIssue.kind == "conflict"))
    assert issue.status == "open" and "email" in issue.reason and issue.payload["erp"] == "erp@delta.example"


def test_a_party_deleted_in_tryton_is_reported_once_by_the_cheap_count_first(ctx, tryton, seed):
    """Deletion detection asks Tryton to count the linked ids first (``all_exist``); only when one is
    missing does it list every id to find which. A deletion already reported is not counted again."""
    from adapters.erp.connections import build_adapter

    keep, gone = seed.party("留下的客户"), seed.party("Gone Ltd")
    conn = connect(ctx, tryton, streams=["customers"])
    [first] = run_sync(ctx)
    assert first.streams["customers"].created == 2
    adapter = build_adapter(ctx, conn)
    try:
        assert adapter.all_exist("customers", [str(keep), str(gone)]) is True
        seed.call("model.party.party.delete", [gone])
        assert adapter.all_exist("customers", [str(keep), str(gone)]) is False
        assert adapter.all_exist("prices", ["1:2"]) is None  # composite ids: it cannot tell this way
    finally:
        adapter.close()

    [second] = run_sync(ctx)
    assert second.streams["customers"].deleted == 1
    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.kind == "deleted")).all()
    assert (issue.external_id, issue.status) == (str(gone), "open")
    [third] = run_sync(ctx)  # nothing new is gone: the count answers, the issue stays as it was
    assert third.streams["customers"].deleted == 0
    assert ctx.session.scalar(select(func.count()).select_from(SyncIssue)) == 1
