"""Delivering the transactional outbox: at least once, claimed per worker, per destination with backoff.

Delivery claims messages (``claimed_by``/``claimed_until``, one conditional UPDATE, ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), so two workers never deliver one message twice and a crashed worker's claim
expires. Each destination drains in batches within a time slice of its own, so a slow one does not
hold up the others; a destination found down (connection refused, a retriable adapter error) is
paused with a growing backoff shared by every worker (``outbox_destinations``).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import event as sa_event
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..config import setting_int
from ..db import utcnow
from ..errors import NotFound, RetriableAdapterError
from ..i18n import _
from ..models.integration import OutboxDestination, OutboxMessage

if TYPE_CHECKING:
    from ..runtime import ServiceContext

log = logging.getLogger(__name__)
BASE_DELAY = 5  # seconds; doubles per attempt
MAX_DELAY = 3600
BATCH = 100  # messages claimed at once per destination
LEASE_SECONDS = 300  # a claim lasts this long; renewed while the worker still delivers
SLICE_SECONDS = 30.0  # time one destination may take per run: a slow one leaves the rest to the next run
_ACTIVE = "crm_outbox_active"  # session.info: {handler name: exists?}, asked once per transaction


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1)))


# ---------------------------------------------------------------------------
# Writing: only destinations that exist
# ---------------------------------------------------------------------------

def active_handlers(ctx: ServiceContext) -> list[Any]:
    """The outbox handlers whose destination exists now (each handler's ``active(ctx)``, asked once
    per transaction): events get rows only for these (no ``erp`` rows without an ERP connection)."""
    handlers = ctx.registry.outbox_handlers
    if not handlers:
        return []
    known: dict[str, bool] = ctx.session.info.setdefault(_ACTIVE, {})
    out = []
    for name, handler in handlers.items():
        if name not in known:
            known[name] = handler.active is None or bool(handler.active(ctx))
        if known[name]:
            out.append(handler)
    return out


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_active(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: a destination may come or go
        session.info.pop(_ACTIVE, None)


# ---------------------------------------------------------------------------
# Delivering
# ---------------------------------------------------------------------------

def worker_id() -> str:
    """A name for this delivery run: host, process and a random part (shown on claimed messages)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def due_ids_stmt(destination: str, now: dt.datetime, limit: int) -> Any:
    """The due, unclaimed messages of one destination, oldest first (index ``ix_outbox_destination_due``)."""
    return (select(OutboxMessage.id)
            .where(OutboxMessage.destination == destination, OutboxMessage.status == "pending",
                   OutboxMessage.next_attempt_at <= now,
                   or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
            .with_for_update(skip_locked=True))


def claim(session: Session, destination: str, worker: str, now: dt.datetime, *, limit: int = BATCH,
          lease: int = LEASE_SECONDS) -> list[int]:
    """Claim up to ``limit`` due messages of ``destination`` for ``worker`` and commit; return their ids.

    The candidates are read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (rows another worker is claiming
    are passed over, not waited for), then taken by one conditional UPDATE in the same transaction: a
    message claimed by another worker whose claim has not expired is never taken."""
    candidates = list(session.scalars(due_ids_stmt(destination, now, limit)))
    if not candidates:
        session.commit()
        return []
    stmt = (update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), OutboxMessage.status == "pending",
                   or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now))
            .values(claimed_by=worker, claimed_until=now + dt.timedelta(seconds=lease))
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False))
    ids = sorted(session.scalars(stmt).all())
    session.commit()
    return ids


def _renew(session: Session, ids: list[int], worker: str, now: dt.datetime, lease: int) -> set[int]:
    """Extend this worker's claims on ``ids``; return those it still holds (an expired one may be another's)."""
    stmt = (update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker, OutboxMessage.status == "pending")
            .values(claimed_until=now + dt.timedelta(seconds=lease))
            .returning(OutboxMessage.id).execution_options(synchronize_session=False))
    held = set(session.scalars(stmt).all())
    session.commit()
    return held


def _release(session: Session, ids: list[int], worker: str) -> None:
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker)
                        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
        session.commit()


def destination_down(exc: BaseException) -> bool:
    """Whether a failure says the destination itself is unreachable (not this one message)."""
    return isinstance(exc, (RetriableAdapterError, OSError))


def _paused(session: Session, name: str, now: dt.datetime) -> bool:
    state = session.get(OutboxDestination, name)
    return state is not None and state.paused_until is not None and state.paused_until > now


def _note_destination(session: Session, name: str, now: dt.datetime, exc: BaseException | None) -> None:
    state = session.get(OutboxDestination, name)
    if exc is None:
        if state is not None and (state.failures or state.paused_until is not None):
            state.failures, state.paused_until, state.last_error = 0, None, None
        return
    if state is None:
        state = OutboxDestination(name=name, failures=0)
        session.add(state)
    state.failures = (state.failures or 0) + 1
    state.paused_until = now + backoff(state.failures)
    state.last_error = f"{type(exc).__name__}: {exc}"[:2000]


def resume(session: Session, name: str) -> None:
    """End a destination's pause (its settings changed): it is tried at the next delivery run."""
    state = session.get(OutboxDestination, name)
    if state is not None:
        state.failures, state.paused_until = 0, None


def _deliver_one(ctx: ServiceContext, handler: Any, msg_id: int, now: dt.datetime, counts: dict[str, int]) -> BaseException | None:
    """Deliver one claimed message and commit its outcome; return the failure, if any."""
    msg = ctx.session.get_one(OutboxMessage, msg_id)
    msg.attempts += 1
    try:
        handler.deliver(ctx, msg)
    except Exception as exc:  # noqa: BLE001 - any failure is retried, then parked
        ctx.session.rollback()
        msg = ctx.session.get_one(OutboxMessage, msg_id)
        msg.attempts += 1
        msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        msg.claimed_by = msg.claimed_until = None
        if msg.attempts >= handler.max_attempts:
            msg.status = "dead"
            counts["dead"] += 1
        else:
            msg.next_attempt_at = now + backoff(msg.attempts)
            counts["retry"] += 1
        log.warning("outbox message %s to %s failed (attempt %s): %s", msg.id, msg.destination, msg.attempts, exc)
        if destination_down(exc):
            _note_destination(ctx.session, handler.name, now, exc)
        ctx.session.commit()
        return exc
    msg = ctx.session.get_one(OutboxMessage, msg_id)  # the handler may have committed (and expired it)
    msg.status, msg.delivered_at, msg.last_error = "delivered", utcnow(), None
    msg.claimed_by = msg.claimed_until = None
    counts["delivered"] += 1
    ctx.session.commit()
    return None


def deliver_destination(ctx: ServiceContext, handler: Any, counts: dict[str, int], *, now: dt.datetime, worker: str,
                        limit: int, batch: int = BATCH, budget: float = float("inf"), lease: int = LEASE_SECONDS,
                        clock: Callable[[], float] = time.monotonic) -> tuple[int, bool]:
    """Deliver up to ``limit`` due messages of one destination within ``budget`` seconds; return how
    many were tried and whether it may have more. A failure saying the destination is down pauses
    it and releases its other claims."""
    session = ctx.session
    deadline = clock() + budget
    if _paused(session, handler.name, now):
        session.commit()
        return 0, False
    tried = 0
    while tried < limit:
        ids = claim(session, handler.name, worker, now, limit=min(batch, limit - tried), lease=lease)
        if not ids:
            return tried, False
        claimed_at = clock()
        for i, msg_id in enumerate(ids):
            if clock() >= deadline:
                _release(session, ids[i:], worker)  # its time is up: the next run (or worker) goes on
                return tried, False
            if clock() - claimed_at >= lease / 2:  # a long batch: keep the claims, skip any lost meanwhile
                held = _renew(session, ids[i:], worker, now + dt.timedelta(seconds=clock() - claimed_at), lease)
                claimed_at = clock()
                if msg_id not in held:
                    continue
            tried += 1
            failure = _deliver_one(ctx, handler, msg_id, now, counts)
            if failure is not None and destination_down(failure):
                _release(session, ids[i + 1:], worker)
                return tried, False
        _note_destination(session, handler.name, now, None)
        session.commit()
    return tried, True


def _unroutable(ctx: ServiceContext, now: dt.datetime, limit: int, counts: dict[str, int]) -> None:
    """Messages for a destination no loaded plugin handles: noted and retried later (its plugin may return)."""
    names = list(ctx.registry.outbox_handlers)
    stmt = (select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at).limit(limit))
    if names:
        stmt = stmt.where(OutboxMessage.destination.not_in(names))
    for msg in ctx.session.scalars(stmt).all():
        counts["unroutable"] += 1
        msg.last_error = f"no handler named {msg.destination!r} is loaded"
        msg.next_attempt_at = now + backoff(msg.attempts + 1)
    ctx.session.commit()


def deliver_due(ctx: ServiceContext, *, limit: int = 1000, now: dt.datetime | None = None, destinations: list[str] | None = None,
                batch: int | None = None, time_slice: float | None = None,
                clock: Callable[[], float] = time.monotonic) -> dict[str, int]:
    """Deliver pending messages whose time has come; return counts of delivered, retried, dead, unroutable.

    Destinations take turns, a batch each, until ``limit`` messages were tried or none is due; each
    destination stops when its time slice is spent (a slow one does not hold up the others). Each message is committed on its own, so a crash loses at most the one
    in flight, which is then delivered again once its claim expires (the receiver drops it by
    ``idempotency_key``). Settings: ``OUTBOX_BATCH``, ``OUTBOX_SLICE_SECONDS``, ``OUTBOX_LEASE_SECONDS``.
    """
    now = now or utcnow()
    settings = ctx.settings
    batch = batch or setting_int(settings, "OUTBOX_BATCH", BATCH, minimum=1)
    if time_slice is None:
        time_slice = float(setting_int(settings, "OUTBOX_SLICE_SECONDS", int(SLICE_SECONDS), minimum=1))
    lease = setting_int(settings, "OUTBOX_LEASE_SECONDS", LEASE_SECONDS, minimum=10)
    counts = {"delivered": 0, "retry": 0, "dead": 0, "unroutable": 0}
    worker = worker_id()
    handlers = [h for name, h in sorted(ctx.registry.outbox_handlers.items())
                if destinations is None or name in destinations]
    budgets = {h.name: time_slice for h in handlers}  # each destination's own time this run
    left = limit
    while left > 0 and handlers:  # rounds: each destination one batch per turn
        more = []
        for handler in handlers:
            started = clock()
            tried, has_more = deliver_destination(ctx, handler, counts, now=now, worker=worker, limit=min(left, batch),
                                                  batch=batch, budget=budgets[handler.name], lease=lease, clock=clock)
            budgets[handler.name] -= clock() - started
            left -= tried
            if has_more and budgets[handler.name] > 0:
                more.append(handler)
            if left <= 0:
                break
        handlers = more
    if destinations is None and left > 0:
        _unroutable(ctx, now, min(left, batch), counts)
    return counts


def replay(ctx: ServiceContext, message_id: int) -> OutboxMessage:
    """Put a dead or delivered message back in the queue (admins use this after a fix)."""
    ctx.require("outbox.manage")
    msg = ctx.session.get(OutboxMessage, message_id)
    if msg is None:
        raise NotFound(_("Outbox message %(id)s does not exist.", id=message_id))
    msg.status, msg.next_attempt_at, msg.attempts = "pending", utcnow(), 0
    msg.claimed_by = msg.claimed_until = None
    ctx.session.commit()
    return msg
