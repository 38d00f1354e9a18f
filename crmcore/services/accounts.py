"""Changing users, roles and teams (creating users and tokens lives in ``services.users``).

Every change needs ``user.manage``, is audited and emits its event, like any other write.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import func, select

from ..errors import Conflict, NotFound, ValidationError
from ..events import record_change
from ..i18n import _, known_timezone
from ..models import Role, Team, User
from ..schemas.admin import RoleSchema, TeamSchema
from .unit import apply_changes, unit_of_work
from .validation import invalid_fields, load
from .sessions import end_sessions
from .users import MIN_PASSWORD, check_role, profile_schema, set_password

if TYPE_CHECKING:
    from ..runtime import ServiceContext

USER_FIELDS = ("email", "full_name", "role_id", "team_id", "active", "locale", "timezone")
ROLE_FIELDS = ("name", "description", "permissions", "scope")
TEAM_FIELDS = ("name", "manager_id")
_ROLE = RoleSchema()
_TEAM = TeamSchema()


def update_user(ctx: ServiceContext, user_id: int, data: dict[str, Any]) -> User:
    """Change a user's profile, role, team or active flag; ``password`` (optional) sets a new one."""
    ctx.require("user.manage")
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound(_("User %(id)s does not exist.", id=user_id))
    errors: dict[str, list[str]] = {}
    if "role_id" in data and ctx.session.get(Role, data["role_id"]) is None:
        errors["role_id"] = [_("Choose an existing role.")]
    if data.get("team_id") is not None and ctx.session.get(Team, data["team_id"]) is None:
        errors["team_id"] = [_("Choose an existing team.")]
    errors.update(invalid_fields(profile_schema(), {k: data[k] for k in ("email", "full_name", "timezone") if k in data}))
    if data.get("timezone") and "timezone" not in errors and not known_timezone(data["timezone"]):
        errors["timezone"] = [_("Unknown time zone; use a name such as Asia/Shanghai.")]
    password = data.get("password")
    if password and len(password) < MIN_PASSWORD:
        errors["password"] = [_("Use at least %(count)s characters.", count=MIN_PASSWORD)]
    if ctx.actor is not None and ctx.actor.id == user.id and data.get("active") is False:
        errors["active"] = [_("You cannot deactivate your own account.")]
    if errors:
        raise ValidationError(_("The user is not valid."), errors=errors)
    data = load(profile_schema(), data, partial=True, message=_("The user is not valid."))  # trimmed; empty e-mail: none
    with unit_of_work(ctx):
        changes = apply_changes(user, data, USER_FIELDS)
        if "active" in changes and not user.active:
            end_sessions(user)  # a deactivated user's open sessions end now, and stay ended if reactivated
        if password:
            set_password(ctx, user, password)  # audited on its own, value masked
        if changes:
            ctx.session.flush()
            record_change(ctx, "user", "updated", user.id, changes)
    return user


def set_active(ctx: ServiceContext, user_id: int, active: bool) -> User:
    """Deactivate (or reactivate) a user: a deactivated user cannot log in or use tokens."""
    return update_user(ctx, user_id, {"active": active})


def validate_role(ctx: ServiceContext, data: dict[str, Any], role: Role | None) -> dict[str, Any]:
    """A role's input checked by ``RoleSchema`` (the admin and the CLI share it), then a name no other role
    has (409), and permissions and a scope the registry knows."""
    data = load(_ROLE, data, partial=role is not None, message=_("The role is not valid."))
    if "name" in data:
        clash = ctx.session.scalar(select(Role.id).where(Role.name == data["name"]))
        if clash is not None and (role is None or clash != role.id):
            raise Conflict(_("A role named '%(name)s' already exists.", name=data["name"]))
    data["permissions"] = sorted(set(data.get("permissions", role.permissions if role else []) or []))
    data.setdefault("scope", role.scope if role else "own")
    check_role(ctx, data["permissions"], data["scope"])
    return data


def create_role(ctx: ServiceContext, data: dict[str, Any]) -> Role:
    ctx.require("user.manage")
    data = validate_role(ctx, data, None)
    with unit_of_work(ctx):
        role = Role(name=data["name"], permissions=[], scope="own")
        changes = apply_changes(role, data, ROLE_FIELDS)
        ctx.session.add(role)
        ctx.session.flush()
        record_change(ctx, "role", "created", role.id, changes)
    return role


def update_role(ctx: ServiceContext, role_id: int, data: dict[str, Any]) -> Role:
    ctx.require("user.manage")
    role = ctx.session.get(Role, role_id)
    if role is None:
        raise NotFound(_("Role %(id)s does not exist.", id=role_id))
    data = validate_role(ctx, data, role)
    if role.name == "admin" and ("*" not in data["permissions"] or data.get("name", "admin") != "admin"):
        raise ValidationError(_("The admin role keeps its name and every permission."),
                              errors={"permissions": [_("The admin role must keep '*'.")]})
    with unit_of_work(ctx):
        changes = apply_changes(role, data, ROLE_FIELDS)
        if changes:
            record_change(ctx, "role", "updated", role.id, changes)
    return role


def delete_role(ctx: ServiceContext, role_id: int) -> None:
    ctx.require("user.manage")
    role = ctx.session.get(Role, role_id)
    if role is None:
        raise NotFound(_("Role %(id)s does not exist.", id=role_id))
    used = ctx.session.scalar(select(func.count()).select_from(User).where(User.role_id == role.id))
    if used:
        raise Conflict(f"{used} user(s) still have the role '{role.name}'; give them another role first.")
    with unit_of_work(ctx):
        snapshot = {k: [getattr(role, k), None] for k in ROLE_FIELDS}
        ctx.session.delete(role)
        record_change(ctx, "role", "deleted", role_id, snapshot)


def validate_team(ctx: ServiceContext, data: dict[str, Any], team: Team | None) -> dict[str, Any]:
    """A team's input checked by ``TeamSchema`` (the admin and the CLI share it), then a name no other team
    has (409) and a manager who exists."""
    data = load(_TEAM, data, partial=team is not None, message=_("The team is not valid."))
    if "name" in data:
        clash = ctx.session.scalar(select(Team.id).where(Team.name == data["name"]))
        if clash is not None and (team is None or clash != team.id):
            raise Conflict(_("A team named '%(name)s' already exists.", name=data["name"]))
    if data.get("manager_id") is not None and ctx.session.get(User, data["manager_id"]) is None:
        raise ValidationError(_("The team is not valid."), errors={"manager_id": [_("Choose an existing user.")]})
    return data


def create_team(ctx: ServiceContext, data: dict[str, Any]) -> Team:
    ctx.require("user.manage")
    data = validate_team(ctx, data, None)
    with unit_of_work(ctx):
        team = Team(name=data["name"])
        changes = apply_changes(team, data, TEAM_FIELDS)
        ctx.session.add(team)
        ctx.session.flush()
        record_change(ctx, "team", "created", team.id, changes)
    return team


def update_team(ctx: ServiceContext, team_id: int, data: dict[str, Any]) -> Team:
    ctx.require("user.manage")
    team = ctx.session.get(Team, team_id)
    if team is None:
        raise NotFound(_("Team %(id)s does not exist.", id=team_id))
    data = validate_team(ctx, data, team)
    with unit_of_work(ctx):
        changes = apply_changes(team, data, TEAM_FIELDS)
        if changes:
            record_change(ctx, "team", "updated", team.id, changes)
    return team


def delete_team(ctx: ServiceContext, team_id: int) -> None:
    """Delete a team; its members stay, without a team."""
    ctx.require("user.manage")
    team = ctx.session.get(Team, team_id)
    if team is None:
        raise NotFound(_("Team %(id)s does not exist.", id=team_id))
    with unit_of_work(ctx):
        for member in ctx.session.scalars(select(User).where(User.team_id == team.id)):
            member.team_id = None
        snapshot = {k: [getattr(team, k), None] for k in TEAM_FIELDS}
        ctx.session.delete(team)
        record_change(ctx, "team", "deleted", team_id, snapshot)
