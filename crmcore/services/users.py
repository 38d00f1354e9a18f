"""Users, roles and API tokens: default roles, password login, token issue and check."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from typing import Any, TYPE_CHECKING

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash, generate_password_hash

from ..config import setting_int
from ..db import mapped_columns, transient, utcnow
from ..errors import AuthenticationRequired, Conflict, NotFound, ValidationError
from ..events import audit, record_change
from ..i18n import _
from ..models.auth import ApiToken, Role, Team, User
from ..models.auth import SCOPES
from . import login_throttle, stamps
from .sessions import end_sessions
from .unit import unit_of_work

if TYPE_CHECKING:
    from marshmallow import Schema

    from ..runtime import ServiceContext

TOKEN_PREFIX = "crm_"
MIN_PASSWORD = 8


@functools.cache
def profile_schema() -> Schema:
    """The user profile's schema (the admin's): built on first use, so the light commands (``crm token list``)
    load no marshmallow."""
    from ..schemas.admin import UserProfileSchema

    return UserProfileSchema()
# Default roles: name -> (scope, description). Permissions come from the registry's default_roles.
DEFAULT_ROLES = {
    "admin": ("all", "Everything, including users, roles and configuration."),
    "manager": ("team", "Sales or service manager: the team's customers, merges, audit."),
    "sales": ("own", "Sales rep: own customers and their interactions."),
    "service": ("all", "Service agent: reads every customer, logs interactions."),
    "analyst": ("all", "Reads customers and reports; changes nothing."),
}
# the default descriptions, marked for the catalogue: lists show ``gettext(role.description)`` (a rewritten one as written)
ROLE_DESCRIPTIONS = (_("Everything, including users, roles and configuration."),
                     _("Sales or service manager: the team's customers, merges, audit."),
                     _("Sales rep: own customers and their interactions."),
                     _("Service agent: reads every customer, logs interactions."),
                     _("Reads customers and reports; changes nothing."))


def hash_password(password: str) -> str:
    """scrypt through Werkzeug: a memory-hard KDF with a random salt."""
    return generate_password_hash(password, method="scrypt")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seed_roles(ctx: ServiceContext) -> list[Role]:
    """Create missing default roles and grant each the permissions plugins assign to it."""
    out = []
    with unit_of_work(ctx):
        for name, (scope, description) in DEFAULT_ROLES.items():
            role = ctx.session.scalar(select(Role).where(Role.name == name))
            perms = ["*"] if name == "admin" else sorted(
                p.name for p in ctx.registry.permissions.values() if name in p.default_roles)
            if role is None:
                role = Role(name=name, scope=scope, description=description, permissions=perms)
                ctx.session.add(role)
            elif name != "admin":
                added = sorted(set(perms) - set(role.permissions or []))
                if added:  # new plugin permissions reach existing default roles; removals are the admin's
                    role.permissions = sorted(set(role.permissions or []) | set(added))
            out.append(role)
    return out


def get_role(ctx: ServiceContext, name: str) -> Role:
    role = ctx.session.scalar(select(Role).where(Role.name == name))
    if role is None:
        names = ", ".join(ctx.session.scalars(select(Role.name).order_by(Role.name)))
        raise ValidationError(_("Unknown role '%(name)s'.", name=name), errors={"role": [_("Choose one of: %(names)s.", names=names)]})
    return role


def check_role(ctx: ServiceContext, permissions: list[str], scope: str) -> None:
    errors = {}
    unknown = [p for p in permissions if p != "*" and not p.endswith(".*") and p not in ctx.registry.permissions]
    if unknown:
        errors["permissions"] = [_("Unknown permissions: %(names)s.", names=", ".join(unknown))]
    if scope not in SCOPES:
        errors["scope"] = [_("Must be one of: %(names)s.", names=", ".join(SCOPES))]
    if errors:
        raise ValidationError(_("The role is not valid."), errors=errors)


def create_user(ctx: ServiceContext, username: str, password: str | None, role: str = "sales", *, email: str | None = None,
                full_name: str | None = None, team: str | None = None, locale: str | None = None) -> User:
    ctx.require("user.manage")
    errors = {}
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        errors["username"] = [_("Use letters, digits, '.', '-' or '_' (at most 64).")]
    if password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = [_("Use at least %(count)s characters.", count=MIN_PASSWORD)]
    profile = {k: v for k, v in (("email", email), ("full_name", full_name)) if v is not None}
    from .validation import invalid_fields, load

    errors.update(invalid_fields(profile_schema(), profile))  # the same rules as an edit in the admin
    if errors:
        raise ValidationError(_("The user is not valid."), errors=errors)
    profile = load(profile_schema(), profile, partial=True, message=_("The user is not valid."))
    email, full_name = profile.get("email"), profile.get("full_name")
    if ctx.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(_("A user named '%(name)s' already exists.", name=username))
    with unit_of_work(ctx):
        team_obj = None
        if team:
            team_obj = ctx.session.scalar(select(Team).where(Team.name == team))
            if team_obj is None:
                team_obj = Team(name=team)
                ctx.session.add(team_obj)
        user = User(username=username, email=email, full_name=full_name, role=get_role(ctx, role),
                    password_hash=hash_password(password) if password else None, team=team_obj, locale=locale)
        ctx.session.add(user)
        ctx.session.flush()
        record_change(ctx, "user", "created", user.id, {"username": [None, username], "role": [None, role]})
    return user


def set_password(ctx: ServiceContext, user: User, password: str) -> None:
    """Set a new password; every session and remember-me cookie of the user ends."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(_("The password is too short."), errors={"password": [_("Use at least %(count)s characters.", count=MIN_PASSWORD)]})
    with unit_of_work(ctx):
        user.password_hash = hash_password(password)
        end_sessions(user)
        record_change(ctx, "user", "updated", user.id, {"password": ["***", "***"]})


def authenticate(ctx: ServiceContext, username: str, password: str, client: str | None = None) -> User:
    """Return the active user with these credentials or raise AuthenticationRequired.

    Failed attempts count against the account and ``client`` (the caller's address): past the
    limits (``LOGIN_MAX_FAILURES``, ``LOGIN_CLIENT_MAX_FAILURES``) every attempt gets
    ``TooManyRequests`` until ``LOGIN_LOCKOUT_SECONDS`` pass. Failures and locks are audited.
    """
    db, settings = ctx.runtime.db, ctx.settings
    login_throttle.check(db, settings, username, client)
    user = ctx.session.scalar(select(User).where(User.username == username))
    # Compare against a dummy hash when the user is unknown, so timing does not tell.
    stored = user.password_hash if user and user.password_hash else _DUMMY
    ok = check_password_hash(stored, password or "")
    if not user or not ok or not user.password_hash or not user.active:
        locked = login_throttle.failed(db, settings, username, client)
        _audit_login(ctx, user, username, client, locked)
        if locked:
            raise login_throttle.throttled(login_throttle.lockout_seconds(settings))
        raise AuthenticationRequired(_("Wrong username or password."))
    login_throttle.succeeded(db, settings, username)
    user.last_login_at = utcnow()
    ctx.session.commit()
    return user


def _audit_login(ctx: ServiceContext, user: User | None, username: str, client: str | None, locked: list[str]) -> None:
    """Audit a failed login (and the locks it set) in a transaction of its own: it stays whatever happens next."""
    actx = ctx.fresh()
    try:
        entity_id = user.id if user is not None else "-"
        details = {"username": username[:64], "client": client}
        audit(actx, "login_failed", "user", entity_id, data=details)
        for kind in locked:
            audit(actx, "login_locked", "user", entity_id,
                  data={**details, "locked": kind, "seconds": login_throttle.lockout_seconds(ctx.settings)})
        actx.session.commit()
    finally:
        actx.session.close()


# The hash an unknown user's password is checked against, so timing does not tell (scrypt, Werkzeug's default
# parameters, of a random password nobody kept). A literal: hashing one at import cost every process
# (each web worker, each ``crm`` command) a scrypt run and 32 MiB at start-up.
_DUMMY = ("scrypt:32768:8:1$1EOnammw3FS5drd5$e1ec2c2441b6e068b67f7737fc3465efb5d33742f3b4f5df810cd799830e520a"
          "d5deca869f5d8ed1b8055f4ab6fa3c72dbfd1abfa93acd46ece1dd35c421b3e3")


def get_user(ctx: ServiceContext, ref: str | int) -> User:
    stmt = select(User).where(User.id == int(ref)) if str(ref).isdigit() else select(User).where(User.username == ref)
    user = ctx.session.scalar(stmt)
    if user is None:
        raise NotFound(_("User '%(name)s' does not exist.", name=ref))
    return user


def token_ttl_days(settings: dict[str, Any]) -> int:
    """``TOKEN_TTL_DAYS``: the lifetime (and longest allowed lifetime) of API tokens; 0 means none."""
    return setting_int(settings, "TOKEN_TTL_DAYS", 90)


def token_expiry(token: Any, settings: dict[str, Any]) -> dt.datetime | None:
    """When ``token`` (an ``ApiToken``, or a row of its columns) stops working: its own expiry, else (a token from before a TTL was set)
    ``TOKEN_TTL_DAYS`` after its creation, else never."""
    if token.expires_at is not None:
        expires: dt.datetime = token.expires_at
        return expires
    ttl = token_ttl_days(settings)
    return token.created_at + dt.timedelta(days=ttl) if ttl and token.created_at else None


def create_token(ctx: ServiceContext, user: User, name: str = "default", expires_days: int | None = None) -> tuple[ApiToken, str]:
    """Issue a token; the plain value is returned once and only its SHA-256 is stored.

    It expires after ``expires_days``, which defaults to and may not exceed ``TOKEN_TTL_DAYS``.
    """
    if ctx.actor is not None and ctx.actor.id != user.id:
        ctx.require("user.manage")
    ttl = token_ttl_days(ctx.settings)
    if expires_days is not None and (expires_days < 1 or (ttl and expires_days > ttl)):
        limit = _("Use a whole number of days from 1 to %(days)s.", days=ttl) if ttl else _("Use at least 1 day.")
        raise ValidationError(_("The token's lifetime is not valid."), errors={"expires_days": [limit]})
    days = expires_days or ttl or None
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    with unit_of_work(ctx):
        token = ApiToken(user_id=user.id, name=name, prefix=plain[:10], token_hash=hash_token(plain), expires_at=expires)
        ctx.session.add(token)
        ctx.session.flush()
        record_change(ctx, "api_token", "created", token.id,
                      {"user_id": [None, user.id], "name": [None, name], "expires_at": [None, expires]})
    return token, plain


def revoke_token(ctx: ServiceContext, token_id: int) -> None:
    token = ctx.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("Token %(id)s does not exist.", id=token_id))
    if ctx.actor is not None and ctx.actor.id != token.user_id:
        ctx.require("user.manage")
    with unit_of_work(ctx):
        token.revoked_at = utcnow()
        record_change(ctx, "api_token", "revoked", token.id, {"revoked_at": [None, token.revoked_at]})


# built once: the statement of every API request (building it cost more than running it on SQLite). Core, not the
# ORM's loading of three entities (a third of a read): the token's columns, its user's and their role's (the user
# is built from them, ``_attach``), and every change stamp: the request then uses what its process keeps (the
# custom fields, ``custom_fields.active_fields``; a plugin's, ``stamps.kept_value``) while it has not changed,
# without a statement of its own.
_USER_COLUMNS, _ROLE_COLUMNS = mapped_columns(User), mapped_columns(Role)
_TOKENS, _USERS, _ROLES = ApiToken.__table__, User.__table__, Role.__table__
_TOKEN_BY_HASH = select(
    _TOKENS.c.id, _TOKENS.c.revoked_at, _TOKENS.c.expires_at, _TOKENS.c.created_at, _TOKENS.c.last_used_at,
    *(column.label(f"user_{key}") for key, column in _USER_COLUMNS),
    *(column.label(f"role_{key}") for key, column in _ROLE_COLUMNS),
).select_from(_TOKENS.join(_USERS, _USERS.c.id == _TOKENS.c.user_id).join(_ROLES, _ROLES.c.id == _USERS.c.role_id)).where(
    _TOKENS.c.token_hash == bindparam("token_hash"))
_WITH_STAMPS: dict[tuple[str, ...], Any] = {}  # the statement with every change stamp there is (plugins add theirs)


def _token_statement() -> Any:
    names = tuple(stamps.names())
    stmt = _WITH_STAMPS.get(names)
    if stmt is None:
        stmt = _WITH_STAMPS[names] = _TOKEN_BY_HASH.add_columns(*stamps.columns())
    return stmt


def user_for_token(session: Any, plain: str, settings: dict[str, Any] | None = None) -> User:
    """The active user of a valid, unexpired, unrevoked token, or AuthenticationRequired saying which."""
    token = session.connection().execute(_token_statement(), {"token_hash": hash_token(plain)}).first()
    now = utcnow()
    if token is None:
        raise AuthenticationRequired(_("The API token is not valid; create one with 'crm token create <user>'."))
    stamps.remember_all(session, token._mapping)
    if token.revoked_at is not None:
        raise AuthenticationRequired(_("This API token was revoked; create a new one with 'crm token create <user>'."))
    expires = token_expiry(token, settings or {})
    if expires is not None and expires <= now:
        raise AuthenticationRequired(_("This API token expired on %(date)s (UTC); create a new one with "
                                       "'crm token create <user>'.", date=f"{expires:%Y-%m-%d %H:%M}"))
    if not token.user_active:
        raise AuthenticationRequired(_("This account is disabled."))
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        # coarse, so reads do not write on every request
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        session.commit()
    return _attach(session, token._mapping)


def _attach(session: Any, row: Any) -> User:
    """The token's user, with their role, in ``session`` as if loaded there (persistent, team loaded when read),
    built from the statement's columns; the session's own when it has them already."""
    user_id, role_id = row["user_id"], row["role_id"]
    if session.identity_map.get(identity_key(User, user_id)) is not None \
            or session.identity_map.get(identity_key(Role, role_id)) is not None:
        found: User = session.get(User, user_id)
        return found
    role = transient(Role, {key: row[f"role_{key}"] for key, _column in _ROLE_COLUMNS})
    make_transient_to_detached(role)
    user = transient(User, {key: row[f"user_{key}"] for key, _column in _USER_COLUMNS})
    user.__dict__["role"] = role  # as loaded with it (no change events: nothing to write)
    make_transient_to_detached(user)
    session.add(user)  # and its role: both persistent, unchanged
    return user
