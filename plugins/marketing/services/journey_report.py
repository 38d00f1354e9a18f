"""A journey's entries through the API, its enrolments (paged, with names) and what each step did."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.runtime import ServiceContext

from ..models_journeys import Enrolment, JourneyStep
from .journeys import get_journey


def enter_customers(ctx: ServiceContext, campaign_id: int, customer_ids: list[int]) -> dict[str, Any]:
    """``POST .../enter``: put customers (by id, those the actor may see) into a running journey."""
    from crmcore.models import Customer
    from crmcore.services.access import scope_customers

    from .triggers import enter

    ctx.require("marketing.send")
    get_journey(ctx, campaign_id)
    visible = list(ctx.session.scalars(scope_customers(ctx, select(Customer.id).where(Customer.id.in_(customer_ids)))))
    out = enter(ctx, campaign_id, visible, "api")
    out["not_allowed"] += len(set(customer_ids) - set(visible))
    return out


def list_enrolments(ctx: ServiceContext, campaign_id: int, page: int = 1, page_size: int = 25,
                    state: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The journey's enrolments, newest first, with the customer's and the current step's names."""
    from crmcore.models import Customer

    get_journey(ctx, campaign_id)
    where = [Enrolment.campaign_id == campaign_id] + ([Enrolment.state == state] if state else [])
    total = ctx.session.scalar(select(func.count(Enrolment.id)).where(*where)) or 0
    rows = ctx.session.execute(
        select(Enrolment, Customer.name, JourneyStep.name).join(Customer, Customer.id == Enrolment.customer_id)
        .outerjoin(JourneyStep, JourneyStep.id == Enrolment.step_id).where(*where)
        .order_by(Enrolment.id.desc()).offset((page - 1) * page_size).limit(page_size)).all()
    return [{"id": e.id, "customer_id": e.customer_id, "customer": customer, "entry": e.entry, "version": e.version,
             "step_id": e.step_id, "step": step, "state": e.state, "next_run_at": e.next_run_at,
             "entered_at": e.entered_at, "left_at": e.left_at} for e, customer, step in rows], total


def step_counts(ctx: ServiceContext, campaign_id: int) -> dict[str, Any]:
    """Per step (every version): what it did (sent, skipped, yes/no, a branch...) and how many are at it now;
    and the enrolments by state."""
    from ..models_journeys import StepLog

    get_journey(ctx, campaign_id)
    steps = list(ctx.session.scalars(select(JourneyStep).where(JourneyStep.campaign_id == campaign_id)
                                     .order_by(JourneyStep.version, JourneyStep.position, JourneyStep.id)))
    outcomes: dict[int, dict[str, int]] = {s.id: {} for s in steps}
    for step_id, outcome, n in ctx.session.execute(
            select(StepLog.step_id, StepLog.outcome, func.count()).join(JourneyStep, JourneyStep.id == StepLog.step_id)
            .where(JourneyStep.campaign_id == campaign_id).group_by(StepLog.step_id, StepLog.outcome)):
        outcomes[step_id][outcome] = int(n)
    here = dict(ctx.session.execute(select(Enrolment.step_id, func.count()).where(
        Enrolment.campaign_id == campaign_id, Enrolment.state == "active").group_by(Enrolment.step_id)).all())
    states = dict(ctx.session.execute(select(Enrolment.state, func.count()).where(
        Enrolment.campaign_id == campaign_id).group_by(Enrolment.state)).all())
    return {"states": {k: int(v) for k, v in states.items()},
            "steps": [{"id": s.id, "name": s.name, "kind": s.kind, "version": s.version, "outcomes": outcomes[s.id],
                       "now": int(here.get(s.id, 0))} for s in steps]}


def history(ctx: ServiceContext, campaign_id: int, limit: int = 30) -> list[dict[str, Any]]:
    """The journey's history, newest first: what changed (created, trigger, a step saved or removed, a new
    version of the steps, started, paused, resumed), when and by whom (the user's name)."""
    from crmcore.models import AuditLog, User

    get_journey(ctx, campaign_id)
    rows = ctx.session.execute(select(AuditLog, User.full_name, User.username)
                               .outerjoin(User, User.id == AuditLog.actor_id)
                               .where(AuditLog.entity == "marketing_campaign", AuditLog.entity_id == str(campaign_id))
                               .order_by(AuditLog.id.desc()).limit(limit)).all()
    out = []
    for entry, full_name, username in rows:
        changes, data = entry.changes or {}, entry.data or {}
        if entry.action != "updated":
            what = entry.action  # created, started, paused, resumed
        elif "version" in changes:
            what = "new_version"
        elif data.get("part") == "trigger":
            what = "trigger"
        elif "step" in changes:
            what = "step_removed"
        else:
            what = "step_saved" if data.get("step") else "updated"
        step = data.get("step") or (changes.get("step") or [None])[0]
        version = (changes.get("version") or [None, None])[1] or data.get("version")
        out.append({"at": entry.at, "by": full_name or username, "what": what, "step": step, "version": version})
    return out
