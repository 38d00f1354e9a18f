"""The compiled schema load of the importers (crmcore.schemas.compiled) gives exactly what the schema's own
load gives, data or errors, for every field of the sales and core schemas and awkward values in each."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from crmcore.schemas import compiled

VALUES: list[Any] = [None, "", " ", "x", " padded ", "12", "012", "-1", "12.345", "12.5", "1e3", "NaN", "Infinity",
                     "１２", "1_000", "1e30", "0.125", "-0.005", "1.2.3", " 7.5 ", "+3", "2026-03-01", "2026-3-1", "2026-02-30", "0001-01-01", "2026-03-01T10:00:00",
                     "CNY", "cny", "CN", "true", "false", 0, 5, -3, 2**40, 5.5, True, False, dt.date(2026, 3, 1),
                     "x" * 300, "a\x00b", "\ud800", [], {}, [{"unit_price": "1"}], "confirmed", "cancelled", "import"]


def outcome(load: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", repr(load(*args, **kwargs))
    except ValidationError as exc:
        return "error", exc.normalized_messages()


def schemas() -> list[tuple[str, Schema, dict[str, Any]]]:
    from crmcore.schemas.customers import CustomerSchema
    from plugins.sales.schemas import (InvoiceSchema, OpportunitySchema, OrderSchema, PaymentSchema,
                                       PriceListItemSchema, PriceListSchema, ProductSchema)

    line = {"product_id": 3, "description": "Pump", "quantity": "2", "unit_price": "95.50", "list_price": "100",
            "discount_percent": "10"}
    return [
        ("order", OrderSchema(), {"number": "SO-1", "customer_id": 1, "order_date": "2026-03-01", "status": "confirmed",
                                  "currency": "CNY", "lines": [line, {"unit_price": "3"}]}),
        ("product", ProductSchema(), {"code": "P-1", "name": "Pump", "list_price": "12.50", "unit": "pcs"}),
        ("invoice", InvoiceSchema(), {"number": "I-1", "customer_id": 1, "invoice_date": "2026-03-01",
                                      "due_date": "2026-04-01", "amount_total": "100"}),
        ("payment", PaymentSchema(), {"reference": "R-1", "paid_on": "2026-03-01", "amount": "50"}),
        ("opportunity", OpportunitySchema(), {"name": "Deal", "customer_id": 1, "amount": "1000",
                                              "expected_close_date": "2026-06-30", "probability": 40}),
        ("price_list", PriceListSchema(exclude=("items",)), {"name": "Retail", "currency": "CNY",
                                                             "valid_from": "2026-01-01"}),
        ("price", PriceListItemSchema(only=("price",)), {"price": "9.90"}),
        ("customer", CustomerSchema(), {"name": "Acme", "kind": "organization", "credit_limit": "100"}),
    ]


@pytest.mark.parametrize("name,schema,row", schemas(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_compiled_load_gives_the_schemas_data_and_errors(app: Any, name: str, schema: Schema,
                                                             row: dict[str, Any]) -> None:
    cases = [row, {**row, "unknown_column": "1"}, "not a row", {}]
    for key in schema.load_fields:
        cases.append({k: v for k, v in row.items() if k != key})
        cases += [{**row, key: value} for value in VALUES]
    if "lines" in row:
        cases += [{**row, "lines": [{**row["lines"][0], field: value}]} for field in row["lines"][0] for value in VALUES]
        cases += [{**row, "lines": [{"unit_price": "1", "extra": 1}]}, {**row, "lines": ["x"]}]
    for data in cases:
        for partial in (False, True):
            expected = outcome(schema.load, data, partial=partial)
            assert outcome(compiled.load, schema, data, partial=partial) == expected, (name, data, partial)
    check = schema.__dict__[compiled._CHECK]  # a valid row takes the compiled path, not the fallback
    assert check is not None and repr(check(row, False)) == repr(schema.load(row))


@pytest.mark.parametrize("partial", [False, True])
def test_a_documents_lines_load_compiled_not_through_the_nested_schema(app: Any, monkeypatch: Any,
                                                                     partial: bool) -> None:
    """The lines of an order (``Lines``: each line whole, even in a partial load) take the compiled path:
    the line schema's own load does not run for a valid row, and the data is the schema's."""
    from marshmallow import Schema as Base

    from plugins.sales.schemas import OrderSchema

    schema = OrderSchema()
    row = {"number": "SO-1", "customer_id": 1, "order_date": "2026-03-01",
           "lines": [{"unit_price": "3", "quantity": "2"}, {"product_id": 4, "unit_price": "1.5"}]}
    expected = repr(schema.load(row, partial=partial))
    calls: list[Any] = []
    real = Base._do_load

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(self).__name__)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Base, "_do_load", counted)
    assert repr(compiled.load(schema, row, partial=partial)) == expected
    assert calls == []


def test_a_columns_repeated_values_are_converted_once_and_refused_ones_every_time(app: Any, monkeypatch: Any) -> None:
    """A file repeats a column's values (a product, a quantity): the compiled load converts each value once
    and gives the kept result after; a value the field refuses is never kept (its errors each time), and a
    field with a validator of its own (not a schema module's) is converted every time."""
    from marshmallow import fields

    from plugins.sales.schemas import OrderSchema

    def odd(value: Any) -> None:
        if value % 2 == 0:
            raise ValidationError("even")

    class Row(Schema):
        quantity = fields.Decimal(places=3, as_string=False)
        code = fields.Int(validate=odd)

    schema, seen = Row(), []
    real = fields.Decimal._deserialize

    def counted(self: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(value)
        return real(self, value, *args, **kwargs)

    monkeypatch.setattr(fields.Decimal, "_deserialize", counted)
    kept = []
    for _ in range(3):
        assert compiled.load(schema, {"quantity": 2, "code": 3}) == schema.load({"quantity": 2, "code": 3})
        kept.append(compiled.load(schema, {"quantity": "2.5"})["quantity"])  # text: converted without the layers
        assert outcome(compiled.load, schema, {"quantity": "x"}) == outcome(schema.load, {"quantity": "x"})
    assert seen.count(2) == 1 + 3  # once compiled, and the test's own schema load each round
    assert kept[0] is kept[1] is kept[2] and kept[0] == schema.load({"quantity": "2.5"})["quantity"]  # converted once
    assert seen.count("x") == 3 * 3  # refused: the compiled path, its fallback and the test's load, each round
    order = OrderSchema()
    assert [compiled._pure(f) for f in (order.fields["status"], order.fields["total"])] == [True, True]
    assert compiled._pure(schema.fields["code"]) is False  # a test module's own validator: not kept


def test_text_takes_the_plain_path_and_gives_the_schemas_answer_under_a_small_text_max(make_app: Any,
                                                                                      monkeypatch: Any) -> None:
    """A product's text cells load without marshmallow's String code (the compiled text path), with the same
    data and the same errors as the schema's own load: trimmed, blank as none, column lengths, choices, and the
    app's ``TEXT_MAX`` (here shorter than the columns) read for each value."""
    from marshmallow import fields

    from plugins.sales.schemas import ProductSchema

    schema = ProductSchema()
    texts = ["P-1", " P-1 ", "", "   ", "abcdef", "x" * 70, "产品 名称", "a\x00", "\udc80", "crm", "CRM", "erp"]
    rows = [{"code": "P-1", "name": "Pump", "list_price": "1", "category": "茶叶", "unit": "pcs", "source": "crm"}]
    rows += [{**rows[0], key: value} for key in ("code", "name", "category", "unit", "source", "description")
             for value in texts]
    app = make_app(TEXT_MAX=5)
    with app.app_context():
        for data in rows:
            for partial in (False, True):
                assert outcome(compiled.load, schema, data, partial=partial) == \
                    outcome(schema.load, data, partial=partial), (data, partial)
        refused = outcome(compiled.load, schema, {**rows[0], "name": "abcdef"})
        assert refused[0] == "error" and str(refused[1]["name"]) == "At most 5 characters."
    for data in rows:  # the default limit, outside the app
        assert outcome(compiled.load, schema, data) == outcome(schema.load, data), data
    calls: list[Any] = []
    real = fields.String._deserialize
    monkeypatch.setattr(fields.String, "_deserialize",
                        lambda self, *a, **k: calls.append(a[0]) or real(self, *a, **k))
    assert compiled.load(schema, rows[0]) == schema.load(rows[0]) and len(calls) == 5  # the test's own load only
