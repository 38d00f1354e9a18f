"""Activities: tasks, calls and visits, planned then done, linked to a customer and an opportunity.

A done activity is also logged on the core timeline (an ``Interaction`` pointing back to it);
a done visit records its outcome (``success`` or ``failure``) for the visit success rate.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.errors import Conflict, NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.customers import check_version, live_customer
from crmcore.services.interactions import log_interaction
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import VISIT_OUTCOMES, Activity, Opportunity
from ..schemas.activities import ActivitySchema, ActivityUpdateSchema
from . import access
from .common import INVALID, as_time, check_contact, check_user, moment, one_of, raise_if
from .status_words import status_word

FIELDS = ("kind", "subject", "notes", "customer_id", "opportunity_id", "contact_id", "owner_id", "due_at")
_CREATE = ActivitySchema()
_UPDATE = ActivityUpdateSchema()
CHANNEL = {"call": "phone", "visit": "visit", "task": "other"}


def get_activity(ctx: ServiceContext, activity_id: int, *, permission: str = "sales.activity.read") -> Activity:
    ctx.require(permission)
    activity = ctx.session.get(Activity, activity_id)
    if activity is None:
        raise NotFound(_("Activity %(id)s does not exist.", id=activity_id))
    access.check_owned(ctx, activity.owner_id, "activity")
    return activity


def list_activities(ctx: ServiceContext, *, customer_id: int | None = None, opportunity_id: int | None = None,
                    kind: str | None = None, status: str | None = None, owner_id: int | None = None,
                    due_before: dt.datetime | None = None, page: int = 1,
                    page_size: int = 25) -> tuple[list[Activity], int]:
    """Visible activities; planned ones by due time first, then the done ones newest first."""
    ctx.require("sales.activity.read")
    stmt = access.scope_owned(ctx, select(Activity), Activity.owner_id)
    for col, value in ((Activity.customer_id, customer_id), (Activity.opportunity_id, opportunity_id),
                       (Activity.kind, kind), (Activity.status, status), (Activity.owner_id, owner_id)):
        if value is not None:
            stmt = stmt.where(col == value)
    if due_before is not None:
        stmt = stmt.where(Activity.due_at < due_before)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    stmt = stmt.order_by(Activity.status != "planned", Activity.due_at.is_(None), Activity.due_at,
                         Activity.done_at.desc(), Activity.id.desc())
    return list(ctx.session.scalars(stmt.offset((page - 1) * page_size).limit(page_size))), int(total or 0)


def validate_activity(ctx: ServiceContext, data: dict[str, Any], existing: Activity | None) -> dict[str, Any]:
    """An activity's input checked and converted, the one validation of the API and the admin:
    ``ActivitySchema`` for a new one (``ActivityUpdateSchema``: what may change later), then a new one
    planned or done, the same customer, an opportunity and a contact of that customer, an owner who exists."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if existing is not None and data.get("customer_id", existing.customer_id) != existing.customer_id:
            errors["customer_id"] = [_("An activity cannot move to another customer.")]
        if existing is None and "status" in values:
            one_of(values["status"], ("planned", "done"), "status", errors)
        customer_id = values.get("customer_id", existing.customer_id if existing else None)
        if values.get("opportunity_id") is not None:
            opp = ctx.session.get(Opportunity, values["opportunity_id"])
            if opp is None or opp.customer_id != customer_id:
                errors["opportunity_id"] = [_("This opportunity is not the customer's.")]
        check_contact(ctx, values.get("contact_id"), customer_id, errors)
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        return errors

    schema = _CREATE if existing is None else _UPDATE
    data = load(schema, data, partial=existing is not None, message=INVALID["activity"], check=check)
    if data.get("due_at") is not None:
        data["due_at"] = as_time(data["due_at"], "due_at", {})  # aware: kept in UTC
    return data


def create_activity(ctx: ServiceContext, data: dict[str, Any], *, at: dt.datetime | None = None) -> Activity:
    """Plan an activity; with ``status: done`` (and ``outcome`` for a visit) it is done at once."""
    ctx.require("sales.activity.write")
    data = validate_activity(ctx, data, None)
    live_customer(ctx, data["customer_id"])
    if data.get("opportunity_id") is not None:
        access.check_owned(ctx, ctx.session.get(Opportunity, data["opportunity_id"]).owner_id, "opportunity")
    if "owner_id" not in data and ctx.actor is not None:
        data["owner_id"] = ctx.actor.id
    access.may_assign(ctx, data.get("owner_id"), "activity")
    done = data.get("status") == "done"
    with unit_of_work(ctx):
        activity = Activity(status="planned")
        changes = apply_changes(activity, data, FIELDS)
        ctx.session.add(activity)
        ctx.hook.crm_before_save(ctx=ctx, entity="activity", obj=activity, changes=changes, created=True)
        ctx.session.flush()
        record_change(ctx, "activity", "created", activity.id, changes, event_name="sales.activity.created",
                      data={"kind": activity.kind, "customer_id": activity.customer_id})
        if done:
            complete_activity(ctx, activity.id, {k: data[k] for k in ("outcome", "outcome_note", "done_at") if k in data},
                              at=at)
    return activity


def update_activity(ctx: ServiceContext, activity_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                    if_match: bool = False) -> Activity:
    activity = get_activity(ctx, activity_id, permission="sales.activity.write")
    check_version(activity, expected_version, if_match)
    if activity.status != "planned":
        raise Conflict(_("The activity is %(status)s; it can no longer be changed.",
                         status=status_word(activity.status)))
    data = validate_activity(ctx, data, activity)
    if "owner_id" in data and data["owner_id"] != activity.owner_id:
        access.may_assign(ctx, data["owner_id"], "activity")
    with unit_of_work(ctx):
        changes = apply_changes(activity, data, FIELDS)
        if changes:
            ctx.hook.crm_before_save(ctx=ctx, entity="activity", obj=activity, changes=changes, created=False)
            ctx.session.flush()
            record_change(ctx, "activity", "updated", activity.id, changes, event_name="sales.activity.updated")
    return activity


def complete_activity(ctx: ServiceContext, activity_id: int, data: dict[str, Any] | None = None, *,
                      at: dt.datetime | None = None) -> Activity:
    """Mark an activity done (``done_at`` defaults to now) and log it on the customer's timeline.

    A visit needs an ``outcome``: ``success`` or ``failure``.
    """
    data = dict(data or {})
    activity = get_activity(ctx, activity_id, permission="sales.activity.write")
    if activity.status != "planned":
        raise Conflict(_("The activity is already %(status)s.", status=status_word(activity.status)))
    errors: dict[str, list[str]] = {}
    done_at = as_time(data.get("done_at"), "done_at", errors) or moment(at)
    outcome = data.get("outcome")
    if activity.kind == "visit":
        one_of(outcome, VISIT_OUTCOMES, "outcome", errors)
    elif outcome is not None:
        one_of(outcome, VISIT_OUTCOMES, "outcome", errors)
    raise_if(errors, "activity")
    with unit_of_work(ctx):
        changes = apply_changes(activity, {"status": "done", "done_at": done_at, "outcome": outcome,
                                           "outcome_note": data.get("outcome_note")},
                                ("status", "done_at", "outcome", "outcome_note"))
        body = "\n".join(p for p in (activity.notes, data.get("outcome_note")) if p) or None
        interaction = log_interaction(ctx, activity.customer_id, {
            "channel": CHANNEL[activity.kind], "direction": "outbound" if activity.kind != "task" else "internal",
            "subject": activity.subject, "body": body, "occurred_at": done_at, "contact_id": activity.contact_id,
            "entity_type": "sales_activity", "entity_id": str(activity.id), "source": "sales",
            "data": {"kind": activity.kind, "outcome": outcome, "opportunity_id": activity.opportunity_id}})
        activity.interaction_id = interaction.id
        ctx.session.flush()
        record_change(ctx, "activity", "updated", activity.id, changes, event_name="sales.activity.done",
                      data={"kind": activity.kind, "outcome": outcome, "customer_id": activity.customer_id})
    return activity


def cancel_activity(ctx: ServiceContext, activity_id: int) -> Activity:
    activity = get_activity(ctx, activity_id, permission="sales.activity.write")
    if activity.status != "planned":
        raise Conflict(_("The activity is already %(status)s.", status=status_word(activity.status)))
    with unit_of_work(ctx):
        changes = apply_changes(activity, {"status": "cancelled"}, ("status",))
        ctx.session.flush()
        record_change(ctx, "activity", "updated", activity.id, changes, event_name="sales.activity.cancelled")
    return activity

