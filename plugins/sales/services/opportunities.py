"""Opportunities: create, update, move between stages (recording the time spent in each), list."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select

from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.normalize import LIKE_ESCAPE, like_terms
from crmcore.services.customers import check_version, get_customer, live_customer, update_customer
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import Opportunity, Stage, StageHistory
from . import access
from ..schemas.pipeline import OpportunitySchema, OpportunityUpdateSchema
from .common import INVALID, check_contact, check_user, moment
from .money import cents, parse_amount
from .stages import first_open_stage, get_stage

FIELDS = ("name", "customer_id", "contact_id", "owner_id", "amount", "currency", "expected_close_date",
          "probability", "lost_reason", "competitor", "source_channel", "notes", "lead_id")
_SCHEMA = OpportunitySchema()
_UPDATE = OpportunityUpdateSchema()
SORTABLE = {"id", "name", "amount", "expected_close_date", "created_at", "updated_at", "probability"}


def get_opportunity(ctx: ServiceContext, opportunity_id: int, *, permission: str = "sales.opportunity.read") -> Opportunity:
    """An opportunity the actor may access, or NotFound / PermissionDenied."""
    ctx.require(permission)
    opp = ctx.session.get(Opportunity, opportunity_id)
    if opp is None:
        raise NotFound(_("Opportunity %(id)s does not exist.", id=opportunity_id))
    access.check_owned(ctx, opp.owner_id, "opportunity")
    return opp


def list_opportunities(ctx: ServiceContext, *, stage_id: int | None = None, status: str | None = None,
                       owner_id: int | None = None, customer_id: int | None = None, q: str | None = None,
                       sort: str = "-updated_at", page: int = 1, page_size: int = 25) -> tuple[list[Opportunity], int]:
    """The opportunities the actor may see, filtered; ``(page, total)``."""
    ctx.require("sales.opportunity.read")
    stmt = access.scope_owned(ctx, select(Opportunity), Opportunity.owner_id)
    if stage_id is not None:
        stmt = stmt.where(Opportunity.stage_id == stage_id)
    if status:
        stmt = stmt.where(Opportunity.status == status)
    if owner_id is not None:
        stmt = stmt.where(Opportunity.owner_id == owner_id)
    if customer_id is not None:
        stmt = stmt.where(Opportunity.customer_id == customer_id)
    if q:
        stmt = stmt.where(or_(*[func.lower(Opportunity.name).like(like, escape=LIKE_ESCAPE) for like in like_terms(q)]))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    key = sort.lstrip("-+")
    if key not in SORTABLE:
        raise ValidationError(_("Unknown sort key."), errors={
            "sort": [_("Sort by one of: %(choices)s.", choices=", ".join(sorted(SORTABLE)))]})
    col = getattr(Opportunity, key)
    stmt = stmt.order_by(col.desc() if sort.startswith("-") else col.asc(), Opportunity.id.desc())
    return list(ctx.session.scalars(stmt.offset((page - 1) * page_size).limit(page_size)).unique()), int(total or 0)


def validate_opportunity(ctx: ServiceContext, data: dict[str, Any], existing: Opportunity | None) -> dict[str, Any]:
    """An opportunity's input checked and converted, the one validation every path shares (API, admin,
    lead qualification, stage moves): ``OpportunitySchema`` (all fields for a new one, those given for
    ``existing``), then a customer that stays the same, an owner that exists, a contact of the customer.
    An empty amount is 0; an empty probability is the stage's."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if existing is not None and "customer_id" in values and values["customer_id"] != existing.customer_id:
            errors["customer_id"] = [_("An opportunity cannot move to another customer; merge the customers instead.")]
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        customer_id = values.get("customer_id", existing.customer_id if existing else None)
        check_contact(ctx, values.get("contact_id"), customer_id, errors)
        return errors

    schema = _SCHEMA if existing is None else _UPDATE
    data = load(schema, data, partial=existing is not None, message=INVALID["opportunity"], check=check)
    if "amount" in data and data["amount"] is None:
        data["amount"] = parse_amount(0, "amount", {})
    if "probability" in data and data["probability"] is None:
        data.pop("probability")
    return data


def _enter(ctx: ServiceContext, opp: Opportunity, stage: Stage, at: dt.datetime) -> StageHistory:
    row = StageHistory(opportunity_id=opp.id, stage_id=stage.id, entered_at=at, user_id=getattr(ctx.actor, "id", None))
    ctx.session.add(row)
    opp.stage_entered_at = at
    return row


def _close_current(ctx: ServiceContext, opp: Opportunity, at: dt.datetime) -> StageHistory | None:
    row = ctx.session.scalar(select(StageHistory).where(StageHistory.opportunity_id == opp.id,
                                                        StageHistory.left_at.is_(None))
                             .order_by(StageHistory.entered_at.desc(), StageHistory.id.desc()))
    if row is not None:
        if at < row.entered_at:
            raise ValidationError(_("The move is earlier than the opportunity entered its current stage."),
                                  errors={"at": [_("Use a time after %(time)s.", time=row.entered_at.isoformat())]})
        row.left_at = at
        row.duration_seconds = int((at - row.entered_at).total_seconds())
    return row


def stage_values(stage: Stage, at: dt.datetime, created_at: dt.datetime, lost_reason: str | None,
                 probability_given: bool) -> dict[str, Any]:
    """What entering ``stage`` at ``at`` sets: stage, status, probability (the stage's unless given), close time and
    cycle time; a lost stage needs a ``lost_reason`` (``ValidationError``)."""
    if stage.is_lost and not lost_reason:
        raise ValidationError(_("Say why the opportunity was lost."),
                              errors={"lost_reason": [_("Required when lost.")]})
    values: dict[str, Any] = {"stage_id": stage.id, "status": "won" if stage.is_won else "lost" if stage.is_lost
                              else "open"}
    if stage.is_won or stage.is_lost:
        values["probability"] = 100 if stage.is_won else 0
        values["closed_at"] = at
        values["cycle_seconds"] = max(0, int((at - created_at).total_seconds()))
    else:
        if not probability_given:
            values["probability"] = stage.probability
        values["closed_at"] = None
        values["cycle_seconds"] = None
    return values


def _apply_stage(ctx: ServiceContext, opp: Opportunity, stage: Stage, at: dt.datetime, changes: dict[str, list[Any]],
                 probability_given: bool) -> None:
    """Set stage, status, probability, close time and cycle time for ``stage``."""
    updates = stage_values(stage, at, opp.created_at, opp.lost_reason, probability_given)
    changes.update(apply_changes(opp, updates, tuple(updates)))
    opp.stage = stage


def create_opportunity(ctx: ServiceContext, data: dict[str, Any], *, at: dt.datetime | None = None) -> Opportunity:
    """Create an opportunity in ``stage_id`` (default: the first open stage); owner defaults to the actor."""
    ctx.require("sales.opportunity.write")
    data = validate_opportunity(ctx, data, None)
    customer = live_customer(ctx, data["customer_id"])
    if "owner_id" not in data and ctx.actor is not None:
        data["owner_id"] = ctx.actor.id
    data.setdefault("owner_id", customer.owner_id)
    access.may_assign(ctx, data.get("owner_id"), "opportunity")
    stage = get_stage(ctx, data["stage_id"]) if data.get("stage_id") else first_open_stage(ctx)
    now = moment(at)
    with unit_of_work(ctx):
        opp = Opportunity(currency=customer.currency or ctx.settings["DEFAULT_CURRENCY"], created_at=now,
                          amount=parse_amount(0, "amount", {}), probability=stage.probability, stage_id=stage.id)
        changes = apply_changes(opp, data, FIELDS)
        ctx.session.add(opp)
        ctx.session.flush()
        _apply_stage(ctx, opp, stage, now, changes, "probability" in data)
        _enter(ctx, opp, stage, now)
        ctx.hook.crm_before_save(ctx=ctx, entity="opportunity", obj=opp, changes=changes, created=True)
        ctx.session.flush()
        record_change(ctx, "opportunity", "created", opp.id, changes, event_name="sales.opportunity.created",
                      data={"customer_id": opp.customer_id, "stage": stage.name})
    return opp


def update_opportunity(ctx: ServiceContext, opportunity_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                       if_match: bool = False, at: dt.datetime | None = None) -> Opportunity:
    """Change fields; a ``stage_id`` in ``data`` moves the opportunity (see :func:`move_stage`)."""
    opp = get_opportunity(ctx, opportunity_id, permission="sales.opportunity.write")
    check_version(opp, expected_version, if_match)
    data = validate_opportunity(ctx, data, opp)
    if "owner_id" in data and data["owner_id"] != opp.owner_id:
        access.may_assign(ctx, data["owner_id"], "opportunity")
    stage_id = data.pop("stage_id", None)
    if stage_id is not None and stage_id != opp.stage_id:
        return move_stage(ctx, opp.id, stage_id, at=at, **{k: data[k] for k in data if k in FIELDS})
    with unit_of_work(ctx):
        changes = apply_changes(opp, data, FIELDS)
        if not changes:
            return opp
        ctx.hook.crm_before_save(ctx=ctx, entity="opportunity", obj=opp, changes=changes, created=False)
        ctx.session.flush()
        record_change(ctx, "opportunity", "updated", opp.id, changes, event_name="sales.opportunity.updated")
    return opp


def move_stage(ctx: ServiceContext, opportunity_id: int, stage_id: int, *, at: dt.datetime | None = None,
               expected_version: int | None = None, if_match: bool = False, **fields: Any) -> Opportunity:
    """Move to another stage: the stay in the old stage ends (its duration is kept), one in the new begins.

    Won and lost stages close the opportunity (probability 100 / 0, ``closed_at``, cycle time);
    a lost stage needs a ``lost_reason``. Moving a closed opportunity to an open stage reopens it.
    The event is ``sales.opportunity.won``, ``.lost`` or ``.stage_changed``.
    """
    opp = get_opportunity(ctx, opportunity_id, permission="sales.opportunity.write")
    check_version(opp, expected_version, if_match)
    fields = validate_opportunity(ctx, fields, opp) if fields else {}
    stage = get_stage(ctx, stage_id)
    if not stage.active:
        raise ValidationError(_("This stage is no longer used."), errors={"stage_id": [_("Choose an active stage.")]})
    if stage.id == opp.stage_id:
        raise ValidationError(_("The opportunity is already in this stage."),
                              errors={"stage_id": [_("Choose another stage.")]})
    now = moment(at)
    before = opp.stage
    with unit_of_work(ctx):
        changes = apply_changes(opp, fields, FIELDS)
        _close_current(ctx, opp, now)
        _apply_stage(ctx, opp, stage, now, changes, "probability" in fields)
        changes["stage"] = [before.name, stage.name]
        _enter(ctx, opp, stage, now)
        ctx.hook.crm_before_save(ctx=ctx, entity="opportunity", obj=opp, changes=changes, created=False)
        ctx.session.flush()
        name = "won" if stage.is_won else "lost" if stage.is_lost else "stage_changed"
        record_change(ctx, "opportunity", "updated", opp.id, changes, event_name=f"sales.opportunity.{name}",
                      data={"from_stage_id": before.id, "to_stage_id": stage.id, "customer_id": opp.customer_id})
        if stage.is_won:
            customer = get_customer(ctx, opp.customer_id)
            if customer.stage in ("lead", "prospect") and ctx.can("customer.write"):
                update_customer(ctx, customer.id, {"stage": "customer"})
    return opp


def stage_history(ctx: ServiceContext, opportunity_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Each stay in a stage with its duration (the current one up to ``now``), and totals per stage."""
    opp = get_opportunity(ctx, opportunity_id)
    now = moment(now)
    rows = ctx.session.scalars(select(StageHistory).where(StageHistory.opportunity_id == opp.id)
                               .order_by(StageHistory.entered_at, StageHistory.id)).all()
    stays, totals = [], {}
    for row in rows:
        seconds = row.duration_seconds if row.left_at is not None else int((now - row.entered_at).total_seconds())
        stays.append({"stage_id": row.stage_id, "stage": row.stage.name, "entered_at": row.entered_at,
                      "left_at": row.left_at, "seconds": seconds, "current": row.left_at is None})
        total = totals.setdefault(row.stage_id, {"stage_id": row.stage_id, "stage": row.stage.name, "seconds": 0,
                                                 "sequence": row.stage.sequence})
        total["seconds"] += seconds
    per_stage = sorted(totals.values(), key=lambda t: (t.pop("sequence"), t["stage_id"]))
    return {"opportunity_id": opp.id, "stays": stays, "per_stage": per_stage}


def board(ctx: ServiceContext, *, owner_id: int | None = None, limit_per_stage: int = 50) -> list[dict[str, Any]]:
    """The pipeline board: every active stage with the visible opportunities in it, their count and
    amount per currency."""
    from .stages import list_stages

    stages = list_stages(ctx)
    base = access.scope_owned(ctx, select(Opportunity), Opportunity.owner_id)
    if owner_id is not None:
        base = base.where(Opportunity.owner_id == owner_id)
    sub = base.subquery()
    counts: dict[int, int] = {}
    totals: dict[int, dict[str, Any]] = {}
    for sid, currency, n, total in ctx.session.execute(
            select(sub.c.stage_id, sub.c.currency, func.count(), func.sum(sub.c.amount))
            .group_by(sub.c.stage_id, sub.c.currency).order_by(sub.c.currency)):
        counts[sid] = counts.get(sid, 0) + n
        totals.setdefault(sid, {})[currency] = cents(total)
    out = []
    for stage in stages:
        items = ctx.session.scalars(base.where(Opportunity.stage_id == stage.id)
                                    .order_by(Opportunity.expected_close_date.is_(None), Opportunity.expected_close_date,
                                              Opportunity.id).limit(limit_per_stage)).unique().all()
        out.append({"stage": stage, "count": counts.get(stage.id, 0), "totals": totals.get(stage.id, {}),
                    "opportunities": list(items)})
    return out


# The opportunity's one validation and its stage rules, for the importer (which builds many at once).
clean = validate_opportunity
apply_stage = _apply_stage
