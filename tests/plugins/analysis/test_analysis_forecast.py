"""Forecasts: the ETS forecaster validated on a public dataset against the seasonal naive baseline, the
rolling-origin backtest, monthly history from sold orders in the base currency under record scope,
stage-win rates learned from closed opportunities, the weighted pipeline, the API, the page and the CLI."""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.testing.admin import admin_login
from plugins.analysis.models import ModelFit
from plugins.analysis.services import forecast
from plugins.analysis.services import forecast_model as fm

AS_OF = dt.date(2026, 6, 30)


# ---------------------------------------------------------------------------
# The forecaster, on plain numbers
# ---------------------------------------------------------------------------


def test_ets_beats_seasonal_naive_on_mauna_loa_co2() -> None:
    """The public dataset shipped with statsmodels (weekly CO2 at Mauna Loa, 1958-2001, as monthly means):
    over the last ten years, twelve rolling origins forecasting twelve months each, the model's MASE is
    well under the seasonal naive forecast's (docs/forecasts.md states the numbers)."""
    from statsmodels.datasets import co2

    monthly = co2.load_pandas().data["co2"].resample("MS").mean().ffill()
    history = [float(v) for v in monthly.values[-120:]]
    bt = fm.backtest(history, horizon=12, origins=12)
    assert bt is not None and bt.origins == 12 and bt.horizon == 12
    assert bt.mase < 0.5 < bt.naive_mase  # measured: 0.37 against 0.90
    assert bt.relative is not None and bt.relative < 0.6
    assert bt.mape < bt.naive_mape < 1  # per cent: CO2 moves little month to month


def test_model_by_history_length_and_interval() -> None:
    assert [fm.model_for(n) for n in (5, 8, 25, 26)] == ["naive", "ets_trend", "ets_trend", "ets_seasonal"]
    seasonal = [100 + 10 * i + 40 * math.sin(2 * math.pi * i / 12) for i in range(36)]
    fc = fm.forecast(seasonal, 3, level=80)
    assert fc.model == "ets_seasonal" and len(fc.mean) == 3 and fc.level == 80
    assert all(lo <= m <= hi for lo, m, hi in zip(fc.lower, fc.mean, fc.upper, strict=True))
    # the next three months continue trend and season (month 36 is like month 24, 10 a month higher)
    expected = [100 + 10 * i + 40 * math.sin(2 * math.pi * i / 12) for i in range(36, 39)]
    assert all(abs(m - e) < 15 for m, e in zip(fc.mean, expected, strict=True))
    wider = fm.forecast(seasonal, 3, level=95)
    assert all(w.upper[0] - w.lower[0] > fc.upper[0] - fc.lower[0] for w in [wider])


def test_short_flat_and_falling_histories_never_forecast_below_zero() -> None:
    short = fm.forecast([5, 7, 6], 2)
    assert short.model == "naive" and short.mean == [6.0, 6.0] and short.lower[1] < short.lower[0] <= 6
    flat = fm.forecast([0.0] * 30, 3)
    assert flat.mean == [0.0, 0.0, 0.0] and min(flat.lower) >= 0
    falling = fm.forecast([300 - 12 * i for i in range(24)], 6)
    assert min(falling.lower) >= 0 and min(falling.mean) >= 0
    assert fm.backtest([1, 2, 3, 4, 5, 6, 7, 8, 9], horizon=3) is None  # not 8 months to fit on before 3 to check


def test_seasonal_naive_and_backtest_arithmetic() -> None:
    assert fm.seasonal_naive(list(range(24)), 3) == [12.0, 13.0, 14.0]
    assert fm.seasonal_naive([4.0, 5.0], 2) == [5.0, 5.0]  # less than a season: the last value
    # a series that repeats exactly: the seasonal naive forecast is perfect (MAPE 0) and the MASE scale, its
    # in-sample error, is 0, so no MASE is given rather than a division by zero
    repeating = [float(1 + i % 12) for i in range(40)]
    bt = fm.backtest(repeating, horizon=3, origins=4)
    assert bt is not None and bt.origins == 4 and bt.naive_mape == 0 and bt.mase is None and bt.relative is None
    # one season shifted by a constant step each year: the errors are known exactly
    stepped = [float(1 + i % 12 + 12 * (i // 12)) for i in range(40)]
    bt = fm.backtest(stepped, horizon=3, origins=4)
    assert bt is not None and bt.naive_mase == pytest.approx(1.0)  # the baseline misses by one year's step


# ---------------------------------------------------------------------------
# From the database
# ---------------------------------------------------------------------------


def _month(k: int) -> dt.date:
    """The 15th of the month ``k`` months before AS_OF's month."""
    y, m = divmod(AS_OF.year * 12 + AS_OF.month - 1 - k, 12)
    return dt.date(y, m + 1, 15)


@pytest.fixture
def history(ctx: Any, make_customer: Any, make_product: Any) -> dict[str, Any]:
    """Thirty months of orders: 'tea' every month (more in December), 'gadget' every other month; one USD
    order (rate 7 to CNY), a cancelled order and one of the current month, which must not count."""
    from plugins.sales.services.money import set_rate
    from plugins.sales.services.orders import record_order

    set_rate(ctx, "USD", "7")
    a, b = make_customer("Tea house"), make_customer("Gadget shop")
    tea, gadget = make_product("Tea", "100.00", category="tea"), make_product("Gadget", "50.00", category="gadgets")
    n = 0

    def order(customer: Any, day: dt.date, product: Any, qty: int, status: str = "confirmed",
              currency: str = "CNY") -> None:
        nonlocal n
        n += 1
        record_order(ctx, {"number": f"F{n:04d}", "customer_id": customer.id, "status": status, "currency": currency,
                           "order_date": day.isoformat(), "lines": [{"product_id": product.id, "quantity": qty,
                                                                    "unit_price": str(product.list_price)}]})

    for k in range(30, 0, -1):
        day = _month(k)
        order(a, day, tea, 3 if day.month == 12 else 1)
        if k % 2 == 0:
            order(b, day, gadget, 2)
    order(b, _month(1), gadget, 1, currency="USD")  # 50 USD = 350 CNY
    order(a, _month(2), tea, 50, status="cancelled")
    order(a, AS_OF, tea, 99)  # this month is not over: left out
    return {"a": a, "b": b}


def test_monthly_history_in_base_currency(ctx: Any, history: dict[str, Any]) -> None:
    hist = forecast.monthly(ctx, AS_OF)
    assert hist["currency"] == "CNY" and len(hist["months"]) == 30
    assert hist["months"][0] == dt.date(_month(30).year, _month(30).month, 1)
    assert hist["months"][-1] == dt.date(2026, 5, 1)
    last = hist["revenue"][-1]  # May 2026 (k=1): tea 100 + the USD gadget 350 (odd k: no CNY gadget order)
    assert last == pytest.approx(450.0)
    assert hist["orders"][-1] == 2
    december = hist["months"].index(dt.date(2025, 12, 1))
    assert hist["revenue"][december] in (pytest.approx(300.0), pytest.approx(400.0))
    cats = {c["category"]: c["revenue"] for c in forecast.by_category(ctx, AS_OF, hist["months"])}
    assert set(cats) == {"tea", "gadgets"} and cats["gadgets"][-1] == pytest.approx(350.0)
    assert sum(cats["tea"]) + sum(cats["gadgets"]) == pytest.approx(sum(hist["revenue"]))


def test_run_forecast_stored_with_backtests(ctx: Any, history: dict[str, Any]) -> None:
    result = forecast.run_forecast(ctx, AS_OF)
    names = [s["name"] for s in result["series"]]
    assert names[:2] == ["revenue", "orders"] and set(names[2:]) == {"category:tea", "category:gadgets"}
    revenue = result["series"][0]
    assert revenue["model"] == "ets_seasonal"
    assert revenue["forecast"]["months"] == ["2026-06-01", "2026-07-01", "2026-08-01"]
    bt = revenue["backtest"]
    assert bt["origins"] == 6 and bt["horizon"] == 3 and bt["mase"] is not None and bt["naive_mase"] is not None
    fit = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == "forecast"))
    assert fit is not None and fit.run_date == AS_OF and fit.metrics["series"][0]["history"] == revenue["history"]
    forecast.run_forecast(ctx, AS_OF)  # a rerun replaces the day's run
    assert len(ctx.session.scalars(select(ModelFit).where(ModelFit.kind == "forecast")).all()) == 1
    assert forecast.latest(ctx)["as_of"] == AS_OF.isoformat()
    lines = forecast.summary_lines(result)
    assert any("MASE" in line for line in lines)


def test_a_rep_forecasts_only_their_customers(app: Any, rt: Any, ctx: Any, history: dict[str, Any],
                                              make_user: Any) -> None:
    from crmcore.services.customers import update_customer

    rep, _headers = make_user("sales")
    update_customer(ctx, history["b"].id, {"owner_id": rep.id})
    rep_ctx = rt.context(actor=rep, source="test")
    result = forecast.latest(rep_ctx)  # computed now for the rep, not stored
    revenue = result["series"][0]
    assert result["scope"] == "own" and sum(revenue["history"]) == pytest.approx(15 * 100 + 350)
    assert not ctx.session.scalars(select(ModelFit).where(ModelFit.kind == "forecast")).all()


def test_learned_stage_rates_and_weighted_pipeline(ctx: Any, make_customer: Any) -> None:
    from plugins.sales.models import Stage
    from plugins.sales.services.opportunities import create_opportunity, move_stage
    from plugins.sales.services.stages import ensure_stages

    ensure_stages(ctx)
    stages = {s.name: s for s in ctx.session.scalars(select(Stage))}
    c = make_customer("Buyer")
    long_ago = dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc)
    recent = dt.datetime(2026, 5, 10, tzinfo=dt.timezone.utc)
    # Proposal (configured 30 %): 4 of 6 closed that passed through it were won
    for i, won in enumerate([True, True, True, True, False, False]):
        opp = create_opportunity(ctx, {"name": f"O{i}", "customer_id": c.id, "amount": "1000",
                                       "stage_id": stages["Proposal"].id}, at=long_ago if i < 4 else recent)
        at = (long_ago if i < 4 else recent) + dt.timedelta(days=3)
        if won:
            move_stage(ctx, opp.id, stages["Won"].id, at=at)
        else:
            move_stage(ctx, opp.id, stages["Lost"].id, at=at, lost_reason="price")
    rates = {r["stage"]: r for r in forecast.stage_rates(ctx)}
    assert set(rates) == {"Visit", "Proposal", "Negotiation", "Contract"}
    assert (rates["Proposal"]["won"], rates["Proposal"]["closed"]) == (4, 6)
    assert rates["Proposal"]["learned"] == pytest.approx((4 + 5 * 0.3) / (6 + 5))
    assert rates["Visit"]["learned"] == pytest.approx(0.1) and rates["Visit"]["closed"] == 0
    # open: one overdue (first month), one in the second month, one after the horizon (left out)
    for name, close in (("late", "2026-04-01"), ("july", "2026-07-20"), ("next year", "2027-03-01")):
        create_opportunity(ctx, {"name": name, "customer_id": c.id, "amount": "2000", "stage_id": stages["Proposal"].id,
                                 "expected_close_date": close})
    months = forecast.pipeline(ctx, AS_OF, 3, list(rates.values()))
    assert [m["month"].isoformat() for m in months] == ["2026-06-01", "2026-07-01", "2026-08-01"]
    assert [m["count"] for m in months] == [1, 1, 0]
    assert months[0]["learned"] == pytest.approx(2000 * rates["Proposal"]["learned"])
    assert months[1]["configured"] == pytest.approx(600)
    check = forecast.stage_backtest(ctx, AS_OF)
    # the two recent losses are checked with rates learned from the four older wins
    assert check["checked"] == 2
    learned = (4 + 5 * 0.3) / (4 + 5)
    assert check["brier_learned"] == pytest.approx(learned ** 2)
    assert check["brier_configured"] == pytest.approx(0.09)


# ---------------------------------------------------------------------------
# API, page and CLI
# ---------------------------------------------------------------------------


def test_api_forecast(client: Any, history: dict[str, Any], admin_headers: dict[str, str], make_user: Any) -> None:
    assert client.get("/api/v1/analysis/forecast", headers=admin_headers).status_code == 404
    _rep, rep_headers = make_user("sales")
    assert client.post("/api/v1/analysis/forecast/run", headers=rep_headers, json={}).status_code == 403
    bad = client.post("/api/v1/analysis/forecast/run", headers=admin_headers, json={"horizon": 99})
    assert bad.status_code == 422 and "horizon" in bad.json["errors"]
    made = client.post("/api/v1/analysis/forecast/run", headers=admin_headers,
                       json={"as_of": AS_OF.isoformat(), "horizon": 2})
    assert made.status_code == 201 and made.json["horizon"] == 2
    got = client.get("/api/v1/analysis/forecast", headers=admin_headers)
    assert got.status_code == 200 and got.json["series"][0]["forecast"]["months"] == ["2026-06-01", "2026-07-01"]
    assert client.get("/api/v1/analysis/forecast").status_code == 401


def test_forecast_page_in_chinese(app: Any, history: dict[str, Any], make_user: Any) -> None:
    from crmcore.testing.admin import form_token

    make_user("admin", username="root")
    client = admin_login(app.test_client(), "root", lang="zh_CN")
    empty = client.get("/admin/analysis/forecast/").text
    assert "forecast-empty" in empty and "forecast-run" in empty
    done = client.post("/admin/analysis/forecast/run",
                       data={"csrf_token": form_token(client, "/admin/analysis/forecast/")}, follow_redirects=True).text
    assert "销售预测" in done and "crm-forecast" in done and "<svg" in done and "预测已计算并保存" in done
    assert "MASE" in done and "forecast-pipeline" in done and "含趋势与季节性的指数平滑" in done
    assert ">ets_" not in done and ">category:" not in done  # words, not codes
    assert client.post("/admin/analysis/forecast/run", data={}).status_code in (302, 400)  # no CSRF token
    # a rep sees a forecast of their own customers (none here), computed now, and no button to store one
    make_user("sales", username="rep")
    rep = admin_login(app.test_client(), "rep", lang="zh_CN").get("/admin/analysis/forecast/").text
    assert "仅按您可查看的客户计算" in rep and "forecast-run" not in rep
    assert "forecast-fresh" in rep and "分钟后重新计算" in rep  # a kept forecast says when it was fitted


def test_cli_forecast(crm_cli: Any, history: dict[str, Any]) -> None:
    out = crm_cli(["analyze", "forecast", "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    assert "MASE" in out.output and "2026-06" in out.output
