"""Reading stored results within the actor's record scope: per-customer rows of the latest run
(RFM, CLV, churn), paged, and the scope as a select of customer ids for the aggregates."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from sqlalchemy import func, select

from crmcore.models import Customer
from crmcore.services.access import scope_customers
from crmcore.runtime import ServiceContext

from ..models import ChurnScore, ClvScore, RfmScore
from .rfm import latest_run

TABLES = {"rfm": RfmScore, "clv": ClvScore, "churn": ChurnScore}
COLUMNS = {
    "rfm": ("customer_id", "recency_days", "frequency", "monetary", "currency", "r_score", "f_score", "m_score", "segment"),
    "clv": ("customer_id", "repeat_purchases", "t_x_days", "age_days", "average_spend", "expected_purchases", "p_alive",
            "expected_spend", "clv", "currency"),
    "churn": ("customer_id", "purchase_probability", "churn_score"),
}
ORDER = {"rfm": RfmScore.monetary.desc(), "clv": ClvScore.clv.desc(), "churn": ChurnScore.churn_score.desc()}


def scoped_ids(ctx: ServiceContext) -> Any:
    """None when the actor sees every customer, else a select of the customer ids they may see."""
    if ctx.scope == "all":
        return None
    return scope_customers(ctx, select(Customer.id))


def _statement(ctx: ServiceContext, table: str, run_date: dt.date, segment: str | None) -> Any:
    model = TABLES[table]
    stmt = (select(model, Customer.name).join(Customer, Customer.id == model.customer_id)
            .where(model.run_date == run_date))
    ids = scoped_ids(ctx)
    if ids is not None:
        stmt = stmt.where(model.customer_id.in_(ids))
    if segment and table == "rfm":
        stmt = stmt.where(RfmScore.segment == segment)
    return stmt


def stream_rows(ctx: ServiceContext, table: str) -> tuple[dt.date | None, Iterator[list[Any]]]:
    """(run date, rows as lists in ``COLUMNS`` order with the customer's name first) of the latest
    run, fetched in chunks so an export of a million customers does not sit in memory."""
    ctx.require("analysis.read")
    model = TABLES[table]
    run_date = latest_run(ctx, model)
    if run_date is None:
        return None, iter(())
    stmt = _statement(ctx, table, run_date, None).order_by(ORDER[table], model.customer_id)

    def rows() -> Iterator[list[Any]]:
        for obj, name in ctx.session.execute(stmt.execution_options(yield_per=5000)):
            yield [name, *[getattr(obj, c) for c in COLUMNS[table]]]
            ctx.session.expunge(obj)

    return run_date, rows()


def customer_rows(ctx: ServiceContext, table: str, *, run_date: dt.date | None = None, segment: str | None = None,
                  page: int = 1, page_size: int = 50) -> tuple[dt.date | None, list[dict[str, Any]], int]:
    """(run date, rows with the customer's name, total) of a result table, best first."""
    ctx.require("analysis.read")
    model = TABLES[table]
    run_date = run_date or latest_run(ctx, model)
    if run_date is None:
        return None, [], 0
    stmt = _statement(ctx, table, run_date, segment)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(ORDER[table], model.customer_id)
    stmt = stmt.offset((page - 1) * page_size).limit(page_size)
    rows = [{"customer": name, **{c: getattr(obj, c) for c in COLUMNS[table]}} for obj, name in ctx.session.execute(stmt)]
    return run_date, rows, int(total)
