"""The marketing plugin's scheduled jobs, declared without importing its models, services or commands (they
load when a job runs): a web worker learns the jobs' names and intervals without importing ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def send_campaigns(ctx: ServiceContext, campaign_id: int | None = None) -> None:
    """Send the next batch of one campaign, or of every running campaign that is no journey."""
    from sqlalchemy import select

    from .models import Campaign
    from .services import campaigns

    ids = [campaign_id] if campaign_id else list(ctx.session.scalars(select(Campaign.id).where(
        Campaign.status == "running", Campaign.kind != "journey")))
    for cid in ids:
        campaigns.send_campaign(ctx, int(cid))


def advance_journeys(ctx: ServiceContext, campaign_id: int | None = None) -> None:
    """Enter the customers the triggers found into one running journey (or every one) and move them on."""
    from .services import journey_engine, triggers

    triggers.scan(ctx, campaign_id)
    journey_engine.advance(ctx, campaign_id)


JOBS = [Job("marketing.send", send_campaigns, 300, "Send the running campaigns' messages in batches"),
        Job("marketing.journeys", advance_journeys, 300, "Enter customers into the running journeys and move them on")]
