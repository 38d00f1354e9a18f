"""Approval reviewers: the active users a reviewer spec names (a user, a role, a field, a manager)."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..models import Role, User
from .. import conditions
from .workflow_registry import entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def find_user(ctx: ServiceContext, value: Any) -> User | None:
    """The user a reviewer spec or an OA names: a ``User``, an id, or a username."""
    if isinstance(value, User):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return ctx.session.get(User, int(value))
    if isinstance(value, str):
        return ctx.session.scalar(select(User).where(User.username == value))
    return None


def reviewers_of(ctx: ServiceContext, spec: dict[str, Any], record: Any) -> list[User]:
    """The active users a reviewer spec names: a user, a role, a field of the record, or the manager
    of the user in a field (``{"kind": "manager_of", "value": "owner_id"}``)."""
    kind, value = spec.get("kind"), spec.get("value")
    users: list[User | None]
    if kind == "user":
        users = [find_user(ctx, value)]
    elif kind == "role":
        users = list(ctx.session.scalars(select(User).join(Role, User.role_id == Role.id)
                                         .where(Role.name == value).order_by(User.id)))
    elif kind == "field":
        found = conditions.resolve(record, str(value))
        users = [find_user(ctx, v) for v in (found if isinstance(found, list) else [found])]
    elif kind == "manager_of":
        person = find_user(ctx, conditions.resolve(record, str(value)))
        users = [person.team.manager if person is not None and person.team is not None else None]
    else:
        users = []
    return [u for u in users if u is not None and u.active]


def owner_id(ctx: ServiceContext, entity: str, record: Any) -> int | None:
    """The owner's user id of a record of a workflow entity (left out of its reviewers)."""
    spec = entities(ctx).get(entity)
    field = spec.owner_field if spec is not None else None
    return getattr(record, field, None) if field else None
