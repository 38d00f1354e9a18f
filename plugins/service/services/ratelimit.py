"""The public portal's rate limit: requests per client and action in fixed time windows, counted in
the database (``service_portal_hits``) so every web worker shares the count. A client is an HMAC
(the app's secret key) of the action and the IP address: no address is stored."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from crmcore.db import utcnow

from ..models import PortalHit

DEFAULT_LIMIT = 20
DEFAULT_WINDOW = 3600
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Verdict:
    """The answer for one request: allowed or not, the hits in this window, seconds to the next one."""

    allowed: bool
    hits: int
    limit: int
    retry_after: int


def settings_of(settings: dict[str, Any]) -> tuple[int, int]:
    """``(limit, window seconds)`` from ``SERVICE_PORTAL_RATE_LIMIT`` and ``SERVICE_PORTAL_RATE_WINDOW``
    (a limit of 0 turns the rate limit off)."""
    limit = settings.get("SERVICE_PORTAL_RATE_LIMIT")
    window = settings.get("SERVICE_PORTAL_RATE_WINDOW")
    return (DEFAULT_LIMIT if limit in (None, "") else int(limit),
            max(int(window) if window not in (None, "") else DEFAULT_WINDOW, 1))


def bucket(settings: dict[str, Any], action: str, client: str) -> str:
    """The stored key of a client's requests of one action (the address cannot be read back)."""
    from crmcore.config import secret_key

    return hmac.new(secret_key(settings).encode(), f"service-portal-rate:{action}:{client}".encode(),
                    hashlib.sha256).hexdigest()


def hit(db: Any, settings: dict[str, Any], action: str, client: str, now: dt.datetime | None = None) -> Verdict:
    """Count one request of ``client`` (an IP address) for ``action`` and say whether it is allowed.
    Counts commit at once on their own connection, whatever the request does afterwards."""
    limit, window = settings_of(settings)
    now = now or utcnow()
    elapsed = (now - EPOCH).total_seconds()
    start = EPOCH + dt.timedelta(seconds=math.floor(elapsed / window) * window)
    retry = max(int(math.ceil((start + dt.timedelta(seconds=window) - now).total_seconds())), 1)
    if limit <= 0:
        return Verdict(True, 0, 0, 0)
    key = bucket(settings, action, client)
    table = PortalHit.__table__
    mine = (table.c.bucket == key) & (table.c.window_start == start)
    bump = update(table).where(mine).values(hits=table.c.hits + 1)
    with db.engine.begin() as conn:
        counted = conn.execute(bump).rowcount
    if not counted:
        try:
            with db.engine.begin() as conn:  # a new window: start it, and forget windows gone by
                conn.execute(delete(table).where(table.c.window_start < start - dt.timedelta(seconds=window)))
                conn.execute(insert(table).values(bucket=key, window_start=start, hits=1))
        except IntegrityError:  # another worker started it a moment ago
            with db.engine.begin() as conn:
                conn.execute(bump)
    with db.engine.connect() as conn:
        hits = int(conn.scalar(select(table.c.hits).where(mine)) or 0)
    return Verdict(hits <= limit, hits, limit, retry)
