"""Quality records and defect rates by product, CSAT after resolution and NPS by token link with
scores per agent, customer and period, logistics KPIs from delivery data, and the complaint count
the sales plugin's KPIs read through ``crm_sales_complaints``."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from crmcore.errors import NotFound, ValidationError
from plugins.service.models import Survey
from plugins.service.services import logistics, quality, surveys, tickets

UTC = dt.timezone.utc
MARCH = (dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC))


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def test_quality_records_and_defect_rates(ctx, make_customer):
    customer = make_customer("Shop")
    t = tickets.create_ticket(ctx, {"subject": "Cup broken", "customer_id": customer.id, "order_number": "SO-7"})
    rec = quality.save_record(ctx, {"product_code": "CUP-1", "product_name": "Tea cup", "ticket_id": t.id,
                                    "quantity": 2, "description": "Cracked glaze", "reported_at": at(3)})
    assert (rec.customer_id, rec.order_number, rec.state) == (customer.id, "SO-7", "open")
    with pytest.raises(ValidationError, match="not valid"):
        quality.save_record(ctx, {"state": "closed"}, rec.id)  # no root cause yet
    quality.save_record(ctx, {"state": "closed", "root_cause": "Kiln too hot", "corrective_action": "Recalibrated"},
                        rec.id)
    assert rec.closed_at is not None
    quality.save_record(ctx, {"product_code": "POT-1", "description": "Lid loose", "reported_at": at(5)})
    quality.save_record(ctx, {"product_code": "CUP-1", "kind": "feedback", "description": "Love the colour",
                              "reported_at": at(6)})
    quality.save_record(ctx, {"product_code": "CUP-1", "description": "February", "reported_at": at(1) - dt.timedelta(days=5)})
    logistics.record_delivery(ctx, {"order_number": "SO-7", "dispatched_at": at(2), "arrived_at": at(4),
                                    "lines": [{"product_code": "CUP-1", "quantity": 40}, {"product_code": "POT-1",
                                                                                          "quantity": 5}]})
    logistics.record_delivery(ctx, {"order_number": "SO-8", "dispatched_at": at(10),
                                    "lines": [{"product_code": "CUP-1", "quantity": 60}]})
    rates = {r["product_code"]: r for r in quality.defect_rates(ctx, *MARCH)}
    assert rates["CUP-1"]["defects"] == 1 and rates["CUP-1"]["delivered_units"] == Decimal(100)
    assert rates["CUP-1"]["defect_rate"] == Decimal("0.02")
    assert rates["POT-1"]["defect_rate"] == Decimal("0.2")
    assert [r["product_code"] for r in quality.defect_rates(ctx, *MARCH)] == ["POT-1", "CUP-1"]


def test_csat_after_resolution_and_nps_by_token(ctx, make_customer, make_staff, client):
    agent_a, agent_b = make_staff("a"), make_staff("b")
    customer = make_customer("Happy")
    for agent, score in ((agent_a, 5), (agent_a, 3), (agent_b, 1)):
        t = tickets.create_ticket(ctx, {"subject": "x", "customer_id": customer.id, "assignee_id": agent.id})
        tickets.transition(ctx, t.id, "resolved")
        survey = ctx.session.scalar(select(Survey).where(Survey.ticket_id == t.id))
        assert survey.kind == "csat" and survey.agent_id == agent.id
        surveys.answer(ctx, surveys.token_for(ctx, survey), score, now=at(10))
    # resolving twice (after a reopen) does not send a second survey
    tickets.transition(ctx, t.id, "reopened")
    tickets.transition(ctx, t.id, "resolved")
    assert len(ctx.session.scalars(select(Survey)).all()) == 3
    by_agent = {r["agent"]: r for r in surveys.scores(ctx, start=MARCH[0], end=MARCH[1], by="agent")}
    assert by_agent[agent_a.id] == {"agent": agent_a.id, "answers": 2, "mean": 4.0, "csat": 50.0}
    assert by_agent[agent_b.id]["csat"] == 0.0
    assert surveys.scores(ctx, start=MARCH[0], end=MARCH[1], by="customer")[0]["customer"] == customer.id
    assert surveys.scores(ctx, start=MARCH[1], end=MARCH[1] + dt.timedelta(days=30)) == []
    # NPS: 9-10 promoters, 0-6 detractors, answered through the page
    for score in (10, 9, 7, 3):
        s = surveys.create_nps(ctx, customer.id)
        page = client.get(f"/service/survey/{surveys.token_for(ctx, s)}")
        assert page.status_code == 200 and "recommend" in page.get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        res = client.post(f"/service/survey/{surveys.token_for(ctx, s)}", data={"csrf_token": token,
                                                                               "score": score})
        assert res.status_code == 302
    now = dt.datetime.now(UTC)
    nps = surveys.scores(ctx, start=now - dt.timedelta(days=1), end=now + dt.timedelta(days=1), by="all", kind="nps")
    assert nps == [{"all": None, "answers": 4, "mean": 7.25, "nps": 25.0}]


def test_survey_tokens_are_checked(ctx, make_customer, client):
    s = surveys.create_nps(ctx, make_customer("C").id)
    token = surveys.token_for(ctx, s)
    with pytest.raises(ValidationError):
        surveys.answer(ctx, token, 11)
    surveys.answer(ctx, token, 8)
    with pytest.raises(ValidationError, match="already"):
        surveys.answer(ctx, token, 9)
    for bad in (token[:-3] + "abc", "nonsense"):
        with pytest.raises(NotFound):
            surveys.survey_by_token(ctx, bad)
        assert client.get(f"/service/survey/{bad}").status_code == 404
    s2 = surveys.create_nps(ctx, s.customer_id)
    with pytest.raises(NotFound):
        surveys.survey_by_token(ctx, surveys.token_for(ctx, s2), now=s2.expires_at + dt.timedelta(seconds=1))


def test_logistics_kpis(ctx):
    rows = [
        ("SO-1", at(2, 8), at(2, 7), at(4), at(3), False, True, False),
        ("SO-2", at(2, 8), at(2, 9), at(4), at(5), True, True, True),
        ("SO-3", at(3, 8), None, at(6), None, False, False, True),
        ("SO-4", at(4, 8), at(4, 8), at(7), at(7), False, True, False),
    ]
    for number, pd, d, pa, a, damaged, completed, rush in rows:
        logistics.record_delivery(ctx, {"order_number": number, "promised_dispatch_at": pd, "dispatched_at": d,
                                        "promised_arrival_at": pa, "arrived_at": a, "damaged": damaged,
                                        "completed": completed, "rush": rush})
    k = logistics.kpis(ctx, *MARCH, now=at(20))
    assert k["deliveries"] == 4
    assert k["on_time_dispatch"] == {"value": 0.5, "count": 2, "of": 4}   # SO-3 never left, SO-2 late
    assert k["on_time_arrival"] == {"value": 0.5, "count": 2, "of": 4}
    assert k["damage_rate"] == {"value": 0.3333, "count": 1, "of": 3}
    assert k["order_completion"]["value"] == 0.75
    assert k["rush_completion"] == {"value": 0.5, "count": 1, "of": 2}
    # an update by order number, not a second row
    logistics.record_delivery(ctx, {"order_number": "SO-3", "dispatched_at": at(3, 9)})
    assert logistics.kpis(ctx, *MARCH, now=at(20))["on_time_dispatch"]["of"] == 4
    # no data: None, not zero
    empty = logistics.kpis(ctx, MARCH[1], MARCH[1] + dt.timedelta(days=30))
    assert empty["on_time_dispatch"]["value"] is None and empty["deliveries"] == 0


def test_complaint_rate_reaches_the_sales_kpis(make_app, make_customer, make_staff):
    app = make_app(PLUGINS=["plugins.sales", "plugins.service"])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    try:
        from plugins.sales.services.kpis import KpiQuery, complaint_rate
        from plugins.sales.services.orders import record_order
        from plugins.sales.services.periods import parse_period

        rep = make_staff("rep", "sales")
        customer = make_customer("Grumpy", rep)
        for n in range(4):
            record_order(ctx, {"number": f"SO-{n}", "customer_id": customer.id, "owner_id": rep.id,
                               "order_date": dt.date.today(), "total": "10.00", "currency": "CNY"})
        tickets.create_ticket(ctx, {"subject": "Late!", "customer_id": customer.id, "kind": "complaint"})
        tickets.create_ticket(ctx, {"subject": "Question", "customer_id": customer.id, "kind": "question"})
        # the service plugin answers the hook with its complaint tickets
        from plugins.sales.services.subjects import resolve_subject

        q = KpiQuery(subject=resolve_subject(ctx), period=parse_period(None, ctx), currency="CNY")
        value = complaint_rate(ctx, q)
        assert value is not None and value.value == Decimal("0.25")
        # without the service plugin the KPI is absent
        sales_only = make_app(PLUGINS=["plugins.sales"]).extensions["crm"]
        ctx2 = sales_only.context(source="test")
        assert complaint_rate(ctx2, q) is None
        ctx2.session.close()
    finally:
        ctx.session.close()

