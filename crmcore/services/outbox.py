"""Delivering the transactional outbox: at least once, with backoff, per destination."""
from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..db import utcnow
from ..errors import NotFound
from ..models import OutboxMessage
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

log = logging.getLogger(__name__)
BASE_DELAY = 5  # seconds; doubles per attempt
MAX_DELAY = 3600


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1)))


def deliver_due(ctx: ServiceContext, *, limit: int = 100, now: dt.datetime | None = None) -> dict[str, int]:
    """Deliver pending messages whose time has come; return counts of delivered, retried, dead.

    Each message is committed on its own, so a crash loses at most the one in flight, which
    is then delivered again (the receiver drops it by ``idempotency_key``).
    """
    now = now or utcnow()
    counts = {"delivered": 0, "retry": 0, "dead": 0, "unroutable": 0}
    stmt = (select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id).limit(limit))
    for msg in ctx.session.scalars(stmt).all():
        handler = ctx.registry.outbox_handlers.get(msg.destination)
        if handler is None:
            counts["unroutable"] += 1
            msg.last_error = f"no handler named {msg.destination!r} is loaded"
            msg.next_attempt_at = now + backoff(msg.attempts + 1)
            ctx.session.commit()
            continue
        msg.attempts += 1
        try:
            handler.deliver(ctx, msg)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then parked
            ctx.session.rollback()
            msg = ctx.session.get_one(OutboxMessage, msg.id)
            msg.attempts += 1
            msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if msg.attempts >= handler.max_attempts:
                msg.status = "dead"
                counts["dead"] += 1
            else:
                msg.next_attempt_at = now + backoff(msg.attempts)
                counts["retry"] += 1
            log.warning("outbox message %s to %s failed (attempt %s): %s", msg.id, msg.destination, msg.attempts, exc)
        else:
            msg.status = "delivered"
            msg.delivered_at = utcnow()
            msg.last_error = None
            counts["delivered"] += 1
        ctx.session.commit()
    return counts


def replay(ctx: ServiceContext, message_id: int) -> OutboxMessage:
    """Put a dead or delivered message back in the queue (admins use this after a fix)."""
    ctx.require("outbox.manage")
    msg = ctx.session.get(OutboxMessage, message_id)
    if msg is None:
        raise NotFound(_("Outbox message %(id)s does not exist.", id=message_id))
    msg.status, msg.next_attempt_at, msg.attempts = "pending", utcnow(), 0
    ctx.session.commit()
    return msg
