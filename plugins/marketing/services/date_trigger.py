"""A journey's date-field trigger as one SQL query: the live customers whose date (a column, a plugin's date
field or a date custom field) falls on one of the anchor days, read as text ``YYYY-MM-DD`` on SQLite and
PostgreSQL alike, so only the matching customers are read, however many there are."""
from __future__ import annotations

import calendar as _calendar
import datetime as dt
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from crmcore import entities
from crmcore.models import Customer
from crmcore.runtime import ServiceContext


def falls_on(value: dt.date, anchor: dt.date, yearly: bool) -> bool:
    """Whether a date names the anchor day: the same day, or yearly the same month and day; a 29 February
    is kept on the 28th in the years without one."""
    if not yearly:
        return value == anchor
    if value.month == 2 and value.day == 29 and not _calendar.isleap(anchor.year):
        return anchor.month == 2 and anchor.day == 28
    return (value.month, value.day) == (anchor.month, anchor.day)


def _as_text(ctx: ServiceContext, name: str) -> ColumnElement[Any] | None:
    """The field's value as text beginning with ``YYYY-MM-DD``, or None when there is no such field."""
    if name.startswith("attributes."):
        return Customer.attributes[name.split(".", 1)[1]].as_string()
    field = entities.condition_fields(ctx, "customer").get(name)
    if field is None:
        return None
    if ctx.session.get_bind().dialect.name == "postgresql":
        return func.to_char(field.expr, "YYYY-MM-DD")
    return func.substr(cast(field.expr, String), 1, 10)  # SQLite keeps dates and times as ISO text


def _keys(anchors: list[dt.date], yearly: bool) -> set[str]:
    """The text each anchor is matched on: ``MM-DD`` yearly (``02-29`` too on a 28 February without a 29th),
    else the whole date."""
    if not yearly:
        return {a.isoformat() for a in anchors}
    out = {a.strftime("%m-%d") for a in anchors}
    out |= {"02-29" for a in anchors if (a.month, a.day) == (2, 28) and not _calendar.isleap(a.year)}
    return out


def matching(ctx: ServiceContext, name: str, anchors: list[dt.date], yearly: bool) -> dict[dt.date, list[int]]:
    """The live customers each anchor day names, by anchor (one query for all of them); values that are not a
    date are left out."""
    text = _as_text(ctx, name)
    if text is None or not anchors:
        return {}
    part = func.substr(text, 6, 5) if yearly else func.substr(text, 1, 10)
    rows = ctx.session.execute(select(Customer.id, func.substr(text, 1, 10)).where(
        Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None), part.in_(sorted(_keys(anchors, yearly)))))
    out: dict[dt.date, list[int]] = {}
    for customer_id, raw in rows:
        try:
            value = dt.date.fromisoformat(str(raw))
        except ValueError:
            continue
        for anchor in anchors:
            if falls_on(value, anchor, yearly):
                out.setdefault(anchor, []).append(int(customer_id))
    return out
