"""Every sales KPI against a small fixed data set, with the expected values worked out by hand.

The period is March 2026 in the CRM's time zone (Asia/Shanghai, UTC+8); February is the period
before. Reps A and B are in team East, rep C in team West. Rates: 1 USD = 7 CNY; JPY has no rate.

Orders (confirmed unless said):  A: Feb c1 1000, Feb c2 500, Mar c1 900 (list 1000),
Mar c3 100 USD (list 125 USD), Mar c3 10000 JPY (no list), Mar c1 5000 cancelled.
B: Feb c4 2000, Mar c4 1500 (list 1500). C: none.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from crmcore import hookimpl
from plugins.sales.services import activities, expenses, kpis, money, opportunities, orders, stages, targets
from plugins.sales.services.kpis import KpiQuery
from plugins.sales.services.periods import parse_period
from plugins.sales.services.subjects import Subject, rep

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))
D = Decimal


def at(day: str, hour: int = 12, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tz)


@pytest.fixture
def data(ctx: Any, make_rep: Any, make_customer: Any) -> SimpleNamespace:
    a, b, c = make_rep("rep_a", team="East"), make_rep("rep_b", team="East"), make_rep("rep_c", team="West")
    c1, c2, c3 = make_customer("C1", a), make_customer("C2", a), make_customer("C3", a)
    c4 = make_customer("C4", b)
    make_customer("C5", c)  # West: a customer without orders
    money.set_rate(ctx, "USD", "7")

    def order(num: str, cust: Any, day: str, total: str, currency: str = "CNY", list_total: str | None = None,
              status: str = "confirmed") -> Any:
        return orders.record_order(ctx, {"number": num, "customer_id": cust.id, "order_date": day, "total": total,
                                         "currency": currency, "list_total": list_total, "status": status})

    order("O1", c1, "2026-02-10", "1000", list_total="1000")
    order("O2", c2, "2026-02-20", "500")
    order("O3", c4, "2026-02-15", "2000")
    order("O4", c1, "2026-03-05", "900", list_total="1000")
    order("O5", c3, "2026-03-10", "100", "USD", list_total="125")
    order("O6", c1, "2026-03-31", "5000", status="cancelled")
    order("O7", c4, "2026-03-20", "1500", list_total="1500")
    order("O9", c3, "2026-03-15", "10000", "JPY")

    targets.set_target(ctx, {"year": 2026, "month": 3, "user_id": a.id, "amount": "2000"})
    targets.set_target(ctx, {"year": 2026, "month": 3, "user_id": c.id, "amount": "100", "currency": "USD"})
    targets.set_target(ctx, {"year": 2026, "month": 3, "team_id": a.team_id, "amount": "4000"})

    expenses.record_expense(ctx, {"owner_id": a.id, "spent_on": "2026-03-03", "amount": "300", "category": "travel"})
    expenses.record_expense(ctx, {"owner_id": a.id, "spent_on": "2026-03-20", "amount": "50", "currency": "USD",
                                  "category": "entertainment"})
    expenses.record_expense(ctx, {"owner_id": a.id, "spent_on": "2026-02-27", "amount": "100"})
    expenses.record_expense(ctx, {"owner_id": a.id, "spent_on": "2026-04-01", "amount": "999"})
    expenses.record_expense(ctx, {"owner_id": b.id, "spent_on": "2026-03-31", "amount": "200"})

    def invoice(num: str, due: str, total: str, currency: str = "CNY", state: str | None = None) -> Any:
        return orders.record_invoice(ctx, {"number": num, "customer_id": c1.id, "invoice_date": "2026-02-01",
                                           "due_date": due, "amount_total": total, "currency": currency,
                                           "state": state})

    i1 = invoice("I1", "2026-03-10", "1000")
    orders.record_payment(ctx, i1.id, {"paid_on": "2026-03-01", "amount": "600"})
    orders.record_payment(ctx, i1.id, {"paid_on": "2026-03-09", "amount": "500"})  # overpaid: counts as 1000
    i2 = invoice("I2", "2026-03-25", "900")
    orders.record_payment(ctx, i2.id, {"paid_on": "2026-03-20", "amount": "400"})
    orders.record_payment(ctx, i2.id, {"paid_on": "2026-04-05", "amount": "200"})  # after the period
    i3 = invoice("I3", "2026-03-31", "100", "USD")
    orders.record_payment(ctx, i3.id, {"paid_on": "2026-03-30", "amount": "100", "currency": "USD"})
    invoice("I4", "2026-04-10", "500")
    invoice("I5", "2026-03-15", "300", state="cancelled")

    def visit(outcome: str | None, done_at: dt.datetime | None, kind: str = "visit") -> None:
        data = {"kind": kind, "subject": "Visit", "customer_id": c1.id, "owner_id": a.id}
        if done_at is not None:
            data.update(status="done", done_at=done_at, outcome=outcome)
        activities.create_activity(ctx, data)

    visit("success", at("2026-03-02"))
    visit("failure", at("2026-03-15"))
    visit("success", at("2026-03-31", 20, CST))  # 12:00 UTC: still March here
    visit("success", at("2026-04-01", 1, CST))  # 31 March 17:00 UTC, but April in Shanghai
    visit(None, None)  # planned, not done
    visit(None, at("2026-03-05"), kind="call")  # a call, not a visit

    stages.ensure_stages(ctx)
    by_name = {s.name: s for s in stages.list_stages(ctx)}

    def opp(name: str, amount: str, stage: str, close: str, currency: str = "CNY", created: dt.datetime | None = None,
            owner: Any = a) -> Any:
        return opportunities.create_opportunity(ctx, {
            "name": name, "customer_id": c1.id, "owner_id": owner.id, "amount": amount, "currency": currency,
            "stage_id": by_name[stage].id, "expected_close_date": close}, at=created or at("2026-02-01"))

    opp("op1", "1000", "Visit", "2026-03-20")
    opp("op2", "2000", "Proposal", "2026-04-15")
    opp("op3", "100", "Proposal", "2026-03-31", "USD")
    op4 = opp("op4", "5000", "Contract", "2026-03-11", created=at("2026-02-01", 0))
    opportunities.move_stage(ctx, op4.id, by_name["Won"].id, at=at("2026-03-11", 0))  # 38 days
    op5 = opp("op5", "800", "Visit", "2026-03-06", created=at("2026-03-01", 0))
    opportunities.move_stage(ctx, op5.id, by_name["Won"].id, at=at("2026-03-06", 12))  # 5.5 days
    op6 = opp("op6", "700", "Visit", "2026-03-20", created=at("2026-03-01"))
    opportunities.move_stage(ctx, op6.id, by_name["Lost"].id, at=at("2026-03-20"), lost_reason="price",
                             competitor="Rival Co")
    op7 = opp("op7", "300", "Visit", "2026-02-20", created=at("2026-01-01"))
    opportunities.move_stage(ctx, op7.id, by_name["Won"].id, at=at("2026-02-20"))  # February: not counted
    opp("opB", "9999", "Visit", "2026-03-10", owner=b)
    return SimpleNamespace(a=a, b=b, c=c, c1=c1, c4=c4, stages=by_name)


def q(ctx: Any, subject: Subject, period: str = "2026-03", currency: str = "CNY") -> KpiQuery:
    return KpiQuery(subject, parse_period(period, ctx), currency)


def kpi(ctx: Any, subject: Subject, key: str, **kw: Any) -> Any:
    return kpis.KPIS[key](ctx, q(ctx, subject, **kw))


def team(user: Any) -> Subject:
    return Subject("team", team_ids=(user.team_id,), label="team")


COMPANY = Subject("company", label="Company")


def test_sales_amount_converts_currencies_and_names_the_ones_it_cannot(ctx, data):
    v = kpi(ctx, rep(data.a), "sales")
    assert v.value == D("1600.00")  # 900 + 100 USD x 7; the cancelled order and the JPY one are out
    assert v.excluded_currencies == ["JPY"]
    assert kpi(ctx, COMPANY, "sales").value == D("3100.00")  # + B's 1500
    # reported in USD: 900 / 7 + 100 = 228.571... -> 228.57
    assert kpi(ctx, rep(data.a), "sales", currency="USD").value == D("228.57")


def test_plan_completion(ctx, data):
    v = kpi(ctx, rep(data.a), "plan_completion")
    assert (v.value, v.numerator, v.denominator) == (D("0.8000"), D("1600.00"), D("2000.00"))
    assert kpi(ctx, team(data.a), "plan_completion").value == D("0.7750")  # 3100 / 4000
    # edge: no plan set -> absent value with a note, not 0
    nb = kpi(ctx, rep(data.b), "plan_completion")
    assert nb.value is None and "No sales plan" in nb.note
    assert kpi(ctx, team(data.c), "plan_completion").value is None
    # a plan in USD and no sales: a real 0 against 700 CNY
    nc = kpi(ctx, rep(data.c), "plan_completion")
    assert (nc.value, nc.denominator) == (D("0.0000"), D("700.00"))
    # a quarter sums the months' plans: only March is set, so Q1 = 1600 / 2000 again
    assert kpi(ctx, rep(data.a), "plan_completion", period="2026-Q1").denominator == D("2000.00")


def test_sales_growth(ctx, data):
    assert kpi(ctx, rep(data.a), "sales_growth").value == D("0.0667")  # (1600 - 1500) / 1500
    assert kpi(ctx, rep(data.b), "sales_growth").value == D("-0.2500")  # (1500 - 2000) / 2000
    assert kpi(ctx, team(data.a), "sales_growth").value == D("-0.1143")  # (3100 - 3500) / 3500
    # edge: zero sales in the previous period -> undefined, not infinite or 0
    v = kpi(ctx, rep(data.c), "sales_growth")
    assert v.value is None and "previous period" in v.note
    v = kpi(ctx, rep(data.a), "sales_growth", period="2026-02")  # January had nothing
    assert v.value is None


def test_price_retention(ctx, data):
    v = kpi(ctx, rep(data.a), "price_retention")
    # (900 + 700) / (1000 + 875); the JPY order has no list total and is left out
    assert (v.value, v.numerator, v.denominator) == (D("0.8533"), D("1600.00"), D("1875.00"))
    assert kpi(ctx, rep(data.b), "price_retention").value == D("1.0000")
    assert kpi(ctx, rep(data.c), "price_retention").value is None


def test_sales_expenses(ctx, data):
    assert kpi(ctx, rep(data.a), "sales_expenses").value == D("650.00")  # 300 + 50 USD x 7
    assert kpi(ctx, COMPANY, "sales_expenses").value == D("850.00")  # + B's 200 on 31 March
    assert kpi(ctx, rep(data.c), "sales_expenses").value == D("0.00")


def test_collection_rate_with_partial_payments_overpayment_and_currency(ctx, data):
    v = kpi(ctx, rep(data.a), "collection_rate")
    # due: 1000 + 900 + 100 USD (700) = 2600; collected: min(1100, 1000) + 400 + 700 = 2100
    assert (v.numerator, v.denominator, v.value) == (D("2100.00"), D("2600.00"), D("0.8077"))
    # April: I4 is due (500) and nothing is paid -> 0, and I2's late payment does not count
    assert kpi(ctx, rep(data.a), "collection_rate", period="2026-04").value == D("0.0000")
    v = kpi(ctx, rep(data.b), "collection_rate")
    assert v.value is None and "No receivables" in v.note


def test_visit_success_rate_uses_local_days(ctx, data):
    v = kpi(ctx, rep(data.a), "visit_success")
    assert (v.numerator, v.denominator, v.value) == (2, 3, D("0.6667"))
    assert kpi(ctx, rep(data.a), "visit_success", period="2026-04").value == D("1.0000")
    assert kpi(ctx, rep(data.b), "visit_success").value is None


def test_complaint_rate_is_absent_without_a_plugin(ctx, data):
    assert kpi(ctx, rep(data.a), "complaint_rate") is None
    assert "complaint_rate" not in kpis.compute(ctx, q(ctx, rep(data.a)))


def test_complaint_rate_from_a_plugin(rt, ctx, data):
    complaints = [data.c1.id, data.c1.id, data.c4.id]  # two about A's customer C1, one about B's C4

    class ServicePlugin:
        @hookimpl
        def crm_sales_complaints(self, ctx: Any, customer_ids: Any, start: Any, end: Any) -> int:
            ids = set(ctx.session.scalars(customer_ids))
            return sum(1 for c in complaints if c in ids)

    plugin = ServicePlugin()
    rt.pm.register(plugin, name="service-test")
    try:
        v = kpi(ctx, rep(data.a), "complaint_rate")
        assert (v.numerator, v.denominator, v.value) == (2, 3, D("0.6667"))  # A sold 3 orders in March
        assert kpi(ctx, COMPANY, "complaint_rate").value == D("0.7500")  # 3 / 4
        v = kpi(ctx, rep(data.c), "complaint_rate")
        assert v.value is None and v.numerator == 0  # no orders: undefined
    finally:
        rt.pm.unregister(plugin)


def test_new_customer_and_retention_rates(ctx, data):
    # A's March buyers: C1 (bought in Feb too) and C3 (first order ever) -> 1 / 2
    assert kpi(ctx, rep(data.a), "new_customer_rate").value == D("0.5000")
    # A's February buyers: C1, C2; C1 bought again in March -> 1 / 2
    assert kpi(ctx, rep(data.a), "retention_rate").value == D("0.5000")
    assert kpi(ctx, rep(data.b), "new_customer_rate").value == D("0.0000")
    assert kpi(ctx, rep(data.b), "retention_rate").value == D("1.0000")
    assert kpi(ctx, rep(data.c), "new_customer_rate").value is None
    assert kpi(ctx, rep(data.c), "retention_rate").value is None
    # February: C1, C2, C4 all first bought then -> 3 / 3 new for the company
    assert kpi(ctx, COMPANY, "new_customer_rate", period="2026-02").value == D("1.0000")


def test_pipeline_by_stage_and_weighted_forecast(ctx, data):
    v = kpi(ctx, rep(data.a), "pipeline")
    assert [(d["stage"], d["count"], d["amount"], d["weighted"]) for d in v.detail] == [
        ("Visit", 1, D("1000.00"), D("100.00")),
        ("Proposal", 2, D("2700.00"), D("810.00")),  # 2000 + 100 USD; 30 %
    ]
    assert v.value == D("3700.00")
    # open, expected to close in March: op1 1000 x 10 % + op3 700 x 30 %
    assert kpi(ctx, rep(data.a), "weighted_forecast").value == D("310.00")
    assert kpi(ctx, COMPANY, "weighted_forecast").value == D("1309.90")  # + B's 9999 x 10 %


def test_win_rate_and_cycle_time(ctx, data):
    v = kpi(ctx, rep(data.a), "win_rate")
    assert (v.numerator, v.denominator, v.value) == (2, 3, D("0.6667"))  # op4, op5 won; op6 lost
    assert kpi(ctx, rep(data.a), "cycle_time").value == D("21.75")  # (38 + 5.5) / 2 days
    assert kpi(ctx, rep(data.a), "win_rate", period="2026-02").value == D("1.0000")  # op7
    assert kpi(ctx, rep(data.a), "cycle_time", period="2026-02").value == D("50.00")
    assert kpi(ctx, rep(data.b), "win_rate").value is None
    assert kpi(ctx, rep(data.b), "cycle_time").value is None


def test_kpi_api_for_rep_team_and_scope(client, data, make_user):
    from crmcore.services.users import create_token

    def headers(user: Any) -> dict[str, str]:
        ctx = client.application.extensions["crm"].context()
        return {"Authorization": f"Bearer {create_token(ctx, user)[1]}"}

    r = client.get("/api/v1/sales/kpis?period=2026-03", headers=headers(data.a))
    assert r.status_code == 200, r.json
    body = r.json
    assert body["subject"] == f"rep:{data.a.id}" and body["start"] == "2026-03-01" and body["end"] == "2026-04-01"
    assert body["kpis"]["sales"]["value"] == "1600.00"
    assert body["kpis"]["plan_completion"]["value"] == "0.8000"
    assert "complaint_rate" not in body["kpis"]
    # a rep may not read another rep's figures, nor a team's
    assert client.get(f"/api/v1/sales/kpis?rep_id={data.b.id}", headers=headers(data.a)).status_code == 403
    assert client.get(f"/api/v1/sales/kpis?team_id={data.a.team_id}", headers=headers(data.a)).status_code == 403
    # a manager of East sees the team and its members, not West
    manager, mh = make_user("manager", team="East")
    r = client.get("/api/v1/sales/kpis?period=2026-03&kpi=sales&kpi=sales_growth", headers=mh)
    assert r.status_code == 200 and set(r.json["kpis"]) == {"sales", "sales_growth"}
    assert r.json["kpis"]["sales"]["value"] == "3100.00"
    assert client.get(f"/api/v1/sales/kpis?rep_id={data.b.id}&period=2026-03", headers=mh).status_code == 200
    assert client.get(f"/api/v1/sales/kpis?rep_id={data.c.id}", headers=mh).status_code == 403
    assert client.get("/api/v1/sales/kpis?period=2026-13", headers=mh).status_code == 422
    assert client.get("/api/v1/sales/kpis?kpi=nope", headers=mh).status_code == 422
    assert client.get("/api/v1/sales/kpis?rep_id=99999", headers=mh).status_code == 404
    assert client.get("/api/v1/sales/kpis").status_code == 401


def test_recompute_stores_snapshots(ctx, data, runner):
    from plugins.sales.cli import sales
    from plugins.sales.models import KpiSnapshot

    result = runner.invoke(sales, ["kpis", "recompute", "--period", "2026-03"])
    assert result.exit_code == 0, result.output
    snap = ctx.session.scalar(select(KpiSnapshot).where(KpiSnapshot.subject == f"rep:{data.a.id}",
                                                        KpiSnapshot.kpi == "plan_completion"))
    assert snap.value == D("0.8000") and snap.period == "2026-03" and snap.data["numerator"] == "1600.00"
    result = runner.invoke(sales, ["kpis", "show", "--period", "2026-03", "--rep", str(data.a.id)])
    assert result.exit_code == 0 and "Sales-plan completion rate" in result.output and "0.8000" in result.output
