"""Warnings that go with analysis results: orders without a rate, stale history, untrusted fits."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy import func, select

from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order
from plugins.sales.services.money import unconvertible

from .sqlfuncs import sold_orders

STALE_AFTER_DAYS = 90  # default of [analysis] stale_after_days


MESSAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "missing_rate": lambda d: _(
        "%(orders)s orders in %(source)s are left out: there is no exchange rate from %(source)s to %(target)s. "
        "Set the rate (Sales, exchange rates) and run again.", orders=d["orders"], source=d["source"],
        target=d["target"]),
    "missing_rate_invoices": lambda d: _(
        "%(n)s open invoices in %(source)s are left out of the amount due: there is no exchange rate from "
        "%(source)s to %(target)s.", n=d["invoices"], source=d["source"], target=d["target"]),
    "missing_rate_costs": lambda d: _(
        "The cost of %(n)s order lines is in %(source)s and left out of the margin: there is no exchange rate "
        "from %(source)s to %(target)s.", n=d["lines"], source=d["source"], target=d["target"]),
    "stale_history": lambda d: _(
        "The last order is from %(last)s, %(days)s days before the run date %(as_of)s: every customer is scored "
        "as if nobody had bought since. To score as of the end of the data, run with --as-of %(last)s "
        "(API: \"as_of\").", last=d["last_order"], days=d["days"], as_of=d["as_of"]),
    "penalized_fallback": lambda d: _(
        "The %(model)s fit has no finite maximum-likelihood solution on this data; it was refitted with "
        "penalizer %(penalizer)s, which shrinks the parameters (give --penalizer to choose).",
        model=d["model"], penalizer=d["penalizer"]),
    "not_converged": lambda d: _(
        "The %(model)s fit did not converge (penalizer %(penalizer)s): treat its predictions with caution.",
        model=d["model"], penalizer=d["penalizer"]),
    "spend_mean_undefined": lambda d: _(
        "The spend model has no finite mean for %(n)s customers (q = %(q)s); they get their own mean "
        "repeat spend, or the mean of the repeat customers.", n=d["customers"], q=f"{d['q']:.3f}"),
    "auc_below_chance": lambda d: _(
        "The churn model is worse than chance on the held-out period (AUC %(auc)s < 0.5): its scores rank "
        "customers the wrong way round more often than not. Do not act on them.", auc=f"{d['auc']:.2f}"),
    "auc_near_chance": lambda d: _(
        "The churn model is close to chance on the held-out period (AUC %(auc)s, 0.5 is a coin toss): "
        "its scores are not reliable.", auc=f"{d['auc']:.2f}"),
    "auc_weak": lambda d: _(
        "The churn model is weak on the held-out period (AUC %(auc)s; 0.5 is a coin toss, 0.7 and above is "
        "usable): use its scores only to sort customers roughly, not to decide on one customer.",
        auc=f"{d['auc']:.2f}"),
    "small_data": lambda d: _(
        "Too little data to judge the churn model: the held-out period has %(buyers)s buyers and %(others)s "
        "non-buyers (%(min)s of each are needed for a stable AUC).", buyers=d["buyers"],
        others=d["customers"] - d["buyers"], min=d["min"]),
}


def warning(code: str, **data: Any) -> dict[str, Any]:
    """A finding to show with a result: ``{"code", "message", **data}``, the message from ``MESSAGES``."""
    return {"code": code, "message": str(MESSAGES[code](data)), **data}


def localized(warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored warnings with their messages rendered again, in the reader's language."""
    return [{**w, "message": str(MESSAGES[w["code"]](w))} if w.get("code") in MESSAGES else w for w in warnings]


def live_sold(as_of: dt.date, since: dt.date | None = None) -> Any:
    """SQL condition: sold orders (up to ``as_of``) of customers neither deleted nor merged away;
    the statement must join ``Customer``."""
    return (sold_orders(as_of, since) & Customer.deleted_at.is_(None) & Customer.merged_into_id.is_(None))


def convertible(ctx: ServiceContext, currency: str) -> Any:
    """SQL condition: the order's amount can be converted to ``currency`` (it has a rate)."""
    return ~unconvertible(ctx, Order.currency, currency)


def missing_rates(ctx: ServiceContext, as_of: dt.date, currency: str, *, since: dt.date | None = None,
                  customer_id: int | None = None, customer_ids: Any = None) -> list[dict[str, Any]]:
    """One warning per currency whose sold orders (up to ``as_of``; of one customer, or of
    ``customer_ids``, a select) cannot be converted to ``currency`` for want of a rate: the pair and
    how many orders the analysis leaves out."""
    stmt = (select(Order.currency, func.count(Order.id)).join(Customer, Customer.id == Order.customer_id)
            .where(live_sold(as_of, since), unconvertible(ctx, Order.currency, currency))
            .group_by(Order.currency).order_by(Order.currency))
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if customer_ids is not None:
        stmt = stmt.where(Order.customer_id.in_(customer_ids))
    return [warning("missing_rate", source=cur, target=currency, orders=int(n)) for cur, n in ctx.session.execute(stmt)]


def stale_after_days(ctx: ServiceContext) -> int:
    return int((ctx.settings.get("ANALYSIS") or {}).get("stale_after_days", STALE_AFTER_DAYS))


def stale_history(ctx: ServiceContext, as_of: dt.date, customer_ids: Any = None) -> list[dict[str, Any]]:
    """A warning when the last sold order (of ``customer_ids``, a select, if given) is more than
    ``stale_after_days`` before ``as_of``: every customer then looks long gone; the run date should
    usually be the end of the data."""
    stmt = select(func.max(Order.order_date)).join(Customer, Customer.id == Order.customer_id).where(live_sold(as_of))
    if customer_ids is not None:
        stmt = stmt.where(Order.customer_id.in_(customer_ids))
    last = ctx.session.scalar(stmt)
    if last is None:
        return []
    gap = (as_of - last).days
    if gap <= stale_after_days(ctx):
        return []
    return [warning("stale_history", last_order=last.isoformat(), days=gap, as_of=as_of.isoformat())]
