"""Fixtures for the ERP adapter tests: a real Tryton server (see tryton/server.py), the app with the
sales and ERP plugins, a connection to the server, and helpers that seed Tryton over JSON-RPC."""
from __future__ import annotations

import ast
from typing import Any, Callable

import pytest

pytest.register_assert_rewrite("adapters.erp.testing")  # the contract suite's asserts explain their failures

from adapters.erp import models as erp_models  # noqa: E402,F401 - the tables are on the metadata before the database fixture
from plugins.sales import models as sales_models  # noqa: E402,F401

from .tryton.server import TrytonServer, ensure_template  # noqa: E402


@pytest.fixture(scope="session")
def tryton_template():
    """Build (or reuse) the template database once per run."""
    return ensure_template()


@pytest.fixture
def tryton(tryton_template, tmp_path):
    """A Tryton server with a fresh copy of the template database, stopped after the test."""
    server = TrytonServer.from_template(tryton_template, tmp_path / "tryton").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales", "adapters.erp"])


def connect(ctx: Any, server: TrytonServer, name: str = "tryton", **extra: Any) -> Any:
    """An ERP connection to ``server`` (small pages, quick retries)."""
    from adapters.erp.connections import save_connection

    settings = {"url": f"http://127.0.0.1:{server.port}", "database": server.database, "login": server.login,
                "retry_attempts": 2, "retry_base": 0.05, **extra.pop("settings", {})}
    return save_connection(ctx, {"name": name, "adapter": "tryton", "settings": settings,
                                 "secret": server.password, "page_size": 50, **extra})


class TrytonSeed:
    """Creates parties, products, sales and invoices in Tryton over raw JSON-RPC (test set-up only)."""

    def __init__(self, server: TrytonServer) -> None:
        self.server = server
        self.auth, self.context = server.session()
        self.uid = server.call("common.db.login", [server.login, {"password": server.password}, "en"])[0]

    def call(self, method: str, *params: Any) -> Any:
        return self.server.call(method, [*params, self.context], self.auth)

    def parties(self, values: list[dict[str, Any]]) -> list[int]:
        return self.call("model.party.party.create", values)

    def party(self, name: str, phone: str | None = None, email: str | None = None, street: str | None = None,
              contacts: list[dict[str, Any]] = ()) -> int:
        mechanisms = [m for m in ({"type": "phone", "value": phone} if phone else None,
                                  {"type": "email", "value": email} if email else None) if m]
        mechanisms += list(contacts)
        values: dict[str, Any] = {"name": name}
        if mechanisms:
            values["contact_mechanisms"] = [["create", mechanisms]]
        if street:
            values["addresses"] = [["create", [{"street": street, "city": "上海", "postal_code": "200000"}]]]
        return self.parties([values])[0]

    def product(self, name: str, code: str, price: str) -> int:
        [template] = self.call("model.product.template.create", [{
            "name": name, "code": code, "type": "service", "default_uom": 1, "salable": True, "sale_uom": 1,
            "list_price": {"__class__": "Decimal", "decimal": price}, "products": [["create", [{}]]]}])
        return self.call("model.product.product.search", [("template", "=", template)], 0, 1, None)[0]

    def sale(self, party: int, product: int, quantity: float, price: str, reference: str | None = None) -> int:
        address = self.call("model.party.address.search", [("party", "=", party)], 0, 1, None)[0]
        [sale] = self.call("model.sale.sale.create", [{
            "party": party, "invoice_address": address, "shipment_address": address, "currency": 1,
            "invoice_method": "manual", "shipment_method": "manual", "reference": reference,
            "lines": [["create", [{"type": "line", "product": product, "quantity": quantity, "unit": 1,
                                   "unit_price": {"__class__": "Decimal", "decimal": price},
                                   "description": "line"}]]]}])
        self.call("model.sale.sale.quote", [sale])
        self.call("model.sale.sale.confirm", [sale])
        return sale

    def invoice(self, party: int, amount: str, day: tuple[int, int, int]) -> int:
        journal = self.call("model.account.journal.search", [("type", "=", "revenue")], 0, 1, None)[0]
        receivable = self.call("model.account.account.search", [("code", "=", "1.2.1")], 0, 1, None)[0]
        revenue = self.call("model.account.account.search", [("code", "=", "4.1.1")], 0, 1, None)[0]
        term = self.call("model.account.invoice.payment_term.search", [("name", "=", "Net 30 days")], 0, 1, None)[0]
        address = self.call("model.party.address.search", [("party", "=", party)], 0, 1, None)[0]
        [invoice] = self.call("model.account.invoice.create", [{
            "type": "out", "party": party, "invoice_address": address, "currency": 1, "journal": journal,
            "account": receivable, "payment_term": term,
            "invoice_date": {"__class__": "date", "year": day[0], "month": day[1], "day": day[2]},
            "lines": [["create", [{"type": "line", "account": revenue, "quantity": 1.0, "currency": 1,
                                   "unit_price": {"__class__": "Decimal", "decimal": amount},
                                   "description": "service"}]]]}])
        self.post(invoice)
        return invoice

    def post(self, invoice: int) -> None:
        """Post an invoice, acknowledging Tryton's warning about a due date in the past."""
        try:
            self.call("model.account.invoice.post", [invoice])
        except RuntimeError as exc:
            error = ast.literal_eval(str(exc).split(": ", 1)[1])
            if error[0] != "UserWarning":
                raise
            self.call("model.res.user.warning.create", [{"user": self.uid, "name": error[1][0], "always": False}])
            self.call("model.account.invoice.post", [invoice])

    def pay(self, invoice: int, amount: str, day: tuple[int, int, int]) -> None:
        """Pay (part of) an invoice with Tryton's own "Pay" wizard (``account.invoice.pay``) over RPC: a
        posted payment move whose receivable line is added to the invoice, reconciled once it is paid."""
        methods = self.call("model.account.invoice.payment.method.search", [("name", "=", "Bank")], 0, 1, None)
        if not methods:
            cash = self.call("model.account.journal.search", [("type", "=", "cash")], 0, 1, None)[0]
            bank = self.call("model.account.account.search", [("code", "=", "1.1.1")], 0, 1, None)[0]
            methods = self.call("model.account.invoice.payment.method.create", [{
                "name": "Bank", "company": self.context["company"], "journal": cash, "debit_account": bank,
                "credit_account": bank}])
        context = {**self.context, "active_model": "account.invoice", "active_id": invoice, "active_ids": [invoice]}

        def wizard(method: str, *params: Any) -> Any:
            return self.server.call(f"wizard.account.invoice.pay.{method}", [*params, context], self.auth)

        def values(answer: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in answer["view"]["defaults"].items() if "." not in k}

        session = wizard("create")[0]
        try:
            start = {**values(wizard("execute", session, {}, "start")), "payment_method": methods[0],
                     "amount": {"__class__": "Decimal", "decimal": amount}, "description": "payment",
                     "date": {"__class__": "date", "year": day[0], "month": day[1], "day": day[2]}}
            answer = wizard("execute", session, {"start": start}, "choice")
            if answer.get("view"):  # less than the amount to pay: keep the rest open
                wizard("execute", session, {"start": start, "ask": {**values(answer), "type": "partial"}}, "pay")
        finally:
            wizard("delete", session)

    def search_read(self, model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        return self.call(f"model.{model}.search_read", domain, 0, None, None, fields)


@pytest.fixture
def seed(tryton: TrytonServer) -> TrytonSeed:
    return TrytonSeed(tryton)
