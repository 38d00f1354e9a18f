"""Schemas of the catalogue: products and price lists."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import PageArgs, Search, page_of

from ..models import SOURCES
from .common import Currency, Money, VERSION, _str


class ProductSchema(Schema):
    id = fields.Int(dump_only=True)
    code = _str(64, required=True)
    name = _str(255, required=True)
    category = _str(120, allow_none=True)
    unit = _str(16)
    list_price = Money(required=True)
    currency = Currency()
    cost = Money(allow_none=True)
    active = fields.Bool()
    source = fields.Str(validate=validate.OneOf(SOURCES))
    description = fields.Str(allow_none=True)
    version = fields.Int(dump_only=True)


class ProductUpdateSchema(ProductSchema):
    version = fields.Int(load_only=True, metadata=VERSION)


class ProductListArgs(PageArgs):
    q = Search()
    category = fields.Str()
    active = fields.Bool(load_default=True)


class PriceListItemSchema(Schema):
    product_id = fields.Int(required=True)
    price = Money(required=True)


class PriceListSchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(120, required=True)
    currency = Currency()
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    active = fields.Bool()
    source = fields.Str(validate=validate.OneOf(SOURCES))
    items = fields.List(fields.Nested(PriceListItemSchema))


ProductPage = page_of(ProductSchema, "ProductPage")
