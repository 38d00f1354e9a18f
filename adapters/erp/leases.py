"""The sync's ``sync_state`` rows: each stream's bookmark and the per-connection run lease."""
from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import select, update

from crmcore.db import utcnow
from crmcore.errors import Conflict
from crmcore.i18n import _
from crmcore.models import SyncState
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

LEASE = "__run__"  # a sync_state row per connection: which process runs its sync now


def _as_key(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return value


def _key_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def state_of(ctx: ServiceContext, connection: str, stream: str) -> SyncState:
    state = ctx.session.scalar(select(SyncState).where(SyncState.connection == connection, SyncState.stream == stream))
    if state is None:
        state = SyncState(connection=connection, stream=stream, bookmark={})
        ctx.session.add(state)
        ctx.session.flush()
    return state


def _alive(owner: str) -> bool:
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's run: trust its lease until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lease(ctx: ServiceContext, connection: str, minutes: int = 30) -> str:
    """Make this process the only one syncing ``connection`` (a scheduled run and a manual one must not
    overlap); a lease whose process died (SIGKILL) or expired is taken over. Raise Conflict if busy."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    with unit_of_work(ctx):
        state = state_of(ctx, connection, LEASE)
    lease = dict(state.bookmark or {})
    until = _as_key(lease.get("until"), "timestamp")
    if lease.get("owner") not in (None, me) and until is not None and until > utcnow() and _alive(lease["owner"]):
        raise Conflict(_("A sync of %(name)s is already running (%(owner)s).", name=connection, owner=lease["owner"]))
    taken = ctx.session.execute(update(SyncState).where(SyncState.id == state.id,
                                                        SyncState.updated_at == state.updated_at).values(
        bookmark={"owner": me, "until": (utcnow() + dt.timedelta(minutes=minutes)).isoformat()}, updated_at=utcnow()))
    ctx.session.commit()
    if taken.rowcount != 1:
        raise Conflict(_("A sync of %(name)s is already running (%(owner)s).", name=connection, owner="?"))
    return me


def release_lease(ctx: ServiceContext, connection: str, owner: str) -> None:
    state = state_of(ctx, connection, LEASE)
    if (state.bookmark or {}).get("owner") == owner:
        state.bookmark = {}
    ctx.session.commit()
