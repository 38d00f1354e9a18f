"""Fixed-window rate limits counted in the database (``rate_limit_hits``), so every web worker shares
the count. A client is stored as an HMAC (the app's secret key) of the scope and its address."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..models.security import RateLimitHit

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Verdict:
    """The answer for one request: allowed or not, the hits in this window, seconds to the next one."""

    allowed: bool
    hits: int
    limit: int
    retry_after: int


def client_key(settings: dict[str, Any], scope: str, client: str) -> str:
    """The stored key of ``client`` (an address, a user name) in ``scope``: it cannot be read back."""
    from ..config import secret_key

    return hmac.new(secret_key(settings).encode(), f"{scope}:{client}".encode(), hashlib.sha256).hexdigest()


def hit(db: Any, settings: dict[str, Any], scope: str, client: str, *, limit: int, window: int,
        now: dt.datetime | None = None) -> Verdict:
    """Count one request of ``client`` in ``scope`` and say whether it is within ``limit`` per ``window``
    seconds (a limit of 0 or less turns the limit off). Counts commit at once on their own connection,
    whatever the request does afterwards."""
    window = max(int(window), 1)
    now = now or utcnow()
    elapsed = (now - EPOCH).total_seconds()
    start = EPOCH + dt.timedelta(seconds=math.floor(elapsed / window) * window)
    retry = max(int(math.ceil((start + dt.timedelta(seconds=window) - now).total_seconds())), 1)
    if limit <= 0:
        return Verdict(True, 0, 0, 0)
    key = client_key(settings, scope, client)
    table = cast(Table, RateLimitHit.__table__)
    mine = (table.c.bucket == key) & (table.c.window_start == start)
    bump = update(table).where(mine).values(hits=table.c.hits + 1)
    with db.engine.begin() as conn:
        counted = conn.execute(bump).rowcount
    if not counted:
        end = start + dt.timedelta(seconds=window)
        try:
            with db.engine.begin() as conn:  # a new window: forget the windows that are over, start this one
                conn.execute(delete(table).where(table.c.window_end <= now))
                conn.execute(insert(table).values(bucket=key, window_start=start, window_end=end, hits=1))
        except IntegrityError:  # another worker started it a moment ago
            with db.engine.begin() as conn:
                conn.execute(bump)
    with db.engine.connect() as conn:
        hits = int(conn.scalar(select(table.c.hits).where(mine)) or 0)
    return Verdict(hits <= limit, hits, limit, retry)
