"""Monthly sales plans (targets) per rep, per team, or for the company, set by the planning side."""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Team, User
from crmcore.services.access import team_ids
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import SalesTarget
from ..schemas.activities import TargetSchema
from . import access
from .common import INVALID
from .money import base_currency

_SCHEMA = TargetSchema()


def _subject_filter(user_id: int | None, team_id: int | None) -> list[Any]:
    return [SalesTarget.user_id.is_(None) if user_id is None else SalesTarget.user_id == user_id,
            SalesTarget.team_id.is_(None) if team_id is None else SalesTarget.team_id == team_id]


def validate_target(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """A month's plan checked and converted, the one validation of a plan: ``TargetSchema``, then a rep
    or a team (not both) that exists. An empty currency is the base currency."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        user_id, team_id = values.get("user_id"), values.get("team_id")
        if user_id is not None and team_id is not None:
            errors["team_id"] = [_("A plan is for a rep or a team, not both.")]
        if user_id is not None and ctx.session.get(User, user_id) is None:
            errors["user_id"] = [_("User %(id)s does not exist.", id=user_id)]
        if team_id is not None and ctx.session.get(Team, team_id) is None:
            errors["team_id"] = [_("Team %(id)s does not exist.", id=team_id)]
        return errors

    data = load(_SCHEMA, data, partial=False, message=INVALID["sales plan"], check=check)
    data["currency"] = data.get("currency") or base_currency(ctx)
    return data


def set_target(ctx: ServiceContext, data: dict[str, Any]) -> SalesTarget:
    """Set the plan of one month for a rep (``user_id``), a team (``team_id``) or the company (neither).

    Setting it again replaces the amount (one plan per subject and month).
    """
    ctx.require("sales.target.manage")
    data = validate_target(ctx, data)
    year, month, amount, currency = data["year"], data["month"], data["amount"], data["currency"]
    user_id, team_id = data.get("user_id"), data.get("team_id")
    if ctx.scope != "all":
        if user_id is not None:
            access.check_owned(ctx, user_id, "rep's plan")
        elif team_id not in team_ids(ctx):
            access.check_owned(ctx, None, "plan")
    with unit_of_work(ctx):
        target = ctx.session.scalar(select(SalesTarget).where(SalesTarget.year == year, SalesTarget.month == month,
                                                              *_subject_filter(user_id, team_id)))
        before = (target.amount, target.currency) if target else (None, None)
        if target is None:
            target = SalesTarget(year=year, month=month, user_id=user_id, team_id=team_id, amount=amount,
                                 currency=currency)
            ctx.session.add(target)
        target.amount, target.currency = amount, currency
        ctx.session.flush()
        record_change(ctx, "sales_target", "updated" if before[0] is not None else "created", target.id,
                      {"amount": [before[0], amount], "currency": [before[1], currency]},
                      event_name="sales.target.set",
                      data={"year": year, "month": month, "user_id": user_id, "team_id": team_id})
    return target


def list_targets(ctx: ServiceContext, *, year: int | None = None, user_id: int | None = None,
                 team_id: int | None = None) -> list[SalesTarget]:
    """Plans the actor may see: their own and their teams' (a rep), their teams' members' (a manager)."""
    ctx.require("sales.target.read")
    stmt = select(SalesTarget)
    cond = access.owner_condition(ctx, SalesTarget.user_id)
    if cond is not None:
        stmt = stmt.where(or_(cond, SalesTarget.team_id.in_(team_ids(ctx) or [-1])))
    if year is not None:
        stmt = stmt.where(SalesTarget.year == year)
    if user_id is not None:
        stmt = stmt.where(SalesTarget.user_id == user_id)
    if team_id is not None:
        stmt = stmt.where(SalesTarget.team_id == team_id)
    return list(ctx.session.scalars(stmt.order_by(SalesTarget.year, SalesTarget.month, SalesTarget.id)))


def delete_target(ctx: ServiceContext, target_id: int) -> None:
    ctx.require("sales.target.manage")
    target = ctx.session.get(SalesTarget, target_id)
    if target is None:
        raise NotFound(_("Sales plan %(id)s does not exist.", id=target_id))
    if ctx.scope != "all" and target.user_id is not None:
        access.check_owned(ctx, target.user_id, "rep's plan")
    with unit_of_work(ctx):
        ctx.session.delete(target)
        record_change(ctx, "sales_target", "deleted", target_id, {"amount": [target.amount, None]},
                      event_name="sales.target.deleted")
