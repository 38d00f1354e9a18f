"""Smaller sync defects seen against a real Tryton: names kept as the ERP has them, invoices linked to
their sale, updates counted as updates, invalid phones as sync issues, failed runs that say what they
stored and why. One server for the module; each test its own records and CRM database."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from adapters.erp.models import SyncIssue, SyncRun
from adapters.erp.runner import run_sync
from crmcore.models import Address, Contact, Customer, ExternalRef
from plugins.sales.models import Invoice, Order, PriceList, Product

from .conftest import TrytonSeed, connect
from .tryton.server import TrytonServer


@pytest.fixture(scope="module")
def server(tryton_template, tmp_path_factory):
    server = TrytonServer.from_template(tryton_template, tmp_path_factory.mktemp("tryton-defects")).start()
    yield server
    server.stop()


@pytest.fixture
def erp(server) -> TrytonSeed:
    return TrytonSeed(server)


def test_full_width_names_are_stored_as_the_erp_has_them(ctx, server, erp, client, admin_headers):
    name = "上海（浦东）ＡＢＣ贸易有限公司"
    erp.party(name, street="浦东大道（东段）100 号",
              contacts=[{"type": "mobile", "value": "13800138000", "name": "王（经理）"}])
    widget = erp.product("Widget（大号）", "FW-1", "12.50")
    [price_list] = erp.call("model.product.price_list.create", [{"name": "批发（华东）", "lines": [["create", [
        {"product": widget, "formula": "9.80"}]]]}])
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "prices"])

    [first] = run_sync(ctx)
    assert first.errors == {}
    customer = ctx.session.scalar(select(Customer))
    assert customer.name == name  # not folded to "上海(浦东)ABC贸易有限公司"
    assert ctx.session.scalar(select(Contact.name)) == "王（经理）"
    assert ctx.session.scalar(select(Address.line1)) == "浦东大道（东段）100 号"
    assert ctx.session.scalar(select(Product.name)) == "Widget（大号）"
    assert ctx.session.scalar(select(PriceList.name)) == "批发（华东）"

    # the price list is found again by the ERP's name: a changed price updates it, no second list, no issue
    line = erp.search_read("product.price_list.line", [("price_list", "=", price_list)], ["id"])[0]["id"]
    erp.call("model.product.price_list.line.write", [line], {"formula": "9.50"})
    [second] = run_sync(ctx)
    assert second.errors == {} and second.streams["prices"].updated == 1 and second.streams["prices"].failed == 0
    assert ctx.session.scalar(select(SyncIssue.reason).where(SyncIssue.status == "open")) is None
    assert ctx.session.get(Customer, customer.id).name == name and second.streams["customers"].updated == 0

    # the match keys still fold: the half-width spelling and the full-width one both find it
    for q in ("(浦东)abc", "（浦东）ＡＢＣ"):
        r = client.get("/api/v1/customers", query_string={"q": q}, headers=admin_headers)
        assert [c["name"] for c in r.json["items"]] == [name], q


def test_an_invalid_phone_is_a_sync_issue_not_a_number(ctx, server, erp):
    bad = erp.party("Short Number Ltd", phone="12345", street="1 Road",
                    contacts=[{"type": "mobile", "value": "999", "name": "Li"}])
    good = erp.party("Good Number Ltd", phone="021-6888-1234", street="2 Road")
    connect(ctx, server, push_enabled=False, streams=["customers"])

    [first] = run_sync(ctx)
    assert first.errors == {} and first.streams["customers"].failed == 0
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "Short Number Ltd"))
    assert (customer.phone, customer.phone_normalized) == (None, None)  # never "+8612345"
    contact = ctx.session.scalar(select(Contact).where(Contact.customer_id == customer.id))
    assert (contact.name, contact.mobile, contact.mobile_normalized) == ("Li", None, None)
    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.status == "open")).all()
    assert (issue.kind, issue.external_id, issue.entity_id) == ("invalid", str(bad), customer.id)
    assert issue.payload["fields"] == {"phone": "12345", "contact Li.mobile": "999"} and "12345" in issue.reason
    other = ctx.session.scalar(select(Customer).where(Customer.name == "Good Number Ltd"))
    assert other.phone_normalized == "+862168881234" and str(good)

    # fixed in the ERP: the number arrives and the issue is resolved
    mechanism = erp.search_read("party.contact_mechanism", [("party", "=", bad), ("type", "=", "phone")], ["id"])[0]
    erp.call("model.party.contact_mechanism.write", [mechanism["id"]], {"value": "13800138000"})
    mobile = erp.search_read("party.contact_mechanism", [("party", "=", bad), ("type", "=", "mobile")], ["id"])[0]
    erp.call("model.party.contact_mechanism.write", [mobile["id"]], {"value": "13900139000"})
    run_sync(ctx)
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).phone_normalized == "+8613800138000"
    assert ctx.session.get(Contact, contact.id).mobile_normalized == "+8613900139000"
    assert ctx.session.get(SyncIssue, issue.id).status == "resolved"


def _invoiced_sale(erp: TrytonSeed, party: int, product: int, quantity: float, price: str) -> tuple[int, int]:
    """A sale invoiced by Tryton itself (invoice method "on order"): the posted invoice's lines come from the
    sale's lines. Returns ``(sale, invoice)``."""
    address = erp.call("model.party.address.search", [("party", "=", party)], 0, 1, None)[0]
    [sale] = erp.call("model.sale.sale.create", [{
        "party": party, "invoice_address": address, "shipment_address": address, "currency": 1,
        "invoice_method": "order", "shipment_method": "manual",
        "lines": [["create", [{"type": "line", "product": product, "quantity": quantity, "unit": 1,
                               "unit_price": {"__class__": "Decimal", "decimal": price}, "description": "line"}]]]}])
    erp.call("model.sale.sale.quote", [sale])
    erp.call("model.sale.sale.confirm", [sale])
    erp.call("model.sale.sale.process", [sale])
    [invoice] = erp.search_read("sale.sale", [("id", "=", sale)], ["invoices"])[0]["invoices"]
    erp.call("model.account.invoice.write", [invoice], {"invoice_date": {"__class__": "date", "year": 2026,
                                                                         "month": 11, "day": 20}})
    erp.post(invoice)
    return sale, invoice


def _accounted_product(erp: TrytonSeed, name: str, code: str, price: str) -> int:
    """A product whose category gives the revenue account Tryton needs to invoice it."""
    revenue = erp.call("model.account.account.search", [("code", "=", "4.1.1")], 0, 1, None)[0]
    [category] = erp.call("model.product.category.create", [{"name": f"Cat {code}", "accounting": True,
                                                              "account_revenue": revenue}])
    product = erp.product(name, code, price)
    template = erp.search_read("product.product", [("id", "=", product)], ["template"])[0]["template"]
    erp.call("model.product.template.write", [template], {"account_category": category})
    return product


def test_an_invoice_made_from_a_sale_is_linked_to_its_order(ctx, server, erp):
    party = erp.party("Linked Order Co", street="3 Dock Road")
    product = _accounted_product(erp, "Linked widget", "LO-1", "10.00")
    sale, invoice = _invoiced_sale(erp, party, product, 3, "10.00")
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "orders", "invoices"])

    [result] = run_sync(ctx)
    assert result.errors == {}
    order = ctx.session.scalar(select(Order).join(ExternalRef, ExternalRef.entity_id == Order.id).where(
        ExternalRef.entity == "order", ExternalRef.external_id == str(sale)))
    crm_invoice = ctx.session.scalar(select(Invoice).join(ExternalRef, ExternalRef.entity_id == Invoice.id).where(
        ExternalRef.entity == "invoice", ExternalRef.external_id == str(invoice)))
    assert crm_invoice.order_id == order.id and crm_invoice.amount_total == Decimal("30.00")


def test_an_invoice_pulled_before_its_order_is_linked_when_the_order_arrives(ctx, server, erp):
    party = erp.party("Late Order Co", street="4 Dock Road")
    product = _accounted_product(erp, "Late widget", "LO-2", "7.00")
    sale, invoice = _invoiced_sale(erp, party, product, 2, "7.00")
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "orders", "invoices"])

    [first] = run_sync(ctx, streams=["customers", "products", "invoices"])  # the order is not pulled yet
    assert first.errors == {} and first.streams["invoices"].failed == 0
    crm_invoice = ctx.session.scalar(select(Invoice).join(ExternalRef, ExternalRef.entity_id == Invoice.id).where(
        ExternalRef.entity == "invoice", ExternalRef.external_id == str(invoice)))
    assert crm_invoice is not None and crm_invoice.order_id is None  # stored, not held back
    issue = ctx.session.scalar(select(SyncIssue).where(SyncIssue.external_id == str(invoice),
                                                       SyncIssue.stream == "invoices"))
    assert (issue.kind, issue.status) == ("unlinked", "open") and f"order {sale}" in issue.reason

    [second] = run_sync(ctx)  # nothing changed in Tryton since: the order arrives, the invoice is linked
    assert second.errors == {}
    ctx.session.expire_all()
    order = ctx.session.scalar(select(Order).join(ExternalRef, ExternalRef.entity_id == Order.id).where(
        ExternalRef.entity == "order", ExternalRef.external_id == str(sale)))
    assert ctx.session.get(Invoice, crm_invoice.id).order_id == order.id
    assert ctx.session.get(SyncIssue, issue.id).status == "resolved"
    assert second.streams["invoices"].updated >= 1  # (earlier tests' invoices in the same Tryton too)


def test_changed_records_are_counted_as_updated_in_every_stream(ctx, server, erp):
    """A payment in Tryton changes only an invoice's amount due (the finance panel's copy): an update, not a
    skip; an order re-read with nothing changed is not an update; unchanged records are counted as skipped."""
    party = erp.party("Counting Co", street="5 Dock Road")
    product = _accounted_product(erp, "Counted widget", "CT-1", "50.00")
    sale, invoice = _invoiced_sale(erp, party, product, 2, "50.00")
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "orders", "invoices", "payments"])
    run_sync(ctx)

    erp.pay(invoice, "40.00", (2026, 11, 25))
    erp.call("model.sale.sale.write", [sale], {"comment": "touched"})  # write_date moves, nothing we store
    erp.call("model.party.party.write", [party], {"name": "Counting Company"})
    [second] = run_sync(ctx)
    assert second.errors == {}
    counts = {s: (c.created, c.updated, c.failed) for s, c in second.streams.items()}
    assert counts["customers"] == (0, 1, 0)
    assert counts["invoices"] == (0, 1, 0)  # was (0, 0, 0): counted as skipped
    assert counts["payments"] == (1, 0, 0)
    assert counts["orders"] == (0, 0, 0) and second.streams["orders"].skipped >= 1
    crm_invoice = ctx.session.scalar(select(Invoice).join(ExternalRef, ExternalRef.entity_id == Invoice.id).where(
        ExternalRef.entity == "invoice", ExternalRef.external_id == str(invoice)))
    assert crm_invoice.amount_due == Decimal("60.00")


def test_a_failed_run_counts_what_it_stored_and_the_status_says_why(ctx, tryton, seed, client, runner, make_user):
    """Tryton stops answering after the first page is stored: the run reports the records it stored (not
    ``total 0 0 0 0 0``) and the status (CLI, API, admin page) gives the reason in the reader's language."""
    from .test_interfaces import login

    seed.parties([{"name": f"Failing party {i}"} for i in range(7)])
    connect(ctx, tryton, push_enabled=False, streams=["customers"], page_size=2)

    def stop_tryton(stream: str, n: int) -> None:  # called after a page is committed
        tryton.stop()

    [result] = run_sync(ctx, progress=stop_tryton)
    stored = ctx.session.scalar(select(func.count()).select_from(Customer))
    assert "customers" in result.errors and 2 <= stored < 7  # the first page (and the one read ahead)
    assert result.streams["customers"].created == stored and result.total.created == stored
    run = ctx.session.scalar(select(SyncRun).where(SyncRun.stream == "customers"))
    assert (run.status, run.created) == ("failed", stored)

    from adapters.erp.cli import sync

    out = runner.invoke(sync, ["status"]).output
    assert f"created={stored}" in out and "Stopped: the ERP could not be reached" in out, out
    admin = make_user("admin", username="boss")[1]
    for lang, words in (("en", "could not be reached"), ("zh-CN", "无法连接")):
        last = client.get("/api/v1/sync/status", headers={**admin, "Accept-Language": lang}).json[
            "connections"][0]["streams"][0]["last_run"]
        assert last["created"] == stored and words in last["reason"] and str(stored) in last["reason"], last
        assert last["status_label"] == {"en": "failed", "zh-CN": "失败"}[lang]
    login(client, "boss")
    page = client.get("/admin/erp/status/").text
    assert "could not be reached" in page and f"The {stored} records stored before stay stored" in page


def test_orders_of_deleted_customers_are_sync_issues_and_of_merged_ones_go_to_the_winner(ctx, server, erp):
    from crmcore.services import customers as customer_svc
    from crmcore.services import dedupe

    deleted_party = erp.party("Deleted In CRM Co", street="6 Dock Road")
    merged_party = erp.party("Merged In CRM Co", street="7 Dock Road")
    live_party = erp.party("Live Co", street="8 Dock Road")
    product = erp.product("Deletion widget", "DL-1", "5.00")
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "orders"])
    run_sync(ctx, streams=["customers", "products"])
    by_name = {c.name: c for c in ctx.session.scalars(select(Customer))}
    customer_svc.delete_customer(ctx, by_name["Deleted In CRM Co"].id)
    winner = customer_svc.create_customer(ctx, {"name": "Merged In CRM Company"})
    dedupe.merge_customers(ctx, winner.id, by_name["Merged In CRM Co"].id)

    sales = {name: erp.sale(party, product, 1, "5.00")
             for name, party in (("deleted", deleted_party), ("merged", merged_party), ("live", live_party))}
    [result] = run_sync(ctx, streams=["orders"])
    assert result.errors == {}  # the refused order does not stop the page
    c = result.streams["orders"]
    assert c.failed == 1 and c.created >= 2  # (with the sales of earlier tests in the same Tryton)
    orders = {ref: order for ref, order in ctx.session.execute(
        select(ExternalRef.external_id, Order).join(Order, Order.id == ExternalRef.entity_id).where(
            ExternalRef.entity == "order"))}
    assert str(sales["deleted"]) not in orders
    assert orders[str(sales["merged"])].customer_id == winner.id  # followed to the customer it was merged into
    assert orders[str(sales["live"])].customer_id == by_name["Live Co"].id
    issue = ctx.session.scalar(select(SyncIssue).where(SyncIssue.external_id == str(sales["deleted"])))
    assert (issue.kind, issue.status) == ("rejected", "open") and "was deleted in the CRM" in issue.reason


def test_the_admin_names_issue_kinds_in_the_readers_language(ctx, server, erp, client, make_user):
    from .test_interfaces import login

    erp.party("Admin Kind Co", phone="12345", street="9 Dock Road")
    connect(ctx, server, push_enabled=False, streams=["customers"])
    run_sync(ctx)
    make_user("admin", username="boss")
    login(client, "boss")
    page = client.get("/admin/erp/issue/").text
    assert "Invalid value" in page and ">invalid<" not in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert "无效的值" in client.get("/admin/erp/issue/").text


def test_a_connection_that_pulls_no_orders_stores_invoices_without_waiting_for_them(ctx, server, erp):
    party = erp.party("No Orders Co", street="10 Dock Road")
    product = _accounted_product(erp, "No-order widget", "NO-1", "3.00")
    _sale, invoice = _invoiced_sale(erp, party, product, 1, "3.00")
    connect(ctx, server, push_enabled=False, streams=["customers", "products", "invoices"])
    [result] = run_sync(ctx)
    assert result.errors == {}
    crm_invoice = ctx.session.scalar(select(Invoice).join(ExternalRef, ExternalRef.entity_id == Invoice.id).where(
        ExternalRef.entity == "invoice", ExternalRef.external_id == str(invoice)))
    assert crm_invoice.order_id is None
    assert ctx.session.scalar(select(func.count()).select_from(SyncIssue).where(SyncIssue.kind == "unlinked")) == 0
