"""``crm analyze rfm|clv|cohorts|churn|basket|tags|forecast|distribution``: run the analyses with progress bars (on
stderr, so ``--json`` output is JSON alone); warnings go to stderr too. The nightly jobs are in ``jobs.py``."""
from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.i18n import _


def jsonable(value: Any) -> Any:
    """:func:`crmcore.events.jsonable`, imported when a command prints (not when ``crm`` starts)."""
    from crmcore.events import jsonable as to_plain

    return to_plain(value)


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise click.BadParameter(str(_("Use a date like 2026-03-31.")), param_hint="--as-of") from None


def _steps(label: str, steps: list[tuple[str, Any]]) -> list[Any]:
    """Run named steps under one click progress bar; return each step's result."""
    out = []
    with click.progressbar(steps, label=label, item_show_func=lambda s: s[0] if s else "",
                           file=sys.stderr) as bar:
        for _name, func in bar:
            out.append(func())
    return out


def _warn(result: Any) -> None:
    """Print the result's warnings on stderr, each on its own line."""
    label = str(_("Warning"))
    for w in (result.get("warnings") or []) if isinstance(result, dict) else []:
        click.echo(f"{label}: {w['message']}", err=True)


def _echo(result: Any, as_json: bool) -> None:
    """The result as JSON alone on stdout, or as ``key value`` lines; warnings on stderr either way."""
    _warn(result)
    if as_json:
        click.echo(json.dumps(jsonable(result), indent=2, ensure_ascii=False))
        return
    for key, value in jsonable(result).items():
        if not isinstance(value, (list, dict)):
            click.echo(f"  {key:<22} {value}")


@click.group("analyze", cls=AppGroup)
def analyze() -> None:
    """Customer analysis: RFM, CLV, cohorts, churn, basket rules, tags."""


as_of_opt = click.option("--as-of", help="Run date, YYYY-MM-DD: only orders up to it count, and recency and age "
                                         "are measured to it (default: today, UTC; for a history that ended "
                                         "earlier give its last day)")
json_opt = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")


@analyze.command("rfm")
@as_of_opt
@click.option("--bins", type=int, help="Quantile bins (default 5 or settings)")
@click.option("--currency")
@json_opt
def rfm_cmd(as_of: str | None, bins: int | None, currency: str | None, as_json: bool) -> None:
    """Score recency, frequency and monetary value of every customer and assign segments."""
    from .services import rfm

    ctx = _ctx()
    config = rfm.RfmConfig.from_settings(ctx, bins=bins)
    result, = _steps("RFM", [("score and segment", lambda: rfm.run_rfm(ctx, _date(as_of), config=config,
                                                                       currency=currency))])
    _echo(result, as_json)
    if not as_json:
        for s in result["segments"]:
            click.echo(f"    {s['label']:<22} {s['customers']:>8}")


@analyze.command("clv")
@as_of_opt
@click.option("--horizon-days", type=int,
              help="Days ahead for expected purchases (default 90 or settings)")
@click.option("--months", type=int, help="Months of lifetime value (default 12 or settings)")
@click.option("--discount", "monthly_discount", type=float, help="Monthly discount rate")
@click.option("--penalizer", type=float,
              help="L2 penalty on the parameters (default 0: plain maximum likelihood)")
@click.option("--currency")
@json_opt
def clv_cmd(as_of: str | None, horizon_days: int | None, months: int | None, monthly_discount: float | None,
            penalizer: float | None, currency: str | None, as_json: bool) -> None:
    """Fit BG/NBD and Gamma-Gamma and store every customer's CLV."""
    from .services import clv

    ctx = _ctx()
    with click.progressbar(length=1, label="CLV (customers written)", file=sys.stderr) as bar:
        def progress(n: int) -> None:
            bar.length = max(bar.length or 0, bar.pos + n)
            bar.update(n)

        result = clv.run_clv(ctx, _date(as_of), horizon_days=horizon_days, months=months,
                             monthly_discount=monthly_discount, penalizer=penalizer, currency=currency,
                             progress=progress)
    _echo(result, as_json)
    if not as_json:
        click.echo(f"  BG/NBD       {result['bgnbd']}")
        click.echo(f"  Gamma-Gamma  {result['gamma_gamma']}")


@analyze.command("cohorts")
@as_of_opt
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True)
@json_opt
def cohorts_cmd(as_of: str | None, months: int, as_json: bool) -> None:
    """Print the retention table by first-purchase month and the loyalty factors."""
    from .services import checks, loyalty

    ctx = _ctx()
    ctx.require("analysis.read")
    day = _date(as_of) or dt.datetime.now(dt.timezone.utc).date()
    table, summary = _steps("Cohorts", [("retention", lambda: loyalty.cohort_table(ctx, day, months)),
                                        ("loyalty", lambda: loyalty.loyalty_summary(ctx, day))])
    warnings = checks.stale_history(ctx, day)
    _warn({"warnings": warnings})
    if as_json:
        click.echo(json.dumps(jsonable({"as_of": day, "cohorts": table, "loyalty": summary, "warnings": warnings}),
                              indent=2, ensure_ascii=False))
        return
    width = max((len(row["retention"]) for row in table), default=0)
    click.echo(_("Retention: customers by month of their first purchase, and the share of them in percent "
                 "buying in each month after it (M0 = the first month)"))
    cohort, customers = str(_("Cohort")), str(_("Customers"))
    click.echo(f"  {cohort:<8} {customers:>9}  " + " ".join(f"{f'M{k}':>5}" for k in range(width)))
    for row in table:
        click.echo(f"  {row['cohort']:<8} {row['size']:>9}  " + " ".join(f"{(r or 0) * 100:5.1f}" for r in row["retention"]))
    click.echo(_("Loyalty measures"))
    _echo(summary, False)


@analyze.command("churn")
@as_of_opt
@click.option("--window", "window_days", type=click.IntRange(7, 3650), default=90, show_default=True)
@json_opt
def churn_cmd(as_of: str | None, window_days: int, as_json: bool) -> None:
    """Train the propensity model by time split, report AUC, store every customer's churn score."""
    from .services import churn

    ctx = _ctx()
    result, = _steps("Churn", [("train, evaluate, score", lambda: churn.run_churn(ctx, _date(as_of), window_days=window_days))])
    _echo(result, as_json)


@analyze.command("basket")
@as_of_opt
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--min-pairs", type=click.IntRange(1), default=2, show_default=True)
@json_opt
def basket_cmd(as_of: str | None, days: int, min_pairs: int, as_json: bool) -> None:
    """Compute association rules (support, confidence, lift) from order lines."""
    from .services import basket

    ctx = _ctx()
    result, = _steps("Basket", [("pair counts", lambda: basket.run_basket(ctx, _date(as_of), days=days, min_pairs=min_pairs))])
    _echo(result, as_json)


@analyze.command("distribution")
@as_of_opt
@click.option("--by", type=click.Choice(["province", "city", "channel", "segment", "owner"]), default="province",
              show_default=True)
@click.option("--months", type=click.IntRange(1, 60), default=12, show_default=True,
              help="Revenue of the last months, against as many before")
@json_opt
def distribution_cmd(as_of: str | None, by: str, months: int, as_json: bool) -> None:
    """Customers, buyers, revenue and growth by province, city, channel, RFM segment or owner."""
    from .services import distribution

    result = distribution.distribution(_ctx(), by, as_of=_date(as_of), months=months)
    if as_json:
        click.echo(json.dumps(jsonable(result), indent=2, ensure_ascii=False))
        return
    for row in [*result["rows"], result["unplaced"], result["total"]]:
        if row["customers"] or row is result["total"]:
            growth = "–" if row["growth"] is None else f"{row['growth'] * 100:+.0f}%"
            click.echo(f"  {row['label']:<20} {row['customers']:>8} {row['revenue']:>14,.0f} {growth:>8}")


@analyze.command("forecast")
@as_of_opt
@click.option("--horizon", type=click.IntRange(1, 24), default=3, show_default=True, help="Months ahead")
@json_opt
def forecast_cmd(as_of: str | None, horizon: int, as_json: bool) -> None:
    """Forecast monthly revenue and orders (overall, by product category) with their backtests, and the
    pipeline weighted by learned stage-win rates; stored for the forecast page."""
    from .services import forecast

    ctx = _ctx()
    result, = _steps("Forecast", [("fit and backtest", lambda: forecast.run_forecast(ctx, _date(as_of),
                                                                                     horizon=horizon))])
    if as_json:
        click.echo(json.dumps(jsonable(result), indent=2, ensure_ascii=False))
        return
    for line in forecast.summary_lines(result):
        click.echo(line)


@analyze.command("tags")
@json_opt
def tags_cmd(as_json: bool) -> None:
    """Refresh the customer tags of every active tag rule."""
    from .services import tags

    applied = tags.apply_rules(_ctx())
    if as_json:
        click.echo(json.dumps({"applied": applied}, indent=2, ensure_ascii=False))
        return
    for name, count in applied.items():
        click.echo(f"  {name:<30} {count}")
