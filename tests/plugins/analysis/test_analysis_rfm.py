"""RFM in SQL: values, rank-based scores, fixed edges, segments from the table, history per run
date, segment-change events in batches, and the API within the caller's record scope."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crmcore import hookimpl
from plugins.analysis.models import RfmScore
from plugins.analysis.services import rfm

AS_OF = dt.date(2026, 6, 30)  # the conftest builders date orders back from this day


@pytest.fixture
def ten(make_customer: Any, buy: Any) -> list[Any]:
    """Customer i (0..9): last order 10*i days ago, i % 4 + 1 orders 30 days apart, 10*(i+1) each."""
    out = []
    for i in range(10):
        c = make_customer(f"Customer {i}")
        for k in range(i % 4 + 1):
            buy(c, 10 * i + 30 * k, f"{10 * (i + 1)}.00")
        out.append(c)
    return out


def _scores(ctx: Any, day: dt.date = AS_OF) -> dict[int, RfmScore]:
    return {r.customer_id: r for r in ctx.session.scalars(select(RfmScore).where(RfmScore.run_date == day))}


def test_values_scores_and_segments(ctx: Any, ten: list[Any], make_customer: Any, buy: Any) -> None:
    idle = make_customer("No orders")
    cancelled = make_customer("Only cancelled")
    buy(cancelled, 5, "999.00", status="cancelled")
    result = rfm.run_rfm(ctx, AS_OF)
    assert result["customers"] == 10 and result["previous_run"] is None and result["segment_changes"] == 0
    s = _scores(ctx)
    assert idle.id not in s and cancelled.id not in s
    c3 = s[ten[3].id]  # 4 orders, last 30 days ago, 40 each
    assert (c3.recency_days, c3.frequency, c3.monetary) == (30, 4, Decimal("160.00"))
    # recency ranks: the most recent (0 days) gets 5, the oldest (90 days) 1; two per quintile
    assert [s[c.id].r_score for c in ten] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # frequency ties share the lower score: three customers with 1 order all get 1
    assert [s[c.id].f_score for c in ten] == [1, 2, 4, 5, 1, 2, 4, 5, 1, 2]
    assert s[ten[0].id].segment == "new"              # r5 f1
    assert s[ten[3].id].segment == "champions"        # r4 f5 m4
    assert s[ten[7].id].segment == "cant_lose"        # r2 f5
    assert s[ten[8].id].segment == "lost"             # r1 f1
    sizes = {x["segment"]: x["customers"] for x in result["segments"]}
    assert sum(sizes.values()) == 10 and sizes["cant_lose"] == 2


def test_fixed_edges_and_bins(ctx: Any, ten: list[Any]) -> None:
    config = rfm.RfmConfig(recency_edges=[15, 40, 60, 90], frequency_edges=[2, 3, 4, 5], monetary_edges=[50])
    rfm.run_rfm(ctx, AS_OF, config=config)
    s = _scores(ctx)
    assert [s[c.id].r_score for c in ten] == [5, 5, 4, 4, 3, 3, 2, 2, 2, 1]
    assert [s[c.id].f_score for c in ten] == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    assert [s[c.id].m_score for c in ten] == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    rfm.run_rfm(ctx, AS_OF, config=rfm.RfmConfig(bins=3))  # re-run the same day: replaced, not doubled
    s = _scores(ctx)
    assert len(s) == 10 and {r.r_score for r in s.values()} == {1, 2, 3}
    with pytest.raises(Exception) as err:
        rfm.RfmConfig(bins=1, frequency_edges=[3, 2]).check()
    assert set(err.value.errors) == {"bins", "frequency_edges"}


def test_segment_changes_emit_batched_events(app: Any, ctx: Any, ten: list[Any], buy: Any, monkeypatch: Any) -> None:
    seen: list[Any] = []

    class Listener:
        @staticmethod
        @hookimpl
        def crm_event(ctx: Any, event: Any) -> None:
            if event.name == rfm.SEGMENT_EVENT:
                seen.append(event)

    app.extensions["crm"].pm.register(Listener(), name="listener")
    try:
        rfm.run_rfm(ctx, AS_OF)
        assert seen == []  # the first run is the baseline
        later = AS_OF + dt.timedelta(days=60)
        for c in ten[5:]:  # five customers come back
            buy(c, 0, "500.00", as_of=later)
        monkeypatch.setattr(rfm, "EVENT_BATCH", 2)
        result = rfm.run_rfm(ctx, later)
    finally:
        app.extensions["crm"].pm.unregister(name="listener")
    before, after = _scores(ctx, AS_OF), _scores(ctx, later)
    changed = {c.id for c in ten if before[c.id].segment != after[c.id].segment}
    assert changed and result["segment_changes"] == len(changed)
    assert [len(e.data["changes"]) for e in seen] == [2] * (len(changed) // 2) + ([1] if len(changed) % 2 else [])
    reported = {ch["customer_id"]: ch for e in seen for ch in e.data["changes"]}
    assert set(reported) == changed
    for cid, ch in reported.items():
        assert (ch["from"], ch["to"]) == (before[cid].segment, after[cid].segment)
    assert all(e.data["previous_run"] == AS_OF.isoformat() for e in seen)


def test_api_runs_and_reads_within_scope(app: Any, ctx: Any, make_user: Any, make_customer: Any, buy: Any) -> None:
    client = app.test_client()
    rep, rep_headers = make_user("sales")
    _other, other_headers = make_user("sales")
    manager_headers = make_user("manager")[1]
    mine = make_customer("Mine", rep)
    theirs = make_customer("Theirs", _other)
    buy(mine, 3, "80.00")
    buy(theirs, 40, "20.00")
    assert client.post("/api/v1/analysis/rfm/run").status_code == 401
    assert client.post("/api/v1/analysis/rfm/run", headers=rep_headers, json={}).status_code == 403
    res = client.post("/api/v1/analysis/rfm/run", headers=manager_headers, json={"as_of": AS_OF.isoformat()})
    assert res.status_code == 201, res.json
    assert res.json["customers"] == 2, res.json
    bad = client.post("/api/v1/analysis/rfm/run", headers=manager_headers, json={"bins": 20})
    assert bad.status_code == 422 and "bins" in bad.json["errors"]
    listed = client.get("/api/v1/analysis/rfm/customers", headers=rep_headers).json
    assert [i["customer_id"] for i in listed["items"]] == [mine.id] and listed["total"] == 1
    assert listed["run_date"] == AS_OF.isoformat()
    everyone = client.get("/api/v1/analysis/rfm/customers", headers=make_user("admin")[1]).json
    assert everyone["total"] == 2
    nobody = client.get("/api/v1/analysis/rfm/customers", headers=manager_headers).json  # a manager without a team
    assert nobody["total"] == 0
    sizes = client.get("/api/v1/analysis/rfm/segments", headers=rep_headers).json["items"]
    assert sum(s["customers"] for s in sizes) == 1
