"""One validation for orders (with their lines), invoices and payments: the same bad input through the API,
the bulk API and ``crm import`` gets the same field error, in the reader's language (issue 14 §3)."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from plugins.sales.models import Invoice, Order, Payment

ZH = {"Accept-Language": "zh-CN"}


def count(rt: Any, model: type) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


@pytest.fixture
def ids(client: Any, boss: dict[str, str]) -> dict[str, int]:
    """A customer (code C1) and a product (code P-1)."""
    customer = client.post("/api/v1/customers", json={"name": "Acme", "code": "C1"}, headers=boss)
    product = client.post("/api/v1/sales/products", json={"code": "P-1", "name": "Pump", "list_price": "10"},
                          headers=boss)
    assert customer.status_code == 201 and product.status_code == 201, (customer.json, product.json)
    return {"customer": customer.json["id"], "product": product.json["id"]}


def bulk_errors(client: Any, boss: dict[str, str], kind: str, row: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/v1/sales/{kind.replace('_', '-')}/bulk", json={kind: [row]}, headers=boss)
    assert r.status_code == 200 and r.json["results"][0]["status"] == "rejected", r.json
    return dict(r.json["results"][0]["errors"])


# an order's own fields and its lines' (in the file, a line is a row: its error is on that row)
ORDER_CASES = [
    ("number", "N" * (length_of(Order.number) + 1), f"At most {length_of(Order.number)} characters."),
    ("order_date", "31/03/2026", "Not a valid date."),
    ("status", "shipped", "Must be one of: draft, confirmed, delivered, cancelled."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
]
LINE_CASES = [
    ("quantity", "-1", "Must be a non-negative number."),
    ("unit_price", "lots", "Not a valid number."),
    ("unit_price", "-3", "Must be a non-negative amount."),
    ("discount_percent", "120", "A discount is at most 100 percent."),
    ("description", "d" * 256, "At most 255 characters."),
]


@pytest.mark.parametrize("field,value,english", ORDER_CASES + LINE_CASES)
def test_order_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, ids: dict[str, int],
                                                     crm_import: Any, field: str, value: str, english: str) -> None:
    head = {"number": "SO-1", "order_date": "2026-03-31"}
    line = {"quantity": "2", "unit_price": "10"}
    on_line = field in {case[0] for case in LINE_CASES}
    body = {**head, "customer_id": ids["customer"], "lines": [{"product_id": ids["product"], **line}]}
    if on_line:
        body["lines"][0][field] = value
    else:
        body[field] = value
    api = client.post("/api/v1/sales/orders", json=body, headers=boss)
    assert api.status_code == 422, api.json
    assert (api.json["errors"]["lines"]["0"] if on_line else api.json["errors"])[field] == [english], api.json
    row = {**head, "customer_code": "C1", "product_code": "P-1", **line, field: value}
    assert bulk_errors(client, boss, "orders", row)[field] == [english]
    assert f"{field}: {english}" in crm_import("orders", [row])
    assert count(rt, Order) == 0


def test_unknown_codes_and_ids_of_an_order(client: Any, boss: dict[str, str], rt: Any, ids: dict[str, int]) -> None:
    body = {"number": "SO-1", "order_date": "2026-03-31", "customer_id": ids["customer"],
            "lines": [{"product_id": 999999, "unit_price": "1"}]}
    api = client.post("/api/v1/sales/orders", json=body, headers={**boss, **ZH})
    assert api.status_code == 422 and api.json["errors"] == {"lines.0": ["产品 999999 不存在。"]}, api.json
    row = {"number": "SO-1", "order_date": "2026-03-31", "customer_code": "C404", "product_code": "P-404",
           "unit_price": "1"}
    errors = bulk_errors(client, boss, "orders", row)
    assert "C404" in errors["customer_code"][0] and "P-404" in errors["product_code"][0], errors
    missing = client.post("/api/v1/sales/orders", json={"number": "SO-2", "order_date": "2026-03-31"}, headers=boss)
    assert missing.json["errors"] == {"customer_id": ["Say which customer ordered."]}, missing.json
    assert count(rt, Order) == 0


INVOICE_CASES = [
    ("number", "N" * (length_of(Invoice.number) + 1), f"At most {length_of(Invoice.number)} characters."),
    ("invoice_date", "2026-02-30", "Not a valid date."),
    ("due_date", "soon", "Not a valid date."),
    ("amount_total", "-1", "Must be a non-negative amount."),
    ("amount_total", "lots", "Not a valid number."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("state", "void", "Must be one of: draft, open, partial, paid, cancelled."),
]


@pytest.mark.parametrize("field,value,english", INVOICE_CASES)
def test_invoice_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, ids: dict[str, int],
                                                       crm_import: Any, field: str, value: str, english: str) -> None:
    good = {"number": "INV-1", "invoice_date": "2026-03-31", "due_date": "2026-04-30", "amount_total": "100"}
    api = client.post("/api/v1/sales/invoices", json={**good, "customer_id": ids["customer"], field: value},
                      headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    row = {**good, "customer_code": "C1", field: value}
    assert bulk_errors(client, boss, "invoices", row)[field] == [english]
    assert f"{field}: {english}" in crm_import("invoices", [row])
    assert count(rt, Invoice) == 0


@pytest.fixture
def invoice(client: Any, boss: dict[str, str], ids: dict[str, int]) -> int:
    r = client.post("/api/v1/sales/invoices", headers=boss, json={
        "number": "INV-1", "customer_id": ids["customer"], "invoice_date": "2026-03-31", "due_date": "2026-04-30",
        "amount_total": "100"})
    assert r.status_code == 200, r.json  # recorded (created or updated by its number)
    return int(r.json["id"])


PAYMENT_CASES = [
    ("amount", "0", "Must be more than zero."),
    ("amount", "lots", "Not a valid number."),
    ("paid_on", "yesterday", "Not a valid date."),
    ("currency", "USD", "The invoice is in CNY; record the payment in that currency."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("reference", "R" * (length_of(Payment.reference) + 1), f"At most {length_of(Payment.reference)} characters."),
]


@pytest.mark.parametrize("field,value,english", PAYMENT_CASES)
def test_payment_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, invoice: int,
                                                       crm_import: Any, field: str, value: str, english: str) -> None:
    good = {"reference": "PAY-1", "paid_on": "2026-04-01", "amount": "10"}
    api = client.post(f"/api/v1/sales/invoices/{invoice}/payments", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    row = {**good, "invoice_number": "INV-1", field: value}
    assert bulk_errors(client, boss, "payments", row)[field] == [english]
    assert f"{field}: {english}" in crm_import("payments", [row])
    assert count(rt, Payment) == 0


def test_a_payment_error_in_chinese(client: Any, boss: dict[str, str], invoice: int) -> None:
    r = client.post(f"/api/v1/sales/invoices/{invoice}/payments", json={"paid_on": "2026-04-01", "amount": "-1"},
                    headers={**boss, **ZH})
    assert r.status_code == 422 and r.json["errors"] == {"amount": ["必须大于零。"]}, r.json


QUOTE_CASES = [
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("valid_until", "31/12", "Not a valid date."),
    ("discount_percent", "150", "A discount is at most 100 percent."),
    ("discount_percent", "-1", "Must be a non-negative number."),
    ("price_list_id", 999999, "Price list 999999 does not exist."),
]
QUOTE_LINE_CASES = [
    ("quantity", "0", "Must be more than zero."),
    ("quantity", "lots", "Not a valid number."),
    ("unit_price", "-1", "Must be a non-negative amount."),
    ("discount_percent", "101", "A discount is at most 100 percent."),
    ("description", "d" * 256, "At most 255 characters."),
]


@pytest.mark.parametrize("field,value,english", QUOTE_CASES)
def test_quote_field_error_on_create_and_change(client: Any, boss: dict[str, str], ids: dict[str, int], field: str,
                                                value: Any, english: str) -> None:
    good = {"customer_id": ids["customer"], "lines": [{"product_id": ids["product"], "quantity": "1"}]}
    api = client.post("/api/v1/sales/quotes", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    created = client.post("/api/v1/sales/quotes", json=good, headers=boss)
    assert created.status_code == 201, created.json
    patch = client.patch(f"/api/v1/sales/quotes/{created.json['id']}", json={field: value}, headers=boss)
    assert patch.status_code == 422 and patch.json["errors"][field] == [english], patch.json


@pytest.mark.parametrize("field,value,english", QUOTE_LINE_CASES)
def test_quote_line_field_error_on_create_and_change(client: Any, boss: dict[str, str], ids: dict[str, int],
                                                     field: str, value: str, english: str) -> None:
    line = {"product_id": ids["product"], "quantity": "1", field: value}
    api = client.post("/api/v1/sales/quotes", json={"customer_id": ids["customer"], "lines": [line]}, headers=boss)
    assert api.status_code == 422 and api.json["errors"]["lines"] == {"0": {field: [english]}}, api.json
    created = client.post("/api/v1/sales/quotes", json={"customer_id": ids["customer"]}, headers=boss)
    patch = client.patch(f"/api/v1/sales/quotes/{created.json['id']}", json={"lines": [line]}, headers=boss)
    assert patch.status_code == 422 and patch.json["errors"]["lines"] == {"0": {field: [english]}}, patch.json


def test_a_quote_needs_its_customer_and_known_products(client: Any, boss: dict[str, str], rt: Any,
                                                       ids: dict[str, int]) -> None:
    from plugins.sales.models import Quote

    missing = client.post("/api/v1/sales/quotes", json={"lines": []}, headers={**boss, **ZH})
    assert missing.status_code == 422 and list(missing.json["errors"]) == ["customer_id"], missing.json
    unknown = client.post("/api/v1/sales/quotes", headers=boss, json={
        "customer_id": ids["customer"], "lines": [{"product_id": 999999, "quantity": "1"}]})
    assert unknown.json["errors"] == {"lines.0": ["Product 999999 does not exist."]}, unknown.json
    assert count(rt, Quote) == 0


@pytest.mark.parametrize("key", ["\x00", "SO-\x00-1", "N" * 300])
def test_a_number_that_cannot_be_one_is_refused_by_field_not_by_the_database(client: Any, boss: dict[str, str],
                                                                            rt: Any, invoice: int, key: str) -> None:
    """Found by the fuzzer on PostgreSQL: the order, invoice or payment is looked up by its number before it is
    validated, and PostgreSQL refuses a NUL even to compare."""
    r = client.post("/api/v1/sales/orders", headers=boss, json={"number": key, "order_date": "2026-03-01"})
    assert r.status_code == 422 and "number" in r.json["errors"], r.json
    r = client.post("/api/v1/sales/invoices", headers=boss, json={"number": key, "invoice_date": "2026-03-31",
                                                                  "amount_total": "1"})
    assert r.status_code == 422 and "number" in r.json["errors"], r.json
    r = client.post(f"/api/v1/sales/invoices/{invoice}/payments", headers=boss,
                    json={"reference": key, "paid_on": "2026-04-01", "amount": "1"})
    assert r.status_code == 422 and "reference" in r.json["errors"], r.json
    assert count(rt, Order) == 0 and count(rt, Payment) == 0
