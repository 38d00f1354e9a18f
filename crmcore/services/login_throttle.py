"""Failed-login throttling per account and per client address, counted in the database (``login_failures``)
so every web worker shares it. After ``LOGIN_MAX_FAILURES`` failures of one account (or
``LOGIN_CLIENT_MAX_FAILURES`` from one client) within ``LOGIN_LOCKOUT_SECONDS``, logins of that account
(from that client) are refused, even with the right password, until the lock ends."""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, cast

from sqlalchemy import Table, case, delete, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..config import setting_int
from ..db import UTCDateTime, utcnow
from ..errors import TooManyRequests
from ..i18n import _
from ..models.security import LoginFailure
from .ratelimit import client_key


def _limits(settings: dict[str, Any], username: str, client: str | None) -> list[tuple[str, str, int]]:
    """``(kind, stored key, limit)`` of the account and the client, for the limits that are on."""
    out = []
    per_account = setting_int(settings, "LOGIN_MAX_FAILURES", 5)
    per_client = setting_int(settings, "LOGIN_CLIENT_MAX_FAILURES", 20)
    if per_account > 0:
        out.append(("account", client_key(settings, "login-account", username), per_account))
    if per_client > 0 and client:
        out.append(("client", client_key(settings, "login-client", client), per_client))
    return out


def lockout_seconds(settings: dict[str, Any]) -> int:
    return setting_int(settings, "LOGIN_LOCKOUT_SECONDS", 900, minimum=1)


def throttled(seconds: float) -> TooManyRequests:
    """The error a locked login gets, saying how long to wait."""
    minutes = max(math.ceil(seconds / 60), 1)
    return TooManyRequests(_("Too many failed logins. Try again in %(minutes)s minute(s).", minutes=minutes),
                           retry_after=math.ceil(seconds))


def check(db: Any, settings: dict[str, Any], username: str, client: str | None, now: dt.datetime | None = None) -> None:
    """Raise ``TooManyRequests`` while the account or the client is locked."""
    now = now or utcnow()
    keys = [key for _kind, key, _limit in _limits(settings, username, client)]
    if not keys:
        return
    table = cast(Table, LoginFailure.__table__)
    with db.engine.connect() as conn:
        until = conn.scalar(select(table.c.locked_until).where(table.c.key.in_(keys), table.c.locked_until > now)
                            .order_by(table.c.locked_until.desc()).limit(1))
    if until is not None:
        raise throttled((until - now).total_seconds())


def failed(db: Any, settings: dict[str, Any], username: str, client: str | None,
           now: dt.datetime | None = None) -> list[str]:
    """Count a failed login of ``username`` from ``client``; return what this failure locked
    (``"account"``, ``"client"``), so the caller audits each lock once."""
    now = now or utcnow()
    span = dt.timedelta(seconds=lockout_seconds(settings))
    table = cast(Table, LoginFailure.__table__)
    at = literal(now, UTCDateTime())
    stale = or_(table.c.first_at <= now - span, table.c.locked_until <= now)  # a new count starts
    locked: list[str] = []
    with db.engine.begin() as conn:  # forget counts nobody added to for a while
        conn.execute(delete(table).where(table.c.first_at <= now - span,
                                         or_(table.c.locked_until.is_(None), table.c.locked_until <= now)))
    for kind, key, limit in _limits(settings, username, client):
        bump = update(table).where(table.c.key == key).values(
            failures=case((stale, 1), else_=table.c.failures + 1),
            first_at=case((stale, at), else_=table.c.first_at),
            locked_until=case((stale, None), else_=table.c.locked_until))
        with db.engine.begin() as conn:
            counted = conn.execute(bump).rowcount
        if not counted:
            try:
                with db.engine.begin() as conn:
                    conn.execute(insert(table).values(key=key, failures=1, first_at=now))
            except IntegrityError:  # another worker counted this key's first failure a moment ago
                with db.engine.begin() as conn:
                    conn.execute(bump)
        lock = update(table).where(table.c.key == key, table.c.failures >= limit,
                                   or_(table.c.locked_until.is_(None), table.c.locked_until <= now)
                                   ).values(locked_until=now + span)
        with db.engine.begin() as conn:
            if conn.execute(lock).rowcount:
                locked.append(kind)
    return locked


def succeeded(db: Any, settings: dict[str, Any], username: str) -> None:
    """A right password: the account's count starts again (the client's does not, so one known
    password does not reset the count of guesses at other accounts)."""
    key = client_key(settings, "login-account", username)
    table = cast(Table, LoginFailure.__table__)
    with db.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.key == key))
