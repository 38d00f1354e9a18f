"""The configured calendar a journey trigger can use: named lists of dates (``春节``: 2027-02-06...)."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from ..models_journeys import CalendarDate

NAME = re.compile(r"^[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]{0,63}$")  # a name people read: no control characters


class CalendarDateSchema(Schema):
    name = fields.Str(required=True, validate=validate.Regexp(NAME, error=_(
        "Give the calendar a name of at most 64 characters (e.g. 春节).")))
    date = fields.Date(required=True)


_SCHEMA = CalendarDateSchema()


def list_dates(ctx: ServiceContext, name: str | None = None) -> list[CalendarDate]:
    ctx.require("marketing.read")
    stmt = select(CalendarDate).order_by(CalendarDate.name, CalendarDate.date)
    return list(ctx.session.scalars(stmt.where(CalendarDate.name == name) if name else stmt))


def add_date(ctx: ServiceContext, data: dict[str, Any]) -> CalendarDate:
    """Add a date to a named calendar (the same date twice is refused by name)."""
    ctx.require("marketing.manage")

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if ctx.session.scalar(select(CalendarDate.id).where(CalendarDate.name == values.get("name"),
                                                            CalendarDate.date == values.get("date"))):
            return {"date": [_("This calendar has this date already.")]}
        return {}

    values = load(_SCHEMA, data, partial=False, message=_("The date is not valid."), check=check)
    with unit_of_work(ctx):
        row = CalendarDate(**values)
        ctx.session.add(row)
        ctx.session.flush()
        record_change(ctx, "marketing_calendar_date", "created", row.id,
                      {"name": [None, row.name], "date": [None, row.date]})
    return row


def remove_date(ctx: ServiceContext, date_id: int) -> None:
    ctx.require("marketing.manage")
    row = ctx.session.get(CalendarDate, date_id)
    if row is None:
        raise NotFound(_("Calendar date %(id)s does not exist.", id=date_id))
    with unit_of_work(ctx):
        ctx.session.delete(row)
        record_change(ctx, "marketing_calendar_date", "deleted", date_id, {"date": [row.date, None]})
