"""Date buckets in SQL (day, week, month, quarter, year) in the company's time zone, on SQLite and PostgreSQL.

A time is stored in UTC; it is moved to the zone before it is bucketed. PostgreSQL does this with
``timezone(zone, t)``; SQLite has no zone data, so the zone's UTC offsets are written into the query as
a CASE over the zone's transitions (none for a zone without daylight saving, such as Asia/Shanghai).
A date column (an order date) is a calendar day already and is bucketed as it is.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal

FIRST_YEAR, LAST_YEAR = 1990, 2060  # the range of the transitions written for SQLite
_UTC = dt.timezone.utc


@lru_cache(maxsize=32)
def transitions(zone: str) -> tuple[tuple[dt.datetime | None, int], ...]:
    """The zone's UTC offsets in minutes from each transition on (naive UTC), the first from the start of time."""
    tz = ZoneInfo(zone)

    def offset(moment: dt.datetime) -> int:
        delta = moment.replace(tzinfo=_UTC).astimezone(tz).utcoffset() or dt.timedelta()
        return int(delta.total_seconds() // 60)

    start = dt.datetime(FIRST_YEAR, 1, 1)
    out: list[tuple[dt.datetime | None, int]] = [(None, offset(start))]
    step = dt.timedelta(days=7)
    moment = start
    while moment.year < LAST_YEAR:
        after = moment + step
        if offset(after) != offset(moment):  # a transition in this week: find its minute
            low, high = moment, after
            while high - low > dt.timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == offset(low) else (low, mid)
            out.append((high.replace(second=0, microsecond=0), offset(after)))
        moment = after
    return tuple(out)


def local_time(column: Any, zone: str, dialect: str) -> Any:
    """SQL: the UTC time ``column`` as the wall-clock time in ``zone``."""
    if dialect == "postgresql":
        return func.timezone(zone, column)
    steps = transitions(zone)
    if len(steps) == 1:
        return func.datetime(column, f"{steps[0][1]:+d} minutes")
    whens = [(column >= literal(at.strftime("%Y-%m-%d %H:%M:%S")), func.datetime(column, f"{minutes:+d} minutes"))
             for at, minutes in reversed(steps[1:]) if at is not None]
    return case(*whens, else_=func.datetime(column, f"{steps[0][1]:+d} minutes"))


def bucket(column: Any, kind: str, period: str, zone: str, dialect: str) -> Any:
    """SQL: the label of the ``period`` (day ``2026-03-05``, week of its Monday ``2026-03-02``, month
    ``2026-03``, quarter ``2026-Q1``, year ``2026``) of a date or UTC time column, in ``zone``."""
    value = local_time(column, zone, dialect) if kind == "datetime" else column
    if dialect == "postgresql":
        fmt = {"day": "YYYY-MM-DD", "month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}
        if period == "week":
            return func.to_char(func.date_trunc("week", value), "YYYY-MM-DD")
        return func.to_char(value, fmt[period])
    if period == "day":
        return func.strftime("%Y-%m-%d", value)
    if period == "week":  # the Monday on or before the day
        return func.date(value, "-6 days", "weekday 1")
    if period == "month":
        return func.strftime("%Y-%m", value)
    if period == "quarter":
        month = cast(func.strftime("%m", value), Integer)
        return func.strftime("%Y", value) + literal("-Q", String) + cast((month + 2) // 3, String)
    return func.strftime("%Y", value)
