"""Portable SQL pieces for the analysis queries (SQLite and PostgreSQL): whole days between two
dates, and the sold orders every analysis reads (confirmed or delivered, up to a date)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, Integer, and_, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from plugins.sales.models import Order

SOLD = ("confirmed", "delivered")


class days_between(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """``days_between(later, earlier)``: whole days from ``earlier`` to ``later`` (dates)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_default(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"(CAST({compiler.process(later, **kw)} AS DATE) - CAST({compiler.process(earlier, **kw)} AS DATE))"


@compiles(days_between, "sqlite")
def _days_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (f"CAST(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)})"
            " AS INTEGER)")


def as_date(value: dt.date) -> ColumnElement[Any]:
    """A date parameter (bound as a date; SQLite stores dates as ISO text, so no CAST there)."""
    return literal(value, Date())


def sold_orders(as_of: dt.date, since: dt.date | None = None) -> ColumnElement[bool]:
    """Orders that count as purchases: confirmed or delivered, dated ``since`` < date <= ``as_of``."""
    cond = and_(Order.status.in_(SOLD), Order.order_date <= as_of)
    if since is not None:
        cond = and_(cond, Order.order_date > since)
    return cond
