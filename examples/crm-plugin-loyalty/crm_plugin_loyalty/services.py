"""Loyalty services: the balance of a customer and awarding points, usable without Flask.

Like the core's services they take a ``ServiceContext``, check permissions and record rules
through it, and write the row, its audit entry and its event in one unit of work.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.errors import ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from .models import LoyaltyPoints

TIERS = (("gold", 100), ("silver", 20), ("bronze", 0))  # highest first: (tier, points needed)
MAX_AWARD = 10_000


def tier_for(points: int) -> str:
    """The tier a balance reaches; ``none`` below every tier (a balance deducted below 0)."""
    return next((name for name, needed in TIERS if points >= needed), "none")


def points_of(ctx: ServiceContext, customer_id: int) -> int:
    """The balance, without permission checks (for code that already checked them)."""
    total = ctx.session.scalar(select(func.coalesce(func.sum(LoyaltyPoints.points), 0))
                               .where(LoyaltyPoints.customer_id == customer_id))
    return int(total or 0)


def balance(ctx: ServiceContext, customer_id: int, *, recent: int = 20) -> dict[str, Any]:
    """The customer's points, tier and latest ledger entries; needs ``loyalty.read``."""
    ctx.require("loyalty.read")
    customer = get_customer(ctx, customer_id)  # customer.read and the record rules (own / team / all)
    points = points_of(ctx, customer.id)
    entries = ctx.session.scalars(select(LoyaltyPoints).where(LoyaltyPoints.customer_id == customer.id)
                                  .order_by(LoyaltyPoints.id.desc()).limit(recent))
    return {"customer_id": customer.id, "points": points, "tier": tier_for(points), "entries": list(entries)}


def award(ctx: ServiceContext, customer_id: int, points: int, reason: str, *, event_id: str | None = None) -> LoyaltyPoints | None:
    """Add ``points`` (negative to deduct) to the customer; needs ``loyalty.write``.

    With ``event_id`` the award is idempotent: the same event never pays twice, and the
    second call returns None.
    """
    ctx.require("loyalty.write")
    customer = get_customer(ctx, customer_id)
    errors: dict[str, list[str]] = {}
    if not isinstance(points, int) or isinstance(points, bool) or points == 0 or abs(points) > MAX_AWARD:
        errors["points"] = [f"A whole number between -{MAX_AWARD} and {MAX_AWARD}, not 0."]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the points are given.")]
    if errors:
        raise ValidationError(_("The award is not valid."), errors=errors)
    if event_id and ctx.session.scalar(select(LoyaltyPoints.id).where(LoyaltyPoints.event_id == event_id)):
        return None
    with unit_of_work(ctx):
        entry = LoyaltyPoints(customer_id=customer.id, points=points, reason=reason.strip()[:255], event_id=event_id)
        ctx.session.add(entry)
        changes = {"points": [None, points], "reason": [None, entry.reason]}
        ctx.hook.crm_before_save(ctx=ctx, entity="loyalty_points", obj=entry, changes=changes, created=True)
        ctx.session.flush()
        record_change(ctx, "loyalty_points", "created", entry.id, changes, data={"customer_id": customer.id},
                      event_name="loyalty.points.awarded")
    return entry
