"""Shared schema pieces: list query arguments, the paginated envelope, id, search and time-zone fields."""
from __future__ import annotations

from typing import Any

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


def Id(**kwargs: Any) -> fields.Int:
    """An integer id field: positive and within the database's range."""
    return fields.Int(strict=False, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


PAGE_SIZE_MAX = 200  # when no app is running; the setting of the same name wins


def page_size_max() -> int:
    """The ``PAGE_SIZE_MAX`` setting of the running app: the most items one page of any list may ask for."""
    from flask import current_app, has_app_context

    rt = current_app.extensions.get("crm") if has_app_context() else None
    return int(rt.settings.get("PAGE_SIZE_MAX") or PAGE_SIZE_MAX) if rt is not None else PAGE_SIZE_MAX


def within_page_size_max(value: Any) -> None:
    """A marshmallow validator: ``value`` (a page size) is at most ``PAGE_SIZE_MAX``."""
    limit = page_size_max()
    if value is not None and value > limit:
        raise ValidationError(str(_("At most %(max)s items per page (the PAGE_SIZE_MAX setting).", max=limit)))


def PageSize(default: int = 25, **kwargs: Any) -> fields.Int:
    """A page-size argument: from 1 to ``PAGE_SIZE_MAX`` (a larger one is refused with 422, not cut)."""
    return fields.Int(load_default=default, validate=[validate.Range(min=1), within_page_size_max],
                      metadata={"description": "Items per page, at most the server's PAGE_SIZE_MAX (200 unless "
                                               "configured); larger values get 422"}, **kwargs)


def Search(**kwargs: Any) -> fields.Str:
    """A search term (``q``) of at most ``SEARCH_MAX`` characters."""
    return fields.Str(validate=validate.Length(max=SEARCH_MAX), **kwargs)


class PageArgs(Schema):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = PageSize()


class CursorPageArgs(PageArgs):
    """List arguments of a large list: ``page`` or, from the second page on, ``cursor`` (keyset)."""

    cursor = fields.Str(validate=validate.Length(max=2000), metadata={
        "description": "The next_cursor of the previous page: the next page by keyset (stable under inserts, "
                       "as fast at page 10,000 as at page 1); page is then not used. Opaque and signed: a cursor "
                       "this server did not give out, or one of another list or sort, is refused with 400"})


def page_of(item_schema: type[Schema] | Schema, name: str, cursor: bool = False) -> type[Schema]:
    """A schema ``{items: [...], total, page, page_size}`` around ``item_schema``; with ``cursor``, also
    ``total_estimated`` and ``next_cursor`` (lists taking ``CursorPageArgs``)."""
    spec: dict[str, Any] = {
        "items": fields.List(fields.Nested(item_schema)),
        "total": fields.Int(metadata={"description": "Number of matching records over all pages"}),
        "page": fields.Int(),
        "page_size": fields.Int(),
    }
    if cursor:
        spec["total"] = fields.Int(metadata={"description": "Number of matching records over all pages: exact "
                                                            "up to the server's COUNT_EXACT_MAX, an estimate above"})
        spec["total_estimated"] = fields.Bool(metadata={"description": "True when total is an estimate"})
        spec["next_cursor"] = fields.Str(allow_none=True, metadata={
            "description": "Pass as cursor for the next page; null on the last page"})
    return Schema.from_dict(spec, name=name)


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


def TimeZone(**kwargs: Any) -> fields.Str:
    """An IANA time-zone name such as ``Asia/Shanghai``."""
    return fields.Str(validate=_Zone(), **kwargs)
