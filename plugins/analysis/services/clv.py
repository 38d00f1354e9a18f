"""Customer lifetime value from the orders: one SQL query gives each customer's repeat purchases,
recency, age and mean repeat spend; BG/NBD and Gamma-Gamma are fitted on that summary
(:mod:`.btyd`) and every customer's predictions are stored for the run date."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import case, delete, func, insert, select

from crmcore.errors import ValidationError
from crmcore.events import audit
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order
from plugins.sales.services.money import base_currency, converted

from ..models import ClvScore, ModelFit
from ..schemas import ClvSettingsSchema
from .checks import convertible, live_sold, missing_rates, stale_history, warning
from .sqlfuncs import as_date, days_between

if TYPE_CHECKING:  # numpy and scipy (btyd) load when a model is fitted, not with the web app or the CLI
    import numpy as np

    from . import btyd

TIME_UNIT_DAYS = 7.0  # the models are fitted in weeks, as in the papers
CHUNK = 10_000
FALLBACK_PENALIZER = 0.001  # used only when the plain maximum likelihood does not converge


def summary_select(ctx: ServiceContext, as_of: dt.date, currency: str) -> Any:
    """Per customer: repeat purchase days ``x``, days first->last ``t_x``, days first->as_of ``T``,
    and the total amount of the repeat purchases (orders after the first purchase day). Orders whose
    currency has no rate to ``currency`` are left out (``checks.missing_rates`` says so)."""
    amount = converted(ctx, Order.total, Order.currency, currency)
    per_order = (select(Order.customer_id, Order.order_date, amount.label("amount"),
                        func.min(Order.order_date).over(partition_by=Order.customer_id).label("first_day"))
                 .join(Customer, Customer.id == Order.customer_id)
                 .where(live_sold(as_of), convertible(ctx, currency))
                 .subquery("per_order"))
    c = per_order.c
    return (select(c.customer_id,
                   (func.count(func.distinct(c.order_date)) - 1).label("x"),
                   days_between(func.max(c.order_date), func.min(c.first_day)).label("t_x"),
                   days_between(as_date(as_of), func.min(c.first_day)).label("T"),
                   func.coalesce(func.sum(case((c.order_date > c.first_day, c.amount), else_=0)), 0).label("repeat_amount"))
            .group_by(c.customer_id).order_by(c.customer_id))


def load_summary(ctx: ServiceContext, as_of: dt.date, currency: str) -> dict[str, np.ndarray]:
    """The summary as numpy arrays (memory grows with customers, not with orders)."""
    import numpy as np

    ids, xs, txs, Ts, amounts = [], [], [], [], []
    result = ctx.session.execute(summary_select(ctx, as_of, currency).execution_options(yield_per=CHUNK))
    for part in result.partitions():
        for cid, x, t_x, T, repeat_amount in part:
            ids.append(cid)
            xs.append(x)
            txs.append(t_x)
            Ts.append(T)
            amounts.append(float(repeat_amount or 0))
    x = np.asarray(xs, dtype=float)
    spend = np.divide(np.asarray(amounts), x, out=np.zeros_like(x), where=x > 0)
    return {"customer_id": np.asarray(ids, dtype=np.int64), "x": x, "t_x": np.asarray(txs, dtype=float),
            "T": np.asarray(Ts, dtype=float), "zbar": spend}


def _fit_one(name: str, fitter: Any, penalizer: float) -> tuple[Any, list[dict[str, Any]]]:
    """Fit with ``penalizer``; if the plain fit (0) does not converge, refit with ``FALLBACK_PENALIZER``
    and say so; a fit that still does not converge is kept with a warning."""
    params = fitter(penalizer)
    if params.converged:
        return params, []
    notes = []
    if penalizer == 0:
        params = fitter(FALLBACK_PENALIZER)
        notes.append(warning("penalized_fallback", model=name, penalizer=FALLBACK_PENALIZER))
        if params.converged:
            return params, notes
    return params, notes + [warning("not_converged", model=name, penalizer=params.penalizer)]


def fit(summary: dict[str, np.ndarray], penalizer: float = 0.0
        ) -> tuple[btyd.BgNbdParams, btyd.GammaGammaParams, list[dict[str, Any]]]:
    """Fit both models on a summary in days (converted to weeks); identical rows are weighted once.
    Plain maximum likelihood by default; ``penalizer`` > 0 adds an L2 penalty on the parameters.
    Returns the fits and warnings (a fallback to a small penalizer, a fit that did not converge)."""
    import numpy as np

    from . import btyd

    unit = TIME_UNIT_DAYS
    triples = np.column_stack([summary["x"], summary["t_x"] / unit, summary["T"] / unit])
    unique, counts = np.unique(triples, axis=0, return_counts=True)
    bg, notes = _fit_one("BG/NBD", lambda pen: btyd.fit_bgnbd(unique[:, 0], unique[:, 1], unique[:, 2],
                                                              weights=counts, penalizer=pen), penalizer)
    repeat = (summary["x"] > 0) & (summary["zbar"] > 0)
    if repeat.sum() < 3:
        raise ValidationError(_("Too few repeat customers to fit the spend model (need 3)."),
                              errors={"orders": [str(_("At least 3 customers must have bought twice."))]})
    gg, more = _fit_one("Gamma-Gamma", lambda pen: btyd.fit_gamma_gamma(summary["x"][repeat], summary["zbar"][repeat],
                                                                        penalizer=pen), penalizer)
    return bg, gg, notes + more


def predict(summary: dict[str, np.ndarray], bg: btyd.BgNbdParams, gg: btyd.GammaGammaParams, *,
            horizon_days: int, months: int, monthly_discount: float) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Expected purchases in ``horizon_days``, P(alive), expected spend and discounted CLV over ``months``,
    and warnings. P(alive) is NaN (stored empty) for one-time buyers: BG/NBD says 1 for all of them.
    Where the spend model has no finite mean (q <= 1) a customer's expected spend is their own mean
    repeat spend, or the mean over repeat customers for one-time buyers, and a warning says so."""
    import numpy as np

    from . import btyd

    unit = TIME_UNIT_DAYS
    x, t_x, T, zbar = summary["x"], summary["t_x"] / unit, summary["T"] / unit, summary["zbar"]
    notes: list[dict[str, Any]] = []
    spend = btyd.expected_spend(gg, x, zbar)
    undefined = ~np.isfinite(spend)
    if undefined.any():
        repeat = (x > 0) & (zbar > 0)
        observed = float(zbar[repeat].mean()) if repeat.any() else 0.0
        spend = np.where(undefined, np.where(x > 0, zbar, observed), spend)
        notes.append(warning("spend_mean_undefined", customers=int(undefined.sum()), q=gg.q))
    out = {"expected_purchases": btyd.expected_purchases(bg, horizon_days / unit, x, t_x, T),
           "expected_spend": spend,
           "clv": btyd.clv(bg, gg, x, t_x, T, zbar, periods=months, period_length=30.0 / unit,
                           discount_rate=monthly_discount, spend=spend)}
    # a value the special functions cannot give (overflow at extreme parameters) is stored as 0;
    # no prediction is negative (a rounding -0.0 would make a "negative" CLV band)
    out = {k: np.maximum(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0), 0.0) for k, v in out.items()}
    out["p_alive"] = np.where(x > 0, btyd.probability_alive(bg, x, t_x, T), np.nan)
    return out, notes


def _money(value: float) -> Decimal:
    return Decimal(str(round(float(value), 2) + 0.0)) if math.isfinite(value) else Decimal("0.00")  # + 0.0: no -0.0


def _rows(run_date: dt.date, currency: str, s: dict[str, np.ndarray], p: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    for i in range(len(s["customer_id"])):
        alive = float(p["p_alive"][i])
        yield {"run_date": run_date, "customer_id": int(s["customer_id"][i]), "repeat_purchases": int(s["x"][i]),
               "t_x_days": int(s["t_x"][i]), "age_days": int(s["T"][i]), "average_spend": _money(s["zbar"][i]),
               "expected_purchases": float(p["expected_purchases"][i]),
               "p_alive": alive if math.isfinite(alive) else None,
               "expected_spend": _money(p["expected_spend"][i]), "clv": _money(p["clv"][i]), "currency": currency}


SETTINGS_DEFAULTS: dict[str, Any] = {"horizon_days": 90, "months": 12, "monthly_discount": 0.01, "penalizer": 0.0}


def settings_of(ctx: ServiceContext) -> dict[str, Any]:
    """The CLV parameters of the settings file, checked (defaults for those not set)."""
    return validate_settings(ctx)


_CLV = ClvSettingsSchema()


def validate_settings(ctx: ServiceContext, **given: Any) -> dict[str, Any]:
    """The CLV parameters: the settings file's, overridden by ``given`` (None: not given), all checked by
    ``ClvSettingsSchema``, the one validation of the API, the CLI and the settings file."""
    raw = (ctx.settings.get("ANALYSIS") or {}).get("clv") or {}
    values = {**{k: raw[k] for k in _CLV.fields if raw.get(k) is not None},
              **{k: v for k, v in given.items() if v is not None}}
    loaded = load(_CLV, values, partial=True, message=_("The CLV settings are not valid."))
    return {**SETTINGS_DEFAULTS, **{k: v for k, v in loaded.items() if k in _CLV.fields}}


def run_clv(ctx: ServiceContext, as_of: dt.date | None = None, *, currency: str | None = None, horizon_days: int | None = None,
            months: int | None = None, monthly_discount: float | None = None, penalizer: float | None = None,
            progress: Any = None) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma on all customers' orders up to ``as_of`` and store each customer's
    predictions (replacing that day's); ``progress(n)`` is called as rows are written.

    Plain maximum likelihood unless ``penalizer`` (or the setting) is above 0; the result's
    ``warnings`` say when a fit fell back to a small penalizer, which orders were left out for want of
    an exchange rate, and when the history ended long before ``as_of``."""
    import numpy as np

    ctx.require("analysis.run")
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    currency = (currency or base_currency(ctx)).upper()
    opts = validate_settings(ctx, horizon_days=horizon_days, months=months, monthly_discount=monthly_discount,
                             penalizer=penalizer)
    warnings = missing_rates(ctx, as_of, currency) + stale_history(ctx, as_of)
    summary = load_summary(ctx, as_of, currency)
    if len(summary["customer_id"]) < 3:
        raise ValidationError(_("Too few customers with orders to fit the models (need 3)."),
                              errors={"orders": [str(_("Record more orders first."))]})
    bg, gg, notes = fit(summary, opts["penalizer"])
    predictions, more = predict(summary, bg, gg, horizon_days=opts["horizon_days"], months=opts["months"],
                                monthly_discount=opts["monthly_discount"])
    warnings += notes + more
    with unit_of_work(ctx):
        ctx.session.execute(delete(ClvScore).where(ClvScore.run_date == as_of))
        batch: list[dict[str, Any]] = []
        for row in _rows(as_of, currency, summary, predictions):
            batch.append(row)
            if len(batch) >= CHUNK:
                ctx.session.execute(insert(ClvScore), batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            ctx.session.execute(insert(ClvScore), batch)
            if progress:
                progress(len(batch))
        ctx.session.execute(delete(ModelFit).where(ModelFit.run_date == as_of, ModelFit.kind.in_(("bgnbd", "gamma_gamma"))))
        ctx.session.add(ModelFit(kind="bgnbd", run_date=as_of,
                                 params={"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "time_unit_days": TIME_UNIT_DAYS,
                                         "penalizer": bg.penalizer},
                                 metrics={"log_likelihood": bg.log_likelihood, "customers": bg.n,
                                          "converged": bg.converged, "warnings": warnings}))
        ctx.session.add(ModelFit(kind="gamma_gamma", run_date=as_of,
                                 params={"p": gg.p, "q": gg.q, "gamma": gg.gamma, "currency": currency,
                                         "penalizer": gg.penalizer},
                                 metrics={"log_likelihood": gg.log_likelihood, "customers": gg.n,
                                          "converged": gg.converged}))
        audit(ctx, "computed", "analysis_clv", as_of.isoformat(),
              data={"customers": len(summary["customer_id"]), **opts, "warnings": [w["code"] for w in warnings]})
    total = float(np.nansum(predictions["clv"]))
    return {"run_date": as_of, "customers": int(len(summary["customer_id"])), "currency": currency,
            "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood,
                      "penalizer": bg.penalizer, "converged": bg.converged},
            "gamma_gamma": {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood,
                            "penalizer": gg.penalizer, "converged": gg.converged},
            "total_clv": _money(total), **opts, "warnings": warnings}


def clv_distribution(ctx: ServiceContext, run_date: dt.date | None = None, buckets: int = 10,
                     customer_ids: Any = None) -> list[dict[str, Any]]:
    """Customers per CLV band on a run, for the histogram: deciles by value, where equal values
    never straddle two bands (deciles that share a value are merged), so the bands do not overlap
    and there are fewer than ``buckets`` when many customers have the same CLV (often 0)."""
    from .rfm import latest_run

    run_date = run_date or latest_run(ctx, ClvScore)
    if run_date is None:
        return []
    tile = func.ntile(buckets).over(order_by=ClvScore.clv).label("tile")
    inner = select(ClvScore.clv, tile).where(ClvScore.run_date == run_date)
    if customer_ids is not None:
        inner = inner.where(ClvScore.customer_id.in_(customer_ids))
    sub = inner.subquery()
    stmt = (select(sub.c.tile, func.count(), func.min(sub.c.clv), func.max(sub.c.clv), func.sum(sub.c.clv))
            .group_by(sub.c.tile).order_by(sub.c.tile))
    bands: list[dict[str, Any]] = []
    for _tile, n, lo, hi, total in ctx.session.execute(stmt):
        lo, hi, total = (max(Decimal(str(v or 0)), Decimal("0.00")) for v in (lo, hi, total))
        if bands and lo <= bands[-1]["max"]:  # the same value in two deciles: one band
            last = bands[-1]
            last.update(customers=last["customers"] + int(n), max=max(last["max"], hi), total=last["total"] + total)
            continue
        bands.append({"band": len(bands) + 1, "customers": int(n), "min": lo, "max": hi, "total": total})
    return bands
