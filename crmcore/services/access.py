"""Record rules: which customers an actor may see and change (own, team, all)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.sql import Select

from ..errors import PermissionDenied
from ..models import Customer, Team, User
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext


class Owned(Protocol):
    """What the record rules read of a customer: a ``Customer``, or a row or view of its columns."""

    @property
    def owner_id(self) -> int | None: ...


def team_ids(ctx: ServiceContext) -> list[int]:
    """The teams the actor belongs to or manages."""
    ids = set()
    if ctx.actor is None:
        return []
    if ctx.actor.team_id:
        ids.add(ctx.actor.team_id)
    ids.update(ctx.session.scalars(select(Team.id).where(Team.manager_id == ctx.actor.id)))
    return sorted(ids)


def scope_customers(ctx: ServiceContext, stmt: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """Restrict a select over ``Customer`` to the records the actor may see."""
    scope = ctx.scope
    if scope == "all":
        return stmt
    if scope == "team":
        teams = team_ids(ctx)
        members = select(User.id).where(User.team_id.in_(teams)) if teams else None
        conds = [Customer.owner_id == ctx.actor_id]
        if members is not None:
            conds.append(Customer.owner_id.in_(members))
        return stmt.where(or_(*conds))
    return stmt.where(Customer.owner_id == ctx.actor_id)


def can_access_customer(ctx: ServiceContext, customer: Owned) -> bool:
    scope = ctx.scope
    if scope == "all":
        return True
    if customer.owner_id == ctx.actor_id:
        return True
    if scope == "team" and customer.owner_id is not None:
        owner = ctx.session.get(User, customer.owner_id)
        return owner is not None and owner.team_id is not None and owner.team_id in team_ids(ctx)
    return False


def check_customer_access(ctx: ServiceContext, customer: Owned) -> None:
    """Raise ``PermissionDenied`` when the customer is outside the actor's record scope."""
    if not can_access_customer(ctx, customer):
        raise PermissionDenied(_("This customer belongs to someone outside your scope."))


def may_assign_owner(ctx: ServiceContext, owner_id: int | None) -> None:
    """A rep (scope own) may only own records themselves; a manager within their team."""
    scope = ctx.scope
    if scope == "all" or owner_id is None and scope != "own":
        return
    if scope == "own":
        if owner_id != ctx.actor_id:
            raise PermissionDenied(_("You can only assign customers to yourself."))
        return
    owner = ctx.session.get(User, owner_id)
    if owner_id != ctx.actor_id and (owner is None or owner.team_id not in team_ids(ctx)):
        raise PermissionDenied(_("You can only assign customers to members of your team."))
