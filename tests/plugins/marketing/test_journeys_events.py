"""Event triggers through ``crm_events`` with the service plugin loaded: a resolved ticket enters its customer,
an RFM segment change enters each customer it names, a new customer enters; only running journeys listen."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from sqlalchemy import select

from crmcore.contracts import Event
from plugins.marketing.models_journeys import Enrolment
from plugins.marketing.services import journeys, triggers
from plugins.service import models as service_models  # noqa: F401 - the service's tables on the metadata


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.service", "plugins.marketing"])


def running(ctx: Any, name: str, event: str) -> Any:
    journey = journeys.create_journey(ctx, {"name": name, "trigger": "event", "event": event})
    journeys.add_step(ctx, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(ctx, journey.id)
    return journey


def members(ctx: Any, journey: Any) -> list[int]:
    return list(ctx.session.scalars(select(Enrolment.customer_id).where(Enrolment.campaign_id == journey.id)
                                    .order_by(Enrolment.customer_id)))


def test_a_resolved_ticket_and_a_new_customer_enter(app: Any, ctx: Any, make_customer: Any) -> None:
    from plugins.service.services import tickets

    after_ticket = running(ctx, "工单解决后回访", "service.ticket.resolved")
    welcome = running(ctx, "欢迎新客户", "customer.created")
    draft = journeys.create_journey(ctx, {"name": "草稿", "trigger": "event", "event": "customer.created"})
    a = make_customer("甲")
    t = tickets.create_ticket(ctx, {"subject": "坏了", "customer_id": a.id})
    assert members(ctx, after_ticket) == []
    tickets.transition(ctx, t.id, "resolved")
    assert members(ctx, after_ticket) == [a.id]
    assert members(ctx, welcome) == [a.id] and members(ctx, draft) == []  # a draft listens to nothing


def test_a_segment_change_enters_each_customer_it_names(app: Any, ctx: Any, make_customer: Any) -> None:
    a, b = make_customer("甲"), make_customer("乙")
    journey = running(ctx, "分群变化", "analysis.segment.changed")
    event = Event(name="analysis.segment.changed", entity="analysis_rfm", entity_id="2027-05-01",
                  data={"changes": [{"customer_id": a.id, "from": "loyal", "to": "at_risk"},
                                    {"customer_id": b.id, "from": None, "to": "new"}]})
    assert triggers.on_events(ctx, [event]) == 2 and members(ctx, journey) == sorted([a.id, b.id])
    assert triggers.on_events(ctx, [event]) == 0  # the same event again: nobody twice
