"""The API answers through ``crmcore.schemas.compiled.dump``: for every kind of field, object and option it gives
exactly ``schema.dump`` (the rest of the suite checks every API answer the same way, ``compiled.VERIFY``)."""
from __future__ import annotations

import datetime as dt
import decimal
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump, pre_dump
from sqlalchemy import create_engine, text

from crmcore.schemas import compiled
from crmcore.schemas.customers import CustomerSchema


@pytest.fixture(autouse=True)
def _compare_by_hand(monkeypatch):
    monkeypatch.setattr(compiled, "VERIFY", False)


class Item(Schema):
    id = fields.Int()
    label = fields.Str(data_key="title")
    price = fields.Decimal(as_string=True, places=2, allow_none=True)


class Every(Schema):
    id = fields.Int(dump_only=True)
    name = fields.Str()
    renamed = fields.Str(attribute="other_name")
    dotted = fields.Str(attribute="inner.value")
    keyed = fields.Str(data_key="keyedOut")
    defaulted = fields.Str(dump_default="none given")
    default_callable = fields.List(fields.Str(), dump_default=list)
    when = fields.AwareDateTime()
    day = fields.Date()
    flag = fields.Bool()
    amount = fields.Decimal(as_string=True, places=2, allow_none=True)
    data = fields.Dict()
    names = fields.List(fields.Str())
    method = fields.Method("_method")
    function = fields.Function(lambda obj: f"fn:{obj['name'] if isinstance(obj, dict) else obj.name}")
    constant = fields.Constant(42)
    item = fields.Nested(Item, allow_none=True)
    items = fields.List(fields.Nested(Item))
    many_items = fields.Nested(Item, many=True)
    only_ids = fields.Nested(Item(), only=("id",), many=True)
    plucked = fields.Pluck(Item, "id", many=True)
    secret = fields.Str(load_only=True)

    def _method(self, obj):
        return [str(x) for x in (getattr(obj, "names", None) or [])]


def _objects():
    when = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.timezone.utc)
    items = [SimpleNamespace(id=1, label="一", price=decimal.Decimal("1.5")), {"id": 2, "label": "two", "price": None}]
    full = SimpleNamespace(
        id=7, name="杭州 <b>", other_name="别名", inner=SimpleNamespace(value="deep"), keyed="k", when=when,
        day=dt.date(2026, 1, 2), flag=False, amount=decimal.Decimal("12345.678"), data={"a": [1, {"b": None}]},
        names=["x", "y"], item=items[0], items=items, many_items=items, only_ids=items, plucked=items, secret="s")
    sparse = SimpleNamespace(id=8, name=None, item=None, items=None, many_items=None, only_ids=[], plucked=[])
    as_dict = {"id": 9, "name": "dict", "inner": {"value": "v"}, "when": None, "amount": None, "items": [],
               "many_items": [], "only_ids": [], "plucked": []}
    return [full, sparse, as_dict]


def test_every_field_kind_and_object_gives_the_schemas_dump():
    schema = Every()
    for obj in _objects():
        assert compiled.dump(schema, obj) == schema.dump(obj)
    assert compiled.dump(schema, _objects(), many=True) == schema.dump(_objects(), many=True)
    assert compiled.dump(Every(many=True), iter(_objects())) == Every(many=True).dump(_objects())
    assert compiled.dump(Every(only=("id", "item")), _objects()[0]) == Every(only=("id", "item")).dump(_objects()[0])


def test_rows_of_a_core_select_read_like_objects():
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT 1 AS id, 'a' AS name, NULL AS keyed, 'x' AS other_name")).all()
    schema = Every(only=("id", "name", "keyed", "renamed", "defaulted"))
    assert compiled.dump(schema, rows, many=True) == schema.dump(rows, many=True) == [
        {"id": 1, "name": "a", "keyedOut": None, "renamed": "x", "defaulted": "none given"}]


def test_schemas_with_hooks_or_their_own_access_take_marshmallows_path():
    class Hooked(Schema):
        name = fields.Str()

        @pre_dump
        def upper(self, obj, **kwargs):
            return {"name": obj["name"].upper()}

        @post_dump
        def wrap(self, data, **kwargs):
            return {"wrapped": data}

    class OwnAccess(Schema):
        name = fields.Str()

        def get_attribute(self, obj, attr, default):
            return f"<{attr}>"

    assert compiled.dump(Hooked(), {"name": "a"}) == {"wrapped": {"name": "A"}}
    assert compiled.dump(OwnAccess(), {"name": "a"}) == {"name": "<name>"}


def test_a_nested_schema_with_hooks_inside_a_compiled_one():
    class Inner(Schema):
        v = fields.Int()

        @post_dump
        def double(self, data, **kwargs):
            return {"v": data["v"] * 2}

    class Outer(Schema):
        inner = fields.Nested(Inner)
        inners = fields.List(fields.Nested(Inner))

    obj = {"inner": {"v": 1}, "inners": [{"v": 2}, {"v": 3}]}
    assert compiled.dump(Outer(), obj) == Outer().dump(obj) == {"inner": {"v": 2}, "inners": [{"v": 4}, {"v": 6}]}


def test_a_copy_with_other_fields_dumps_its_own():
    schema = CustomerSchema()
    obj = SimpleNamespace(id=1, name="n", code="c", tags=[])
    full = compiled.dump(schema, obj)
    narrowed = CustomerSchema(only=("id", "name"))
    assert compiled.dump(narrowed, obj) == {"id": 1, "name": "n"}
    assert compiled.dump(schema, obj) == full and "code" in full
