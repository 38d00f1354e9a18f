"""Customer distribution: customers, buyers, revenue and its growth by province, city, source channel,
RFM segment or owner, over the customers the reader may see.

One SQL query groups by the dimension (for provinces and cities: by the distinct region and city texts of
the customers' main address, which ``regions.locate`` then maps to China's divisions, so the work in
Python grows with the number of distinct place names, not of customers). Revenue: sold orders in the base
currency in the ``months`` up to ``as_of``, against the same length of time before it.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, func, select

from crmcore.i18n import _
from crmcore.models import Address, Customer, User
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order
from plugins.sales.services.money import base_currency, converted

from ..models import RfmScore
from . import regions
from .checks import convertible
from .rfm import latest_run
from .results import scoped_ids
from .segments import segment_labels
from .sqlfuncs import as_date

DIMENSIONS = ("province", "city", "channel", "segment", "owner")


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.date(y, m + 1, min(day.day, last[m]))


def _rows(ctx: ServiceContext, keys: list[Any], as_of: dt.date, months: int, join: Any = None) -> list[Any]:
    currency = base_currency(ctx)
    start, prior = _months_before(as_of, months), _months_before(as_of, 2 * months)
    amount = converted(ctx, Order.total, Order.currency, currency)
    current = and_(Order.order_date > as_date(start), Order.order_date <= as_date(as_of))
    before = and_(Order.order_date > as_date(prior), Order.order_date <= as_date(start))
    orders_on = and_(Order.customer_id == Customer.id, Order.status.in_(("confirmed", "delivered")),
                     Order.order_date > as_date(prior), Order.order_date <= as_date(as_of),
                     convertible(ctx, currency))
    stmt = (select(*keys, func.count(func.distinct(Customer.id)),
                   func.count(func.distinct(case((current, Customer.id)))),
                   func.coalesce(func.sum(case((current, amount))), 0),
                   func.coalesce(func.sum(case((before, amount))), 0),
                   func.count(func.distinct(case((Customer.created_at > dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc),
                                                  Customer.id)))))
            .select_from(Customer).outerjoin(Order, orders_on)
            .where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)))
    if join is not None:
        stmt = join(stmt)
    ids = scoped_ids(ctx)
    if ids is not None:
        stmt = stmt.where(Customer.id.in_(ids))
    return ctx.session.execute(stmt.group_by(*keys)).all()


def distribution(ctx: ServiceContext, by: str = "province", *, as_of: dt.date | None = None,
                 months: int = 12) -> dict[str, Any]:
    """Rows ``{key, label, customers, buyers, revenue, previous, growth, new_customers}`` ranked by
    customers, with totals; ``unplaced`` counts customers whose address names no known place."""
    ctx.require("analysis.read")
    if by not in DIMENSIONS:
        from crmcore.errors import ValidationError

        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={"by": [_("Choose one of: %(choices)s.", choices=", ".join(DIMENSIONS))]})
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    groups: dict[Any, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0])
    labels: dict[Any, str] = {}
    coords: dict[Any, tuple[float, float]] = {}
    if by in ("province", "city"):
        main = (select(Address.id).where(Address.customer_id == Customer.id)
                .order_by(Address.is_primary.desc(), Address.id).limit(1).correlate(Customer).scalar_subquery())
        rows = _rows(ctx, [Address.region, Address.city], as_of, months,
                     lambda s: s.outerjoin(Address, Address.id == main))
        provinces, cities = regions.divisions()
        for region, city, *values in rows:
            province, city_code = regions.locate(region, city)
            key = province if by == "province" else city_code
            table = provinces if by == "province" else cities
            if key is not None:
                labels[key] = table[key].name
                coords[key] = (table[key].lon, table[key].lat)
            _add(groups[key], values)
    elif by == "channel":
        for channel, *values in _rows(ctx, [Customer.source_channel], as_of, months):
            key = (channel or "").strip() or None
            if key is not None:
                labels[key] = key
            _add(groups[key], values)
    elif by == "owner":
        rows = _rows(ctx, [User.id, User.full_name, User.username], as_of, months,
                     lambda s: s.outerjoin(User, User.id == Customer.owner_id))
        for user_id, full_name, username, *values in rows:
            if user_id is not None:
                labels[user_id] = full_name or username
            _add(groups[user_id], values)
    else:  # segment of the latest RFM run
        run = latest_run(ctx, RfmScore)
        names = segment_labels(ctx)
        rows = _rows(ctx, [RfmScore.segment], as_of, months,
                     lambda s: s.outerjoin(RfmScore, and_(RfmScore.customer_id == Customer.id,
                                                          RfmScore.run_date == run)))
        for segment, *values in rows:
            if segment is not None:
                labels[segment] = names.get(segment, segment)
            _add(groups[segment], values)
    out = []
    for key, (customers, buyers, revenue, previous, new) in groups.items():
        if key is None:
            continue
        out.append(_row(key, labels.get(key, str(key)), customers, buyers, revenue, previous, new, coords.get(key)))
    out.sort(key=lambda r: (-r["customers"], -r["revenue"], r["label"]))
    total = [sum(g[i] for g in groups.values()) for i in range(5)]
    unplaced = groups.get(None, [0, 0, 0.0, 0.0, 0])
    return {"by": by, "as_of": as_of.isoformat(), "months": months, "currency": base_currency(ctx), "rows": out,
            "total": _row("total", str(_("All")), *total, None),
            "unplaced": _row("unplaced", str(_("Not known")), *unplaced, None)}


def _add(target: list[Any], values: list[Any]) -> None:
    for i, v in enumerate(values):
        target[i] += float(v or 0) if i in (2, 3) else int(v or 0)


def _row(key: Any, label: str, customers: int, buyers: int, revenue: float, previous: float, new: int,
         coord: tuple[float, float] | None) -> dict[str, Any]:
    growth = (revenue - previous) / previous if previous else None
    return {"key": key, "label": label, "customers": int(customers), "buyers": int(buyers), "revenue": float(revenue),
            "previous": float(previous), "growth": growth, "new_customers": int(new),
            "lon": coord[0] if coord else None, "lat": coord[1] if coord else None}
