"""A/B/n tests of a campaign: the stated test, the sample size it needs, and the winner.

The test is the **two-proportion z-test** (pooled standard error, two-sided) on the rate of the campaign's
metric (recipients who opened, or who clicked, over those sent) between the best variant and each other one.
The sample size per variant to detect an absolute difference ``min_effect`` from a base rate ``base`` at
significance ``alpha`` (two-sided) with ``power`` is
``n = (z(1-alpha/2)·sqrt(2·p̄(1-p̄)) + z(power)·sqrt(p1(1-p1) + p2(1-p2)))² / (p1-p2)²`` with ``p1 = base``,
``p2 = base + min_effect``, ``p̄ = (p1+p2)/2`` (Fleiss). ``MARKETING_AB_BASE_RATE`` (default 0.05) and
``MARKETING_AB_MIN_EFFECT`` (default 0.02) set them. After ``ab_hours`` the best rate wins, significant or not
(the report says which), and the recipients waiting for it are sent the winner.
"""
from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist
from typing import Any

from sqlalchemy import func, select, update

from crmcore.db import utcnow
from crmcore.events import record_change
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..models import Campaign, MarketingEvent, Recipient, Variant

_Z = NormalDist()


def z_test(x1: int, n1: int, x2: int, n2: int) -> dict[str, float | None]:
    """Two-sided two-proportion z-test with the pooled standard error: ``{"z", "p_value"}`` (None when a group
    is empty or both rates are 0 or 1)."""
    if not n1 or not n2:
        return {"z": None, "p_value": None}
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return {"z": None, "p_value": None}
    z = (x1 / n1 - x2 / n2) / se
    return {"z": z, "p_value": 2 * (1 - _Z.cdf(abs(z)))}


def sample_size(base: float, min_effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Recipients needed per variant to detect ``min_effect`` over ``base`` (see the module's formula)."""
    p1, p2 = base, min(base + min_effect, 0.9999)
    mean = (p1 + p2) / 2
    a, b = _Z.inv_cdf(1 - alpha / 2), _Z.inv_cdf(power)
    n = (a * math.sqrt(2 * mean * (1 - mean)) + b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
    return math.ceil(n)


def needed(ctx: ServiceContext) -> int:
    base = float(ctx.settings.get("MARKETING_AB_BASE_RATE") or 0.05)
    effect = float(ctx.settings.get("MARKETING_AB_MIN_EFFECT") or 0.02)
    return sample_size(base, effect)


def variant_stats(ctx: ServiceContext, campaign: Campaign) -> list[dict[str, Any]]:
    """Per variant: sent, how many reached the metric, the rate."""
    variants = list(ctx.session.scalars(select(Variant).where(Variant.campaign_id == campaign.id).order_by(Variant.label)))
    sent = dict(ctx.session.execute(select(Recipient.variant_id, func.count()).where(
        Recipient.campaign_id == campaign.id, Recipient.status == "sent").group_by(Recipient.variant_id)).all())
    hits = dict(ctx.session.execute(
        select(Recipient.variant_id, func.count(func.distinct(MarketingEvent.recipient_id)))
        .join(MarketingEvent, MarketingEvent.recipient_id == Recipient.id)
        .where(Recipient.campaign_id == campaign.id, MarketingEvent.kind == campaign.ab_metric)
        .group_by(Recipient.variant_id)).all())
    return [{"id": v.id, "label": v.label, "template_id": v.template_id, "sent": int(sent.get(v.id, 0)),
             "hits": int(hits.get(v.id, 0)),
             "rate": (hits.get(v.id, 0) / sent[v.id]) if sent.get(v.id) else None} for v in variants]


def report(ctx: ServiceContext, campaign: Campaign) -> dict[str, Any] | None:
    """The test as it stands: each variant against the best one, the sample size needed, the winner."""
    stats = variant_stats(ctx, campaign)
    if not stats:
        return None
    best = max(stats, key=lambda s: (s["rate"] or 0, -ord(s["label"][0])))
    for s in stats:
        s["against_best"] = None if s is best else z_test(best["hits"], best["sent"], s["hits"], s["sent"])
    p_values = [s["against_best"]["p_value"] for s in stats if s["against_best"]]
    return {"metric": campaign.ab_metric, "test": "two-proportion z-test, two-sided, pooled", "variants": stats,
            "needed_per_variant": needed(ctx), "best": best["label"],
            "significant": bool(p_values) and all(p is not None and p < 0.05 for p in p_values),
            "winner": next((s["label"] for s in stats if s["id"] == campaign.winner_variant_id), None),
            "decided_at": campaign.ab_decided_at}


def decide_if_due(ctx: ServiceContext, campaign: Campaign, now: dt.datetime | None = None) -> bool:
    """Choose the winner once ``ab_hours`` have passed since the start and send it to those waiting."""
    if campaign.ab_decided_at is not None or campaign.started_at is None:
        return False
    if (now or utcnow()) < campaign.started_at + dt.timedelta(hours=campaign.ab_hours):
        return False
    waiting = ctx.session.scalar(select(func.count()).where(Recipient.campaign_id == campaign.id,
                                                            Recipient.status == "waiting"))
    result = report(ctx, campaign)
    if result is None:
        return False
    winner = next(s for s in result["variants"] if s["label"] == result["best"])
    with unit_of_work(ctx):
        campaign.winner_variant_id, campaign.ab_decided_at = winner["id"], now or utcnow()
        ctx.session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "waiting")
                            .values(status="pending", variant_id=winner["id"])
                            .execution_options(synchronize_session=False))
        record_change(ctx, "marketing_campaign", "winner_chosen", campaign.id, {},
                      data={"winner": winner["label"], "significant": result["significant"], "waiting": waiting,
                            "rates": {s["label"]: s["rate"] for s in result["variants"]}})
    return True
