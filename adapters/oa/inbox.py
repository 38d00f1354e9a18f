"""The OA callback inbox: remembered nonces, verified events stored once per dedupe key, and their
processing (fetch the authoritative state, move the request forward), each in its own transaction."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crmcore.db import utcnow
from crmcore.errors import NotFound
from crmcore.events import jsonable
from crmcore.i18n import _
from crmcore.models import ApprovalRequest
from crmcore.services.approvals import apply_state
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from .models import OACallback, OANonce
from .settings import provider

log = logging.getLogger(__name__)


def remember_nonce(ctx: ServiceContext, provider_name: str, nonce: str, *, keep: int = 86400) -> bool:
    """Remember a callback's nonce; False when it was seen before (a replay). Old nonces are pruned."""
    now = utcnow()
    ctx.session.query(OANonce).filter(OANonce.provider == provider_name,
                                      OANonce.seen_at < now - dt.timedelta(seconds=keep)).delete()
    savepoint = ctx.session.begin_nested()
    try:
        ctx.session.add(OANonce(provider=provider_name, nonce=str(nonce)[:128], seen_at=now))
        ctx.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def receive_callback(ctx: ServiceContext, provider_name: str, event: Any) -> OACallback | None:
    """Put a verified callback event in the inbox; None when its dedupe key is already there."""
    savepoint = ctx.session.begin_nested()
    try:
        row = OACallback(provider=provider_name, dedupe_key=event.dedupe_key[:200], external_id=event.external_id,
                         event_type=event.event_type[:64], payload=jsonable(event.payload), status="received")
        ctx.session.add(row)
        ctx.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return row


def process_callback(ctx: ServiceContext, callback: OACallback) -> str:
    """Fetch the authoritative state of the callback's approval and move the request forward."""
    callback.attempts += 1
    request = ctx.session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.provider == callback.provider, ApprovalRequest.external_id == callback.external_id))
    if request is None:
        callback.status, callback.error = "ignored", "no approval request with this external id"
    else:
        state = provider(ctx, callback.provider).fetch(request.external_id)
        changed = apply_state(ctx, request, state, source=f"oa:{callback.provider}")
        callback.status = "processed" if changed else "ignored"
        callback.error = None if changed else f"no change: request is {request.status}, OA says {state.status}"
    callback.processed_at = utcnow()
    return callback.status


def process_inbox(ctx: ServiceContext, limit: int = 100) -> dict[str, int]:
    """Process received callbacks, each in its own transaction; a failure is kept for a retry."""
    counts = {"processed": 0, "ignored": 0, "failed": 0}
    ids = list(ctx.session.scalars(select(OACallback.id).where(OACallback.status.in_(("received", "failed")),
                                                              OACallback.attempts < 10)
                                   .order_by(OACallback.id).limit(limit)))
    for cb_id in ids:
        claimed = ctx.session.execute(update(OACallback).where(
            OACallback.id == cb_id, OACallback.status.in_(("received", "failed"))).values(status="processing"))
        ctx.session.commit()
        if claimed.rowcount != 1:
            continue  # another worker has it
        callback = ctx.session.get(OACallback, cb_id)
        try:
            with unit_of_work(ctx):
                counts[process_callback(ctx, callback)] += 1
        except Exception as exc:  # noqa: BLE001 - kept in the inbox for the next run
            callback = ctx.session.get(OACallback, cb_id)
            callback.attempts += 1
            callback.status, callback.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            ctx.session.commit()
            counts["failed"] += 1
            log.warning("OA callback %s failed: %s", cb_id, exc)
    return counts


def replay_callback(ctx: ServiceContext, callback_id: int) -> OACallback:
    """Process a failed or ignored callback again (the approvals monitor's replay)."""
    ctx.require("approval.manage")
    callback = ctx.session.get(OACallback, callback_id)
    if callback is None:
        raise NotFound(_("Callback %(id)s does not exist.", id=callback_id))
    with unit_of_work(ctx):
        process_callback(ctx, callback)
    return callback
