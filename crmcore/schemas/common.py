"""Shared schema pieces: list query arguments and the paginated envelope."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


MAX_ID = 2**63 - 1  # the largest BIGINT; larger numbers cannot name a record


def Id(**kwargs: object) -> fields.Int:
    """An integer id field: positive and within the database's range."""
    return fields.Int(strict=False, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class PageArgs(Schema):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Int(load_default=25, validate=validate.Range(min=1, max=200))


def page_of(item_schema: type[Schema] | Schema, name: str) -> type[Schema]:
    """A schema ``{items: [...], total, page, page_size}`` around ``item_schema``."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema)),
        "total": fields.Int(metadata={"description": "Number of matching records over all pages"}),
        "page": fields.Int(),
        "page_size": fields.Int(),
    }, name=name)


class ErrorSchema(Schema):
    code = fields.Int()
    status = fields.Str()
    message = fields.Str()
    errors = fields.Dict()
