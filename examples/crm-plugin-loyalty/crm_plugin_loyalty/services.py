"""Loyalty services: the balance of a customer and awarding points, usable without Flask.

Like the core's services they take a ``ServiceContext``, check permissions and record rules
through it, and write the row, its audit entry and its event in one unit of work.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from crmcore.errors import ValidationError
from crmcore.events import record_change, record_changes
from crmcore.i18n import _
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from crmcore.models import Customer

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


_QUEUE = "loyalty_awards"  # session.info: the awards of events, written together when the session commits


def award_for_event(ctx: ServiceContext, customer_id: int, points: int, reason: str, event_id: str) -> None:
    """Award points for an event, in the caller's unit of work: queued on ``ctx.session`` and written with the
    session's other changes when it commits, the queue's awards at once (one query per table, not a flush and
    a commit per event: an import of thousands of interactions stays fast). Idempotent per ``event_id``."""
    if not sa_event.contains(ctx.session, "before_commit", _write_queued):
        sa_event.listen(ctx.session, "before_commit", _write_queued)
        sa_event.listen(ctx.session, "after_soft_rollback", _drop_queued)
    ctx.session.info.setdefault(_QUEUE, []).append((ctx, customer_id, points, reason, event_id))


def _write_queued(session: Any) -> None:
    """The queued awards, written before the (outermost) commit: paid once per event, to live customers only."""
    if session.in_nested_transaction() or not session.info.get(_QUEUE):
        return  # a savepoint released (each listener of a dispatch runs in one): the commit comes later
    queue = session.info.pop(_QUEUE)
    ctx = queue[0][0]
    ctx.require("loyalty.write")
    paid = set(session.scalars(select(LoyaltyPoints.event_id).where(
        LoyaltyPoints.event_id.in_({q[4] for q in queue}))))
    live = set(session.scalars(select(Customer.id).where(Customer.id.in_({q[1] for q in queue}),
                                                          Customer.deleted_at.is_(None))))
    entries = []
    for _ctx, customer_id, points, reason, event_id in queue:
        if event_id in paid or customer_id not in live:
            continue
        paid.add(event_id)
        entry = LoyaltyPoints(customer_id=customer_id, points=points, reason=reason.strip()[:255], event_id=event_id)
        changes = {"points": [None, points], "reason": [None, entry.reason]}
        ctx.hook.crm_before_save(ctx=ctx, entity="loyalty_points", obj=entry, changes=changes, created=True)
        session.add(entry)
        entries.append((entry, changes))
    if entries:
        session.flush()  # one INSERT for the queue
        record_changes(ctx, [("loyalty_points", "created", e.id, changes, {"customer_id": e.customer_id},
                              "loyalty.points.awarded") for e, changes in entries])


def _drop_queued(session: Any, previous_transaction: Any) -> None:
    """Rolled back: the queued awards go with the events that queued them."""
    if not session.in_transaction():
        session.info.pop(_QUEUE, None)
