"""Sales forecasts from the company's own data: monthly revenue and orders (overall and by product
category) forecast with their backtests (``forecast_model``), and the open pipeline weighted by stage-win
rates learned from the opportunities closed so far. One SQL query per series, under the reader's record
scope; a company-wide run is stored (``ModelFit`` kind ``forecast``) by the nightly job or "Run now"."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import Date, case, delete, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from plugins.sales.models import Opportunity, Order, OrderLine, Product, Stage, StageHistory
from plugins.sales.services.money import base_currency, converted

from ..models import ModelFit
from . import forecast_model as fm
from .checks import convertible, live_sold
from .results import scoped_ids

HISTORY_MONTHS = 60  # the longest history read (five years: enough for seasonality, not stale)
PRIOR_WEIGHT = 5  # pseudo-opportunities at the stage's configured probability (smooths a rate from few closures)
TOP_CATEGORIES = 5


class month_start(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """The first day of a date's month (ISO text on SQLite, a date on PostgreSQL)."""

    type = Date()
    inherit_cache = True
    name = "month_start"


@compiles(month_start)
def _month_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(date_trunc('month', {compiler.process(list(element.clauses)[0], **kw)}) AS DATE)"


@compiles(month_start, "sqlite")
def _month_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(list(element.clauses)[0], **kw)}, 'start of month')"


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _add_months(day: dt.date, n: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, cur = [], first
    while cur <= last:
        out.append(cur)
        cur = _add_months(cur, 1)
    return out


def _scoped(ctx: ServiceContext, stmt: Any) -> Any:
    ids = scoped_ids(ctx)
    return stmt if ids is None else stmt.where(Order.customer_id.in_(ids))


def monthly(ctx: ServiceContext, as_of: dt.date) -> dict[str, Any]:
    """Revenue (base currency) and order counts per complete month up to ``as_of``'s month (excluded:
    it is not over), from the first month with a sold order, at most ``HISTORY_MONTHS`` back; missing
    months are zero."""
    currency = base_currency(ctx)
    end = dt.date(as_of.year, as_of.month, 1)
    start = _add_months(end, -HISTORY_MONTHS)
    month = month_start(Order.order_date)
    stmt = (select(month, func.count(Order.id), func.coalesce(func.sum(converted(ctx, Order.total, Order.currency,
                                                                                   currency)), 0))
            .join(Customer, Customer.id == Order.customer_id)
            .where(live_sold(end - dt.timedelta(days=1)), Order.order_date >= start, convertible(ctx, currency))
            .group_by(month))
    rows = {_as_date(m): (int(c), float(v)) for m, c, v in ctx.session.execute(_scoped(ctx, stmt))}
    months = _months(min(rows), _add_months(end, -1)) if rows else []
    return {"months": months, "revenue": [rows.get(m, (0, 0.0))[1] for m in months],
            "orders": [float(rows.get(m, (0, 0.0))[0]) for m in months], "currency": currency}


def by_category(ctx: ServiceContext, as_of: dt.date, months: list[dt.date]) -> list[dict[str, Any]]:
    """Monthly revenue of the ``TOP_CATEGORIES`` product categories with the most revenue in ``months``
    (line totals in the base currency; lines without a product or category are left out)."""
    if not months:
        return []
    currency = base_currency(ctx)
    month = month_start(Order.order_date)
    amount = converted(ctx, OrderLine.line_total, Order.currency, currency)
    stmt = (select(Product.category, month, func.coalesce(func.sum(amount), 0))
            .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
            .join(Product, Product.id == OrderLine.product_id).join(Customer, Customer.id == Order.customer_id)
            .where(live_sold(_add_months(months[-1], 1) - dt.timedelta(days=1)), Order.order_date >= months[0],
                   Product.category.is_not(None), Product.category != "", convertible(ctx, currency))
            .group_by(Product.category, month))
    series: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for category, m, value in ctx.session.execute(_scoped(ctx, stmt)):
        series[category][_as_date(m)] = float(value)
    top = sorted(series, key=lambda c: -sum(series[c].values()))[:TOP_CATEGORIES]
    return [{"category": c, "revenue": [series[c].get(m, 0.0) for m in months]} for c in top]


def stage_rates(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Per open stage: the configured probability and the win rate learned from closed opportunities
    that passed through it, smoothed towards the configured one:
    ``(won + k·p) / (closed + k)`` with ``k = PRIOR_WEIGHT`` and ``p`` the configured probability."""
    passed = (select(StageHistory.stage_id, Opportunity.id.label("opp"), Opportunity.status)
              .join(Opportunity, Opportunity.id == StageHistory.opportunity_id)
              .where(Opportunity.status.in_(("won", "lost")))
              .distinct())
    ids = scoped_ids(ctx)
    if ids is not None:
        passed = passed.where(Opportunity.customer_id.in_(ids))
    counts = _stage_counts(ctx, passed.subquery())
    out = []
    for stage in ctx.session.scalars(select(Stage).where(Stage.active.is_(True), Stage.is_won.is_(False),
                                                         Stage.is_lost.is_(False)).order_by(Stage.sequence, Stage.id)):
        won, closed = counts.get(stage.id, (0, 0))
        prior = stage.probability / 100
        learned = (won + PRIOR_WEIGHT * prior) / (closed + PRIOR_WEIGHT)
        out.append({"stage_id": stage.id, "stage": stage.name, "configured": prior, "learned": learned,
                    "closed": closed, "won": won})
    return out


def _stage_counts(ctx: ServiceContext, sub: Any) -> dict[int, tuple[int, int]]:
    won = func.sum(case((sub.c.status == "won", 1), else_=0))
    return {sid: (int(w or 0), int(t)) for sid, w, t in
            ctx.session.execute(select(sub.c.stage_id, won, func.count()).group_by(sub.c.stage_id))}


def stage_backtest(ctx: ServiceContext, as_of: dt.date, months: int = 6) -> dict[str, Any] | None:
    """How well the learned rates predicted outcomes: rates learned from opportunities closed before
    ``as_of - months``, checked on those closed since, at every open stage each passed through. The Brier
    score (mean squared difference between the probability and the outcome 0/1; lower is better) of the
    learned rates against the configured probabilities. None when nothing closed in the test window."""
    cutoff = dt.datetime.combine(_add_months(dt.date(as_of.year, as_of.month, 1), -months), dt.time(),
                                 tzinfo=dt.timezone.utc)
    passed = (select(StageHistory.stage_id, Opportunity.id, Opportunity.status, Opportunity.closed_at)
              .join(Opportunity, Opportunity.id == StageHistory.opportunity_id)
              .where(Opportunity.status.in_(("won", "lost")), Opportunity.closed_at.is_not(None)).distinct())
    ids = scoped_ids(ctx)
    if ids is not None:
        passed = passed.where(Opportunity.customer_id.in_(ids))
    rows = ctx.session.execute(passed).all()
    stages = {s.id: s for s in ctx.session.scalars(select(Stage))}
    train: dict[int, list[int]] = defaultdict(list)
    test: list[tuple[int, int]] = []
    for stage_id, _opp, status, closed_at in rows:
        stage = stages.get(stage_id)
        if stage is None or stage.is_won or stage.is_lost:
            continue
        closed = closed_at if closed_at.tzinfo else closed_at.replace(tzinfo=dt.timezone.utc)
        if closed < cutoff:
            train[stage_id].append(int(status == "won"))
        else:
            test.append((stage_id, int(status == "won")))
    if not test:
        return None
    learned_sq = configured_sq = 0.0
    for stage_id, won in test:
        prior = stages[stage_id].probability / 100
        history = train.get(stage_id, [])
        learned = (sum(history) + PRIOR_WEIGHT * prior) / (len(history) + PRIOR_WEIGHT)
        learned_sq += (learned - won) ** 2
        configured_sq += (prior - won) ** 2
    return {"checked": len(test), "months": months, "brier_learned": learned_sq / len(test),
            "brier_configured": configured_sq / len(test)}


def pipeline(ctx: ServiceContext, as_of: dt.date, horizon: int, rates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open opportunities expected to close in each of the next ``horizon`` months (overdue ones in the
    first), amount in the base currency, weighted by the learned and by the configured rate."""
    currency = base_currency(ctx)
    first = dt.date(as_of.year, as_of.month, 1)
    months = [_add_months(first, i) for i in range(horizon)]
    rate = {r["stage_id"]: r for r in rates}
    stmt = (select(Opportunity.stage_id, Opportunity.expected_close_date,
                   converted(ctx, Opportunity.amount, Opportunity.currency, currency))
            .join(Customer, Customer.id == Opportunity.customer_id)
            .where(Opportunity.status == "open", Customer.deleted_at.is_(None),
                   ~func.coalesce(Opportunity.expected_close_date >= _add_months(first, horizon), False)))
    ids = scoped_ids(ctx)
    if ids is not None:
        stmt = stmt.where(Opportunity.customer_id.in_(ids))
    out = {m: {"month": m, "count": 0, "amount": 0.0, "learned": 0.0, "configured": 0.0, "undated": 0}
           for m in months}
    for stage_id, close, amount in ctx.session.execute(stmt):
        if amount is None or stage_id not in rate:  # no exchange rate, or a closed stage
            continue
        month = months[0] if close is None or close < first else dt.date(close.year, close.month, 1)
        bucket = out[month]
        bucket["count"] += 1
        bucket["undated"] += close is None
        bucket["amount"] += float(amount)
        bucket["learned"] += float(amount) * rate[stage_id]["learned"]
        bucket["configured"] += float(amount) * rate[stage_id]["configured"]
    return list(out.values())


def series_label(series: dict[str, Any]) -> str:
    """A series' name in the reader's language (stored runs keep the name, not the words)."""
    name = series["name"]
    if name == "revenue":
        return str(_("Revenue"))
    if name == "orders":
        return str(_("Orders"))
    return name.split(":", 1)[1] if name.startswith("category:") else name


def _series(name: str, months: list[dt.date], values: list[float], horizon: int) -> dict[str, Any]:
    result: dict[str, Any] = {"name": name, "months": [m.isoformat() for m in months],
                              "history": values, "model": None, "forecast": None, "backtest": None}
    if not values:
        return result
    fc = fm.forecast(values, horizon)
    nxt = [_add_months(months[-1], i + 1).isoformat() for i in range(horizon)]
    result.update(model=fc.model, forecast={"months": nxt, "mean": fc.mean, "lower": fc.lower, "upper": fc.upper,
                                            "level": fc.level})
    bt = fm.backtest(values, horizon=horizon)
    if bt is not None:
        result["backtest"] = {"origins": bt.origins, "horizon": bt.horizon, "mase": bt.mase,
                              "naive_mase": bt.naive_mase, "mape": bt.mape, "naive_mape": bt.naive_mape,
                              "relative": bt.relative}
    return result


def run_forecast(ctx: ServiceContext, as_of: dt.date | None = None, *, horizon: int = 3,
                 store: bool = True) -> dict[str, Any]:
    """Forecast the next ``horizon`` months (a quarter by default) from the history up to ``as_of``'s
    month. Stored (replacing that day's run) when the actor sees every customer and ``store`` is set."""
    ctx.require("analysis.read")
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    result = compute(ctx, as_of, horizon)
    if store and ctx.scope == "all":
        ctx.require("analysis.run")
        ctx.session.execute(delete(ModelFit).where(ModelFit.kind == "forecast", ModelFit.run_date == as_of))
        ctx.session.add(ModelFit(kind="forecast", run_date=as_of, params={"horizon": horizon}, metrics=result))
        ctx.session.commit()
    return labelled(result)


def compute(ctx: ServiceContext, as_of: dt.date, horizon: int) -> dict[str, Any]:
    """The forecast over the customers the actor may see, as stored (series without their words)."""
    hist = monthly(ctx, as_of)
    months = hist["months"]
    series = [_series("revenue", months, hist["revenue"], horizon),
              _series("orders", months, hist["orders"], horizon)]
    for cat in by_category(ctx, as_of, months):
        series.append(_series(f"category:{cat['category']}", months, cat["revenue"], horizon))
    rates = stage_rates(ctx)
    result = {"as_of": as_of.isoformat(), "horizon": horizon, "currency": hist["currency"], "series": series,
              "stages": rates, "pipeline": [{**p, "month": p["month"].isoformat()}
                                            for p in pipeline(ctx, as_of, horizon, rates)],
              "stage_backtest": stage_backtest(ctx, as_of), "scope": ctx.scope}
    return result


def labelled(result: dict[str, Any]) -> dict[str, Any]:
    """The result with each series' ``label`` in the reader's language (not stored: read in any language)."""
    return {**result, "series": [{**s, "label": series_label(s)} for s in result["series"]]}


def latest(ctx: ServiceContext) -> dict[str, Any] | None:
    """The last stored company-wide forecast when the reader sees every customer; else the one for the customers
    the reader may see, kept until their data changes (:mod:`.forecast_cache`)."""
    ctx.require("analysis.read")
    if ctx.scope != "all":
        from .forecast_cache import kept_forecast

        return labelled(kept_forecast(ctx, dt.datetime.now(dt.timezone.utc).date(), compute))
    fit = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == "forecast")
                             .order_by(ModelFit.run_date.desc(), ModelFit.id.desc()).limit(1))
    return labelled(dict(fit.metrics)) if fit is not None else None


def total_next(series: dict[str, Any]) -> dict[str, float] | None:
    """The forecast summed over its horizon (e.g. next quarter's revenue) with the summed interval bounds
    (conservative: the months' errors are not independent)."""
    fc = series.get("forecast")
    if not fc:
        return None
    return {"mean": sum(fc["mean"]), "lower": sum(fc["lower"]), "upper": sum(fc["upper"])}


__all__ = ["latest", "monthly", "pipeline", "run_forecast", "stage_rates", "total_next"]


def _num(value: float | None, digits: int = 0) -> str:
    from crmcore.i18n import local_number

    return "–" if value is None else local_number(round(value, digits), digits)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The forecast as lines of text in the reader's language (the CLI prints them)."""
    lines = [str(_("Forecast of the next %(n)s months from %(date)s, in %(currency)s",
                   n=result["horizon"], date=result["as_of"], currency=result["currency"]))]
    for s in result["series"]:
        total = total_next(s)
        if total is None:
            lines.append(f"  {series_label(s)}: " + str(_("no sold orders yet")))
            continue
        bt = s.get("backtest")
        trust = (str(_("backtest MASE %(model)s vs seasonal naive %(naive)s",
                       model=_num(bt["mase"], 2), naive=_num(bt["naive_mase"], 2))) if bt and bt["mase"] is not None
                 else str(_("too little history for a backtest")))
        lines.append(f"  {series_label(s)}: {_num(total['mean'])} ({_num(total['lower'])}–{_num(total['upper'])}, "
                     f"{s['forecast']['level']} %) · {model_label(s['model'])} · {trust}")
    lines.append(str(_("Pipeline by expected close month (weighted by learned win rates)")))
    for p in result["pipeline"]:
        lines.append(f"  {p['month'][:7]}: {p['count']} · {_num(p['amount'])} → {_num(p['learned'])} "
                     f"({str(_('configured'))} {_num(p['configured'])})")
    return lines


def model_label(model: str | None) -> str:
    """The model's name in the reader's words."""
    return str({"ets_seasonal": _("exponential smoothing with trend and seasonality"),
                "ets_trend": _("exponential smoothing with trend"),
                "naive": _("last value (too little history)")}.get(model or "", _("none")))
