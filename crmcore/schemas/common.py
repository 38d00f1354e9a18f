"""Shared schema pieces: list query arguments, the paginated envelope, id, search and time-zone fields."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from ..i18n import _
from ..timezones import is_zone


MAX_ID = 2**31 - 1  # the largest INTEGER (every id column is one): larger numbers cannot name a record
SEARCH_MAX = 200  # characters of a search term (``q``); SQLite refuses LIKE patterns over 50,000 bytes


def db_id(value: str) -> int:
    """``type=`` for ``request.args.get``: an integer an INTEGER column can hold; otherwise a ValueError,
    so werkzeug gives the default (a huge ``?id=`` is "no such record", not a database error)."""
    number = int(value)
    if not -MAX_ID - 1 <= number <= MAX_ID:
        raise ValueError(f"{value} does not fit an INTEGER column")
    return number


def Id(**kwargs: object) -> fields.Int:
    """An integer id field: positive and within the database's range."""
    return fields.Int(strict=False, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def Search(**kwargs: object) -> fields.Str:
    """A search term (``q``) of at most ``SEARCH_MAX`` characters."""
    return fields.Str(validate=validate.Length(max=SEARCH_MAX), **kwargs)


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


class _Zone(validate.Validator):
    def __call__(self, value: str) -> str:
        if not is_zone(value):
            raise ValidationError(_("Give an IANA time zone such as Asia/Shanghai."))
        return value


def TimeZone(**kwargs: object) -> fields.Str:
    """An IANA time-zone name such as ``Asia/Shanghai``."""
    return fields.Str(validate=_Zone(), **kwargs)
