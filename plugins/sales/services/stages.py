"""Opportunity stages as data: sequence, probability and won/lost flags, editable by admins."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import Opportunity, Stage, StageHistory
from ..schemas.pipeline import StageSchema

FIELDS = ("name", "sequence", "probability", "is_won", "is_lost", "active")
_SCHEMA = StageSchema()
# name, sequence, probability, won, lost: visit -> proposal -> contract, as the sources describe it
DEFAULT_STAGES = [
    ("Visit", 10, 10, False, False),
    ("Proposal", 20, 30, False, False),
    ("Negotiation", 30, 60, False, False),
    ("Contract", 40, 80, False, False),
    ("Won", 90, 100, True, False),
    ("Lost", 99, 0, False, True),
]


def ensure_stages(ctx: ServiceContext) -> None:
    """Create the default stages when none are defined yet (first use, fresh databases)."""
    if ctx.session.scalar(select(func.count(Stage.id))):
        return
    with unit_of_work(ctx):
        for name, seq, prob, won, lost in DEFAULT_STAGES:
            ctx.session.add(Stage(name=name, sequence=seq, probability=prob, is_won=won, is_lost=lost))


def list_stages(ctx: ServiceContext, include_inactive: bool = False) -> list[Stage]:
    """The stages in pipeline order."""
    ctx.require("sales.opportunity.read")
    ensure_stages(ctx)
    stmt = select(Stage).order_by(Stage.sequence, Stage.id)
    if not include_inactive:
        stmt = stmt.where(Stage.active.is_(True))
    return list(ctx.session.scalars(stmt))


def get_stage(ctx: ServiceContext, stage_id: int) -> Stage:
    stage = ctx.session.get(Stage, stage_id)
    if stage is None:
        raise NotFound(_("Stage %(id)s does not exist.", id=stage_id))
    return stage


def first_open_stage(ctx: ServiceContext) -> Stage:
    ensure_stages(ctx)
    stage = ctx.session.scalar(select(Stage).where(Stage.active.is_(True), Stage.is_won.is_(False),
                                                   Stage.is_lost.is_(False)).order_by(Stage.sequence, Stage.id))
    if stage is None:
        raise ValidationError(_("No open stage is defined."), errors={"stage_id": [_("Define an open stage first.")]})
    return stage


def validate_stage(ctx: ServiceContext, data: dict[str, Any], existing: Stage | None) -> dict[str, Any]:
    """A stage's input checked by ``StageSchema`` (the API and the admin share it), then a name no other
    stage has and not both won and lost. A new stage's probability defaults to 100 won, 0 lost, 10 open."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("name"):
            other = ctx.session.scalar(select(Stage).where(Stage.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("A stage named '%(name)s' exists.", name=values["name"])]
        won = values.get("is_won", existing.is_won if existing else False)
        lost = values.get("is_lost", existing.is_lost if existing else False)
        if won and lost:
            errors["is_lost"] = [_("A stage cannot be both won and lost.")]
        return errors

    data = load(_SCHEMA, data, partial=existing is not None, message=_("The stage is not valid."), check=check)
    if "probability" not in data and existing is None:
        data["probability"] = 100 if data.get("is_won") else 0 if data.get("is_lost") else 10
    return data


def create_stage(ctx: ServiceContext, data: dict[str, Any]) -> Stage:
    ctx.require("sales.stage.manage")
    ensure_stages(ctx)  # the defaults first, so a new stage joins them rather than replacing them
    data = validate_stage(ctx, data, None)
    with unit_of_work(ctx):
        stage = Stage()
        changes = apply_changes(stage, data, FIELDS)
        ctx.session.add(stage)
        ctx.session.flush()
        record_change(ctx, "stage", "created", stage.id, changes, event_name="sales.stage.created")
    return stage


def update_stage(ctx: ServiceContext, stage_id: int, data: dict[str, Any]) -> Stage:
    """Change a stage; a stage that opportunities are in cannot switch between open, won and lost."""
    ctx.require("sales.stage.manage")
    stage = get_stage(ctx, stage_id)
    data = validate_stage(ctx, data, stage)
    flips = any(k in data and data[k] != getattr(stage, k) for k in ("is_won", "is_lost"))
    if flips and ctx.session.scalar(select(func.count(Opportunity.id)).where(Opportunity.stage_id == stage.id)):
        raise Conflict(_("Opportunities are in this stage; move them before changing whether it is won or lost."))
    with unit_of_work(ctx):
        changes = apply_changes(stage, data, FIELDS)
        if changes:
            ctx.session.flush()
            record_change(ctx, "stage", "updated", stage.id, changes, event_name="sales.stage.updated")
    return stage


def delete_stage(ctx: ServiceContext, stage_id: int) -> None:
    """Delete an unused stage; a used one can only be deactivated (``active: false``)."""
    ctx.require("sales.stage.manage")
    stage = get_stage(ctx, stage_id)
    used = ctx.session.scalar(select(func.count(StageHistory.id)).where(StageHistory.stage_id == stage.id))
    if used:
        raise Conflict(_("Opportunities have been in this stage; deactivate it instead of deleting it."))
    with unit_of_work(ctx):
        ctx.session.delete(stage)
        record_change(ctx, "stage", "deleted", stage_id, {"name": [stage.name, None]}, event_name="sales.stage.deleted")
