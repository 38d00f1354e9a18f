"""Record rules for sales records: visibility follows the record's owner, as for customers.

A rep (scope ``own``) sees records they own, a manager (``team``) those of their teams'
members, others (``all``) everything. Reuses the core's team resolution.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.sql import Select

from crmcore.errors import PermissionDenied
from crmcore.i18n import _
from crmcore.models import User
from crmcore.services.access import team_ids
from crmcore.runtime import ServiceContext


# The records named in the messages below, in the reader's words.
NOUNS = {
    "quote": _("quote"), "opportunity": _("opportunity"), "lead": _("lead"), "activity": _("activity"),
    "expense": _("expense"), "order": _("order"), "invoice": _("invoice"), "plan": _("plan"),
    "rep's plan": _("rep's plan"), "rep's figures": _("rep's figures"),
}


def _noun(what: str) -> object:
    return NOUNS.get(what, what)


def owner_condition(ctx: ServiceContext, column: Any) -> ColumnElement[bool] | None:
    """A condition on an owner column for the actor's scope, or None when they see everything."""
    scope = ctx.scope
    if scope == "all":
        return None
    if scope == "team":
        teams = team_ids(ctx)
        conds = [column == ctx.actor.id]
        if teams:
            conds.append(column.in_(select(User.id).where(User.team_id.in_(teams))))
        return or_(*conds)
    return column == ctx.actor.id


def scope_owned(ctx: ServiceContext, stmt: Select, column: Any) -> Select:
    """Restrict a select to the records whose ``column`` (an owner id) the actor may see."""
    cond = owner_condition(ctx, column)
    return stmt if cond is None else stmt.where(cond)


def can_access_owner(ctx: ServiceContext, owner_id: int | None) -> bool:
    scope = ctx.scope
    if scope == "all":
        return True
    if owner_id is not None and owner_id == ctx.actor.id:
        return True
    if scope == "team" and owner_id is not None:
        owner = ctx.session.get(User, owner_id)
        return owner is not None and owner.team_id is not None and owner.team_id in team_ids(ctx)
    return False


def check_owned(ctx: ServiceContext, owner_id: int | None, what: str) -> None:
    """Raise ``PermissionDenied`` when a record owned by ``owner_id`` is outside the actor's scope."""
    if not can_access_owner(ctx, owner_id):
        raise PermissionDenied(_("This %(what)s belongs to someone outside your scope.", what=_noun(what)))


def may_assign(ctx: ServiceContext, owner_id: int | None, what: str) -> None:
    """A rep may only own records themselves; a manager may assign within their teams."""
    scope = ctx.scope
    if scope == "all":
        return
    if owner_id is None:
        raise PermissionDenied(_("Give the %(what)s an owner; only users who see everything may leave it unassigned.",
                                 what=_noun(what)))
    if owner_id == ctx.actor.id:
        return
    if scope == "own":
        raise PermissionDenied(_("You can only assign a %(what)s to yourself.", what=_noun(what)))
    owner = ctx.session.get(User, owner_id)
    if owner is None or owner.team_id not in team_ids(ctx):
        raise PermissionDenied(_("You can only assign a %(what)s to members of your team.", what=_noun(what)))


def visible_owner_ids(ctx: ServiceContext) -> Select | None:
    """A select of the user ids whose records the actor sees, or None for everyone."""
    scope = ctx.scope
    if scope == "all":
        return None
    cond = owner_condition(ctx, User.id)
    return select(User.id).where(cond)
