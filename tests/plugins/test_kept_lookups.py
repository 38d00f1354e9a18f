"""What every API write asks after it (issue 15): is there an ERP connection to push to, which running journeys
wait for the event, is a forecast kept. A web process keeps each answer under a change stamp it reads with the
token, so a write asks none of them again while nothing changed; a change made anywhere else (another request,
the admin, a job, another process) is seen by the very next request."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select

from crmcore.models import OutboxMessage

ALL = ["plugins.sales", "plugins.analysis", "adapters.oa", "adapters.channels", "adapters.erp", "plugins.service",
       "plugins.marketing", "plugins.member_events", "plugins.reports", "plugins.social"]


@pytest.fixture
def app(make_app):
    return make_app(PLUGINS=ALL)


@pytest.fixture
def statements(rt):
    """Every statement the database receives while the test runs, and every transaction begun."""
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()))

    def began(conn):
        seen.append("<begin>")

    event.listen(rt.db.engine, "before_cursor_execute", record)
    event.listen(rt.db.engine, "begin", began)
    yield seen
    event.remove(rt.db.engine, "before_cursor_execute", record)
    event.remove(rt.db.engine, "begin", began)


def _other(rt: Any) -> Any:
    """A context of another session (what the admin or a job in another process would use)."""
    return rt.context(source="test")


def _create(client: Any, headers: dict[str, str], name: str) -> dict[str, Any]:
    r = client.post("/api/v1/customers", json={"name": name}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def test_a_write_asks_nothing_kept_and_begins_nothing_after_its_commit(rt, client, admin_headers, statements):
    _create(client, admin_headers, "预热")
    statements.clear()
    _create(client, admin_headers, "杭州西湖茶业有限公司")
    asked = [s for s in statements if any(f"FROM {t}" in s for t in ("erp_connections", "marketing_journeys",
                                                                      "analysis_model_fits"))]
    assert asked == [], statements
    # the request's transaction (token, customer, audit entry, commit) and nothing after it: the listeners read
    # only what their process keeps, and a dispatch whose listeners do not touch the database begins nothing.
    # On PostgreSQL the customer and its audit entry are one statement (``WITH new AS (INSERT ...) INSERT ...``)
    assert statements.count("<begin>") == 1
    writes = ["WITH"] if rt.db.engine.dialect.name == "postgresql" else ["INSERT", "INSERT"]
    assert [s.split()[0] for s in statements if s != "<begin>"] == ["SELECT", *writes]


def test_an_erp_connection_saved_elsewhere_is_seen_by_the_next_request(rt, client, admin_headers, tmp_path):
    from adapters.erp.connections import save_connection

    def erp_rows() -> int:
        ctx = _other(rt)
        try:
            return int(ctx.session.scalar(select(func.count()).select_from(OutboxMessage)
                                          .where(OutboxMessage.destination == "erp")))
        finally:
            ctx.session.close()

    _create(client, admin_headers, "无连接")
    _create(client, admin_headers, "无连接二")  # kept: no connection
    other = _other(rt)
    save_connection(other, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path)}})
    other.session.close()
    pushed = _create(client, admin_headers, "推送")
    assert erp_rows() == 1
    other = _other(rt)
    save_connection(other, {"enabled": False}, "files")
    other.session.close()
    _create(client, admin_headers, "停用后")
    assert erp_rows() == 1
    assert pushed["id"]


def test_a_journey_started_elsewhere_enters_the_next_new_customer(rt, client, admin_headers):
    from plugins.marketing.models_journeys import Enrolment
    from plugins.marketing.services import campaigns, journeys

    def members(campaign_id: int) -> list[int]:
        ctx = _other(rt)
        try:
            return list(ctx.session.scalars(select(Enrolment.customer_id).where(Enrolment.campaign_id == campaign_id)))
        finally:
            ctx.session.close()

    _create(client, admin_headers, "之前")
    _create(client, admin_headers, "之前二")  # kept: no journey waits
    other = _other(rt)
    journey = journeys.create_journey(other, {"name": "欢迎新客户", "trigger": "event", "event": "customer.created"})
    journeys.add_step(other, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(other, journey.id)
    other.session.close()
    first = _create(client, admin_headers, "之后")
    assert members(journey.id) == [first["id"]]
    other = _other(rt)
    campaigns.pause(other, journey.id)
    other.session.close()
    _create(client, admin_headers, "暂停后")
    assert members(journey.id) == [first["id"]]


def test_a_forecast_kept_elsewhere_is_dropped_by_the_next_write(rt, client, admin_headers):
    from plugins.analysis.models import ModelFit
    from plugins.analysis.services.forecast_cache import PREFIX

    def kept() -> int:
        ctx = _other(rt)
        try:
            return int(ctx.session.scalar(select(func.count()).select_from(ModelFit)
                                          .where(ModelFit.kind.startswith(PREFIX))))
        finally:
            ctx.session.close()

    _create(client, admin_headers, "之前")
    _create(client, admin_headers, "之前二")  # kept: no forecast kept
    other = _other(rt)
    other.session.add(ModelFit(kind=f"{PREFIX}all:1", run_date=dt.date(2026, 12, 1), params={}, metrics={}))
    other.session.commit()
    other.session.close()
    assert kept() == 1
    _create(client, admin_headers, "之后")
    assert kept() == 0
