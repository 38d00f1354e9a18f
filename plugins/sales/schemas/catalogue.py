"""Schemas of the catalogue: products and price lists."""
from __future__ import annotations

from marshmallow import Schema, fields

from crmcore.i18n import _
from crmcore.schemas.columns import BLANK, Amount, length_of, text
from crmcore.schemas.columns import Currency as CurrencyCode
from crmcore.schemas.common import PageArgs, Search, page_of

from ..models import SOURCES, PriceList, Product
from .common import VERSION, Lines

NO_LIST_PRICE = _("A product needs a list price (0 for free items).")


class ProductSchema(Schema):
    """A product: the one declaration of its fields' rules (lengths and nullability from the model)."""

    id = fields.Int(dump_only=True)
    code = text(Product.code, required=True, error_messages={"required": BLANK},
                metadata={"description": "Stored folded (full-width to half-width)"})
    name = text(Product.name, required=True, error_messages={"required": BLANK})
    category = text(Product.category, blank_none=True)
    unit = text(Product.unit)
    list_price = Amount(required=True, error_messages={"required": NO_LIST_PRICE, "null": NO_LIST_PRICE})
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Product.currency)})
    cost = Amount(allow_none=True)
    active = fields.Bool()
    source = text(Product.source, choices=SOURCES)
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
    price = Amount(required=True, error_messages={"null": BLANK})


class PriceListSchema(Schema):
    """A price list and its prices: the one declaration of their fields' rules."""

    id = fields.Int(dump_only=True)
    name = text(PriceList.name, required=True, error_messages={"required": _("A price list needs a name.")})
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(PriceList.currency)})
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    active = fields.Bool()
    source = text(PriceList.source, choices=SOURCES)
    items = Lines(PriceListItemSchema, metadata={"description": "When given, replace all the prices"})


ProductPage = page_of(ProductSchema, "ProductPage")
