"""Smaller sync defects seen against a real Tryton: names kept as the ERP has them, invoices linked to
their sale, updates counted as updates, invalid phones as sync issues, failed runs that say what they
stored and why. One server for the module; each test its own records and CRM database."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from adapters.erp.models import SyncIssue
from adapters.erp.runner import run_sync
from crmcore.models import Address, Contact, Customer
from plugins.sales.models import PriceList, Product

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
