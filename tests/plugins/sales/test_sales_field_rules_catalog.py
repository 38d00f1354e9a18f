"""One validation for products and price lists: the same bad input through the API, the admin form (with
CSRF), the bulk API and ``crm import`` gets the same field error, in the reader's language (issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from crmcore.testing.admin import post_form
from plugins.sales.models import PriceList, PriceListItem, Product

ZH = {"Accept-Language": "zh-CN"}


def count(rt: Any, model: type) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


PRODUCT_CASES = [
    ("code", "P" * (length_of(Product.code) + 1), f"At most {length_of(Product.code)} characters."),
    ("name", "   ", "This field cannot be empty."),
    ("category", "c" * (length_of(Product.category) + 1), f"At most {length_of(Product.category)} characters."),
    ("unit", "u" * (length_of(Product.unit) + 1), f"At most {length_of(Product.unit)} characters."),
    ("list_price", "-1", "Must be a non-negative amount."),
    ("list_price", "lots", "Not a valid number."),
    ("cost", "-2", "Must be a non-negative amount."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
]


@pytest.mark.parametrize("field,value,english", PRODUCT_CASES)
def test_product_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, crm_import: Any,
                                                       field: str, value: str, english: str) -> None:
    good = {"code": "P-1", "name": "Pump", "list_price": "10.00", "unit": "pcs", "currency": "CNY"}
    row = {**good, field: value}
    api = client.post("/api/v1/sales/products", json=row, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    bulk = client.post("/api/v1/sales/products/bulk", json={"products": [row]}, headers=boss)
    assert bulk.json["results"][0]["errors"][field] == [english], bulk.json
    assert f"{field}: {english}" in crm_import("products", [row])
    page = post_form(client, "/admin/sales/product/new/", row)
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, Product) == 0


def test_product_rules_hold_for_a_change_and_in_chinese(client: Any, boss: dict[str, str], rt: Any) -> None:
    created = client.post("/api/v1/sales/products", json={"code": "Ｐ-1", "name": " Pump ", "list_price": "1"},
                          headers=boss)
    assert created.status_code == 201 and (created.json["code"], created.json["name"]) == ("P-1", "Pump")
    product_id = created.json["id"]
    patch = client.patch(f"/api/v1/sales/products/{product_id}", json={"list_price": "-1"}, headers={**boss, **ZH})
    assert patch.status_code == 422 and patch.json["errors"] == {"list_price": ["金额不能为负数。"]}, patch.json
    twice = client.post("/api/v1/sales/products", json={"code": "Ｐ-1 ", "name": "Other", "list_price": "1"},
                        headers=boss)
    assert twice.status_code == 422 and "already used" in twice.json["errors"]["code"][0]
    edit = post_form(client, f"/admin/sales/product/edit/?id={product_id}",
                     {"code": "P-1", "name": "Pump", "list_price": "", "unit": "pcs"}, headers=ZH)
    assert edit.status_code == 200 and "产品需要填写标价（免费产品填 0）。" in html.unescape(edit.text)
    rt.db.session.remove()
    assert str(rt.db.session.get(Product, product_id).list_price) == "1.00"


@pytest.fixture
def pump(client: Any, boss: dict[str, str]) -> int:
    r = client.post("/api/v1/sales/products", json={"code": "P-1", "name": "Pump", "list_price": "10"}, headers=boss)
    assert r.status_code == 201, r.json
    return int(r.json["id"])


# the list's own columns: the API, the bulk API and crm import name the same field with the same words
PRICE_LIST_CASES = [
    ("name", "n" * (length_of(PriceList.name) + 1), f"At most {length_of(PriceList.name)} characters."),
    ("currency", "dollars", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("valid_from", "31/03/2026", "Not a valid date."),
    ("active", "maybe", "Not a valid boolean."),
]


@pytest.mark.parametrize("field,value,english", PRICE_LIST_CASES)
def test_price_list_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, pump: int,
                                                          crm_import: Any, field: str, value: str,
                                                          english: str) -> None:
    body = {"name": "Dealers", "currency": "USD", "items": [{"product_id": pump, "price": "9"}], field: value}
    api = client.post("/api/v1/sales/price-lists", json=body, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    column = "price_list" if field == "name" else field
    row = {"price_list": "Dealers", "currency": "USD", "product_code": "P-1", "price": "9", column: value}
    bulk = client.post("/api/v1/sales/price-lists/bulk", json={"price_lists": [row]}, headers=boss)
    assert bulk.json["results"][0]["errors"][field] == [english], bulk.json
    assert f"{field}: {english}" in crm_import("price_lists", [row])
    assert count(rt, PriceList) == 0


@pytest.mark.parametrize("price,english", [("-1", "Must be a non-negative amount."), ("lots", "Not a valid number."),
                                           ("", "This field cannot be empty.")])
def test_a_bad_price_gets_the_same_words_in_the_api_and_the_import(client: Any, boss: dict[str, str], rt: Any,
                                                                   pump: int, crm_import: Any, price: str,
                                                                   english: str) -> None:
    api = client.post("/api/v1/sales/price-lists", headers=boss,
                      json={"name": "Dealers", "items": [{"product_id": pump, "price": price or None}]})
    assert api.status_code == 422 and api.json["errors"]["items"] == {"0": {"price": [english]}}, api.json
    row = {"price_list": "Dealers", "product_code": "P-1", "price": price}
    bulk = client.post("/api/v1/sales/price-lists/bulk", json={"price_lists": [row]}, headers=boss)
    assert bulk.json["results"][0]["errors"]["price"] == [english], bulk.json
    assert f"price: {english}" in crm_import("price_lists", [row])
    assert count(rt, PriceListItem) == 0


def test_unknown_products_and_a_change_of_items(client: Any, boss: dict[str, str], pump: int) -> None:
    api = client.post("/api/v1/sales/price-lists", headers=boss,
                      json={"name": "Dealers", "items": [{"product_id": pump, "price": "9"},
                                                         {"product_id": 999999, "price": "1"}]})
    assert api.status_code == 422 and api.json["errors"] == {"items": ["Item 2: product 999999 does not exist."]}
    created = client.post("/api/v1/sales/price-lists", json={"name": "Dealers"}, headers=boss)
    assert created.status_code == 201
    # a change of the list still needs each item whole: its lines replace all
    patch = client.patch(f"/api/v1/sales/price-lists/{created.json['id']}", json={"items": [{"product_id": pump}]},
                         headers=boss)
    assert patch.status_code == 422 and patch.json["errors"]["items"] == {
        "0": {"price": ["Missing data for required field."]}}, patch.json


@pytest.mark.parametrize("field,value,english", [
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("currency", "CNY", "CNY is the base currency; its rate is always 1."),
    ("rate", "0", "Must be more than zero."),
    ("rate", "lots", "Not a valid number."),
])
def test_exchange_rate_field_error(client: Any, boss: dict[str, str], field: str, value: str, english: str) -> None:
    r = client.put("/api/v1/sales/exchange-rates", json={"currency": "USD", "rate": "7.1", field: value}, headers=boss)
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    ok = client.put("/api/v1/sales/exchange-rates", json={"currency": "usd", "rate": "7.1"}, headers=boss)
    assert ok.status_code == 200 and ok.json == {"currency": "USD", "rate": "7.10000000"}, ok.json
