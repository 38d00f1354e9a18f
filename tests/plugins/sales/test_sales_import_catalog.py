"""Import of products (by code) and price lists (one row per price, grouped by the list's name)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import PermissionDenied
from crmcore.imports import ImportOptions
from crmcore.imports.driver import get_kind, import_rows
from crmcore.models import AuditLog
from plugins.sales.models import PriceList, Product
from plugins.sales.services import catalog


def load(ctx: Any, kind: str, rows: list[Any], **options: Any) -> list[Any]:
    """Import ``rows`` of ``kind`` as the bulk API does (the driver, one transaction per batch)."""
    return import_rows(ctx, get_kind(ctx, kind), rows, ImportOptions(**options))


def statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


def audits(ctx: Any, entity: str) -> list[Any]:
    return list(ctx.session.scalars(select(AuditLog).where(AuditLog.entity == entity).order_by(AuditLog.id)))


PRODUCTS = [{"code": "P-1", "name": "Pump", "list_price": "100", "currency": "usd", "active": "true"},
            {"code": "Ｐ-2", "name": "Valve", "list_price": "20.5", "category": "Parts", "cost": "12"}]


def test_products_created_updated_unchanged(ctx: Any) -> None:
    results = load(ctx, "products", PRODUCTS)
    ctx.session.commit()
    assert statuses(results) == ["created", "created"]
    pump, valve = (ctx.session.get(Product, r.id) for r in results)
    assert (pump.code, pump.currency, pump.list_price, pump.active) == ("P-1", "USD", Decimal("100.00"), True)
    assert (valve.code, valve.category, valve.cost, valve.currency) == ("P-2", "Parts", Decimal("12.00"), "CNY")
    assert [(a.action, a.entity_id) for a in audits(ctx, "product")] == [("created", str(pump.id)),
                                                                        ("created", str(valve.id))]
    again = load(ctx, "products", PRODUCTS)
    ctx.session.commit()
    assert statuses(again) == ["unchanged", "unchanged"]
    changed = load(ctx, "products", [{"code": "P-2", "name": "Valve", "list_price": "22"}])
    ctx.session.commit()
    assert statuses(changed) == ["updated"] and changed[0].id == valve.id
    ctx.session.refresh(valve)
    assert valve.list_price == Decimal("22.00") and valve.category == "Parts"  # a column left out is kept
    assert audits(ctx, "product")[-1].changes == {"list_price": ["20.50", "22.00"]}


def test_bad_products_are_rejected_alone(ctx: Any) -> None:
    rows = [{"code": "P-1", "name": "Pump"}, {"code": "P-2", "name": "Valve", "list_price": "-3"},
            {"code": "P-3", "name": "Hose", "list_price": "1", "colour": "red"},
            {"name": "Nameless", "list_price": "1"},
            {"code": "P-4", "name": "Tap", "list_price": "abc"}, {"code": "P" * 70, "name": "Long", "list_price": "1"},
            {"code": "P-5", "name": "Fine", "list_price": "5"}]
    results = load(ctx, "products", rows)
    ctx.session.commit()
    assert statuses(results) == ["rejected"] * 6 + ["created"]
    assert "list_price" in results[0].errors and "list_price" in results[1].errors
    assert "colour" in results[2].errors and "code" in results[3].errors
    assert "list_price" in results[4].errors and "code" in results[5].errors
    assert ctx.session.scalars(select(Product.code)).all() == ["P-5"]


def test_one_code_twice_in_a_batch_is_one_product(ctx: Any) -> None:
    results = load(ctx, "products", [{"code": "P-1", "name": "Pump", "list_price": "1"},
                                  {"code": "P-1", "name": "Pump", "list_price": "2"}])
    ctx.session.commit()
    assert statuses(results) == ["created", "updated"] and results[0].id == results[1].id
    assert ctx.session.scalar(select(Product.list_price)) == Decimal("2.00")


@pytest.fixture
def products(ctx: Any) -> list[Any]:
    return [catalog.create_product(ctx, {"code": f"P-{n}", "name": f"Item {n}", "list_price": "10"}) for n in (1, 2, 3)]


def test_price_lists_by_name_with_a_price_per_row(ctx: Any, products: list[Any]) -> None:
    rows = [{"price_list": "Dealers", "currency": "USD", "product_code": "P-1", "price": "9"},
            {"price_list": "Dealers", "product_code": "P-2", "price": "8.5"},
            {"price_list": "Retail", "product_code": "P-1", "price": "12"}]
    results = load(ctx, "price_lists", rows)
    ctx.session.commit()
    assert statuses(results) == ["created"] * 3
    dealers = ctx.session.scalar(select(PriceList).where(PriceList.name == "Dealers"))
    assert results[0].id == results[1].id == dealers.id and dealers.currency == "USD"
    assert {i.product.code: i.price for i in dealers.items} == {"P-1": Decimal("9.00"), "P-2": Decimal("8.50")}
    assert statuses(load(ctx, "price_lists", rows)) == ["unchanged"] * 3
    n = len(audits(ctx, "price_list"))
    results = load(ctx, "price_lists", [{"price_list": "Dealers", "product_code": "P-2", "price": "7"},
                                     {"price_list": "Dealers", "product_code": "P-3", "price": "6"}])
    ctx.session.commit()
    assert statuses(results) == ["updated", "created"]
    ctx.session.expire_all()
    assert {i.product.code: i.price for i in dealers.items} == {
        "P-1": Decimal("9.00"), "P-2": Decimal("7.00"), "P-3": Decimal("6.00")}  # prices not in the file stay
    entry = audits(ctx, "price_list")[n:]
    assert len(entry) == 1 and entry[0].changes["items"] == [{str(products[1].id): "8.50"},
                                                            {str(products[1].id): "7.00", str(products[2].id): "6.00"}]


def test_a_price_set_twice_in_one_batch_and_again_in_the_next(ctx: Any, products: list[Any]) -> None:
    """New prices are written with one INSERT per batch: a product's price given twice in a batch is one item
    (the later price), and the next batch in the same session sees the items written, never adding one twice."""
    rows = [{"price_list": "Fair", "product_code": "P-1", "price": "10"},
            {"price_list": "Fair", "product_code": "P-2", "price": "5"},
            {"price_list": "Fair", "product_code": "P-1", "price": "12"}]
    assert statuses(load(ctx, "price_lists", rows)) == ["created", "created", "updated"]
    results = load(ctx, "price_lists", [{"price_list": "Fair", "product_code": "P-1", "price": "12"},
                                        {"price_list": "Fair", "product_code": "P-2", "price": "6"}])
    ctx.session.commit()
    assert statuses(results) == ["unchanged", "updated"]
    ctx.session.expire_all()
    fair = ctx.session.scalar(select(PriceList).where(PriceList.name == "Fair"))
    assert sorted((i.product.code, i.price) for i in fair.items) == [("P-1", Decimal("12.00")), ("P-2", Decimal("6.00"))]


def test_bad_price_rows(ctx: Any, products: list[Any]) -> None:
    rows = [{"price_list": "Dealers", "product_code": "P-404", "price": "9"},
            {"price_list": "Dealers", "product_code": "P-1", "price": "-1"},
            {"price_list": "Dealers", "product_code": "P-2", "price": "5"},
            {"price_list": "Bad", "currency": "dollars", "product_code": "P-1", "price": "5"},
            {"price_list": "Mixed", "currency": "USD", "product_code": "P-1", "price": "5"},
            {"price_list": "Mixed", "currency": "EUR", "product_code": "P-2", "price": "5"}]
    results = load(ctx, "price_lists", rows)
    ctx.session.commit()
    assert statuses(results) == ["rejected", "rejected", "created", "rejected", "rejected", "rejected"]
    assert results[0].errors == {"product_code": ["No product has the code 'P-404'."]}
    assert "price" in results[1].errors and "currency" in results[3].errors and "currency" in results[5].errors
    assert ctx.session.scalars(select(PriceList.name)).all() == ["Dealers"]


def test_only_who_keeps_the_catalogue_imports_it(rt: Any, make_user: Any) -> None:
    rep, _headers = make_user("sales")
    ctx = rt.context(actor=rep, source="test")
    with pytest.raises(PermissionDenied):
        load(ctx, "products", PRODUCTS)
    with pytest.raises(PermissionDenied):
        load(ctx, "price_lists", [])
    assert ctx.session.scalar(select(func.count()).select_from(Product)) == 0


def test_a_lists_later_lines_may_repeat_its_columns_blank_or_spaced(ctx: Any, products: list[Any]) -> None:
    """Only a later line whose list column says something else rejects the list; the same value with spaces,
    a blank cell or none at all is no disagreement."""
    rows = [{"price_list": "Spaced", "currency": "USD", "valid_from": "2026-01-01", "product_code": "P-1", "price": "5"},
            {"price_list": "Spaced", "currency": " USD ", "valid_from": "", "product_code": "P-2", "price": "6"},
            {"price_list": "Spaced", "product_code": "P-3", "price": "7"},
            {"price_list": "Dated", "valid_from": "2026-01-01", "product_code": "P-1", "price": "5"},
            {"price_list": "Dated", "valid_from": "2026-02-01", "product_code": "P-2", "price": "6"}]
    results = load(ctx, "price_lists", rows)
    assert statuses(results) == ["created"] * 3 + ["rejected"] * 2
    assert "2026-02-01" in results[4].errors["valid_from"][0]



@pytest.mark.parametrize("text", ["0", "9", "9.9", "9.90", "09.5", "00", "12.345", "1e3", "-1", "-0", " 9", "9 ",
                                  "+9", "9.", ".5", "１２", "NaN", "inf", "", "abc", "999999999999999",
                                  "9999999999999999999999", "1,000"])
def test_a_plain_price_text_is_taken_as_the_schema_takes_it(ctx: Any, products: list[Any], text: str) -> None:
    """The importer takes a plain amount (digits, at most two places) without loading the item's schema; every
    text gets what the schema makes of it: the same value, or the same refusal."""
    from crmcore.errors import ValidationError

    def outcome(product_checked: bool) -> Any:
        try:
            value = catalog.validate_price(ctx, products[0].id, text, product_checked=product_checked)
        except ValidationError as exc:
            return ("refused", exc.errors, str(exc))
        return (value, str(value))

    assert outcome(True) == outcome(False)  # product_checked=False: always the schema's load
