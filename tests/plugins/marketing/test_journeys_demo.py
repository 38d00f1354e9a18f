"""The demo's Mother's Day journey: built from the seeds' scenario, its graph sound, ready to run with a mail
server; on the trigger date the female customers who ordered enter, get the suggestion, and non-openers a reminder."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from plugins.marketing.models import Campaign
from plugins.marketing.models_journeys import Enrolment, Journey
from plugins.marketing.services import journey_engine, journeys, triggers


def test_the_mothers_day_journey_of_the_demo_runs(ctx: Any, inbox: Any) -> None:
    from crmcore.demo import load_demo

    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    campaign = ctx.session.scalar(select(Campaign).where(Campaign.name == "母亲节礼物旅程"))
    journey = ctx.session.get(Journey, campaign.id)
    assert (journey.trigger, journey.month, journey.nth, journey.weekday, journey.offset_days) == (
        "calendar", 5, 2, 6, -10)
    assert journeys.graph_problems(ctx, campaign.id) == {}
    assert [s.kind for s in journeys.steps_of(ctx, campaign.id)] == ["send", "wait", "condition", "send", "goal"]
    journeys.start(ctx, campaign.id)
    triggers.scan(ctx, campaign.id, now=dt.datetime(2027, 4, 29, 12, tzinfo=dt.timezone.utc))
    entered = ctx.session.scalars(select(Enrolment.customer_id).where(Enrolment.campaign_id == campaign.id)).all()
    from crmcore.models import Customer

    names = {c.name: c for c in ctx.session.scalars(select(Customer))}
    assert names["李娜"].id in entered and names["王伟"].id not in entered  # the women, not the men
    journey_engine.advance(ctx, campaign.id, now=dt.datetime(2027, 4, 29, 12, tzinfo=dt.timezone.utc))
    assert "lina@example.cn" in [m["To"] for m in inbox.messages]
