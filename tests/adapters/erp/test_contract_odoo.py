"""The adapter contract against the fake Odoo (odoo_fake.py implements Odoo's documented JSON-RPC API),
and the Odoo adapter through the whole sync: pull, push of a confirmed order, error envelopes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from adapters.erp.base import FatalAdapterError, SkippableRecordError
from adapters.erp.connections import save_connection
from adapters.erp.odoo import OdooAdapter
from adapters.erp.push import push_pending
from adapters.erp.runner import run_sync
from crmcore.models import Customer
from crmcore.services import customers as customer_svc
from plugins.sales.models import Invoice, Order, Product
from plugins.sales.services import quotes as quote_svc

from adapters.erp.testing import AdapterContract
from .odoo_fake import FakeOdoo
from .tryton.server import free_port


@pytest.fixture
def odoo():
    fake = FakeOdoo()
    fake.clock = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone.utc)
    server = fake.serve()
    yield server
    server.stop()


def settings(server, **extra):
    return {"url": server.url, "database": "odoo", "login": "crm", "retry_attempts": 2, "retry_base": 0.01, **extra}


class OdooEnv:
    def __init__(self, server) -> None:
        self.server, self.fake = server, server.odoo
        self.adapter = OdooAdapter(settings(server, page_size=2), "api-key")

    def advance(self) -> None:
        self.fake.clock += dt.timedelta(seconds=1)  # Odoo's write_date has second precision

    def add_customer(self, name: str, email: str) -> str:
        self.advance()
        return str(self.fake.create("res.partner", {"name": name, "email": email, "is_company": True,
                                                    "customer_rank": 1}))

    def touch(self, external_id: str, name: str) -> None:
        self.fake.write("res.partner", [int(external_id)], {"name": name})

    def deactivate(self, external_id: str) -> None:
        self.advance()
        self.fake.write("res.partner", [int(external_id)], {"active": False})

    def unreachable(self) -> OdooAdapter:
        return OdooAdapter({"url": f"http://127.0.0.1:{free_port()}", "database": "odoo", "login": "crm",
                            "retry_attempts": 1}, "api-key")


class TestOdooContract(AdapterContract):
    counts_existing = True

    @pytest.fixture
    def env(self, odoo):
        return OdooEnv(odoo)


def test_odoo_errors_follow_the_envelope(odoo):
    wrong = OdooAdapter(settings(odoo), "wrong-key")
    with pytest.raises(FatalAdapterError, match="refused the login"):
        wrong.test_connection()
    adapter = OdooAdapter(settings(odoo), "api-key")
    with pytest.raises(SkippableRecordError, match="ValidationError"):
        adapter.call("res.partner", "create", [{"email": "no-name@example.com"}])
    with pytest.raises(FatalAdapterError, match="AttributeError"):
        adapter.call("res.partner", "unlink_everything", [[1]])


def test_sync_with_odoo_pulls_and_pushes(ctx, odoo):
    fake = odoo.odoo
    partner = fake.create("res.partner", {"name": "成都丁公司", "is_company": True, "email": "ding@example.cn",
                                          "street": "天府大道 1 号", "city": "成都", "credit_limit": 5000.0,
                                          "child_ids": [(0, 0, {"name": "赵会计", "email": "zhao@example.cn"})]})
    product = fake.create("product.product", {"name": "Tea", "default_code": "TEA-1", "list_price": 35.5})
    order = fake.create("sale.order", {"partner_id": partner, "name": "S00001", "state": "sale",
                                       "date_order": "2026-10-30 09:00:00", "currency_id": 1,
                                       "order_line": [(0, 0, {"product_id": product, "name": "Tea",
                                                              "product_uom_qty": 2, "price_unit": 35.5})]})
    [order_line] = [i for i, r in fake.tables["sale.order.line"].items() if r["order_id"] == order]
    fake.create("account.move", {"partner_id": partner, "name": "INV/2026/0001", "state": "posted",
                                 "invoice_date": "2026-10-31", "invoice_date_due": "2026-11-30",
                                 "amount_total": 71.0, "amount_residual": 21.0, "currency_id": 1,
                                 "invoice_line_ids": [(0, 0, {"name": "Tea", "sale_line_ids": [(6, 0, [order_line])]})]})
    save_connection(ctx, {"name": "odoo", "adapter": "odoo", "settings": settings(odoo), "secret": "api-key"})
    [result] = run_sync(ctx)
    assert result.errors == {} and {s: c.created for s, c in result.streams.items()} == {
        "customers": 1, "products": 1, "orders": 1, "invoices": 1, "credit_limits": 0}
    customer = ctx.session.scalar(select(Customer))
    assert (customer.name, customer.credit_limit) == ("成都丁公司", Decimal("5000.00"))
    assert [c.name for c in customer.contacts] == ["赵会计"]
    assert ctx.session.scalar(select(Order.number)) == "S00001"
    invoice = ctx.session.scalar(select(Invoice))
    assert (invoice.amount_paid, invoice.state) == (Decimal("50.00"), "partial")
    assert invoice.order_id == ctx.session.scalar(select(Order.id).where(Order.number == "S00001"))  # made from it
    assert order

    # a confirmed CRM quote becomes a confirmed Odoo sale order, once
    tea = ctx.session.scalar(select(Product).where(Product.code == "TEA-1"))
    quote = quote_svc.create_quote(ctx, {"customer_id": customer.id, "currency": "CNY",
                                         "lines": [{"product_id": tea.id, "quantity": 4}]})
    quote_svc.submit_quote(ctx, quote.id)
    crm_order = quote_svc.convert_to_order(ctx, quote.id)
    assert push_pending(ctx)["retry"] == 0  # the pull's own changes are skipped (no echo), the order pushed
    [pushed] = [r for r in fake.tables["sale.order"].values() if r.get("client_order_ref") == crm_order.number]
    assert fake.calls.count(("sale.order", "create")) == 1 and fake.calls.count(("res.partner", "create")) == 0
    assert pushed["state"] == "sale" and pushed["partner_id"] == partner and pushed["amount_total"] == 142.0
    fake.clock += dt.timedelta(minutes=1)
    [again] = run_sync(ctx)
    assert again.streams["orders"].created == 0  # the pushed order came back and was linked, not copied
    assert ctx.session.scalar(select(Customer.id).where(Customer.name == "成都丁公司")) == customer.id
    new_customer = customer_svc.create_customer(ctx, {"name": "Lhasa Trading", "email": "buy@lhasa.example"})
    assert push_pending(ctx) == {"delivered": 1, "retry": 0, "dead": 0}
    assert [r["name"] for r in fake.tables["res.partner"].values() if r.get("ref") == new_customer.code] == [
        "Lhasa Trading"]
