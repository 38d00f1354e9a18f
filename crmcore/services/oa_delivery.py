"""Delivery to external OA providers: their settings, submission through the outbox, the callback
inbox (nonces, dedupe, processing) and reconciliation of approvals pending too long.

The OA half of approvals, kept apart from the core's requests and decisions (``approvals``),
which it drives only through ``approvals.apply_state`` and ``approvals.record_decision``.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..errors import NotFound, ValidationError
from ..events import jsonable, record_change
from ..i18n import _
from ..models import ApprovalRequest, OACallback, OANonce, OAProviderSetting, User
from . import conditions
from .approvals import INTERNAL, OPEN, apply_state, record_decision, record_of
from .unit import unit_of_work

log = logging.getLogger(__name__)
RECONCILE_AFTER = 600  # seconds an external approval may stay pending before we ask its OA


def provider_config(ctx: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, secrets)`` of a provider: the settings file's ``OA.<name>``, overridden by the admin's row."""
    base = dict(((ctx.settings.get("OA") or {}).get(name)) or {})
    secrets = {k: base.pop(k) for k in list(base) if k in ("secret", "app_secret", "token", "aes_key", "encrypt_key",
                                                             "verification_token", "corp_secret", "encoding_aes_key")}
    row = ctx.session.scalar(select(OAProviderSetting).where(OAProviderSetting.provider == name))
    if row is not None:
        base.update(row.config or {})
        secrets.update(row.secrets or {})
    return base, secrets


def provider(ctx: Any, name: str) -> Any:
    """An instance of the OA provider ``name`` configured from its settings."""
    cls = ctx.registry.oa_providers.get(name)
    if cls is None:
        raise ValidationError(_("No OA provider named '%(name)s' is loaded.", name=name))
    config, secrets = provider_config(ctx, name)
    return cls(config=config, secrets=secrets)


def save_provider_settings(ctx: Any, name: str, config: dict[str, Any], secrets: dict[str, Any]) -> OAProviderSetting:
    """Store a provider's settings; an empty secret keeps the stored one (secrets are write-only)."""
    ctx.require("workflow.manage")
    with unit_of_work(ctx):
        row = ctx.session.scalar(select(OAProviderSetting).where(OAProviderSetting.provider == name))
        if row is None:
            row = OAProviderSetting(provider=name, config={}, secrets={})
            ctx.session.add(row)
        row.config = dict(config)
        kept = dict(row.secrets or {})
        kept.update({k: v for k, v in secrets.items() if v not in (None, "")})
        row.secrets = kept
        ctx.session.flush()
        record_change(ctx, "oa_provider", "updated", row.id, data={
            "provider": name, "config": sorted(config), "secrets_set": sorted(k for k, v in secrets.items() if v)})
    return row


def submission(ctx: Any, request: ApprovalRequest) -> dict[str, Any]:
    """What a provider submits: the policy's template, the record's mapped fields, requester and reviewers."""
    record = record_of(ctx, request)
    mapping = request.policy.field_mapping or {}
    form = {target: jsonable(conditions.resolve(record, source)) for target, source in mapping.items()}
    requester = ctx.session.get(User, request.requester_id) if request.requester_id else None
    steps: dict[str, list[str]] = {}
    for task in request.tasks:
        steps.setdefault(str(task.step), []).append(task.approver.username)
    return {"idempotency_key": request.idempotency_key, "request_id": request.id, "template": request.policy.template,
            "title": f"{request.entity} {request.entity_id}: {request.action}", "entity": request.entity,
            "entity_id": request.entity_id, "action": request.action, "form": form,
            "requester": requester.username if requester else None, "approvers": steps}


def deliver_oa(ctx: Any, message: Any) -> None:
    """Outbox handler ``oa``: submit a request (finding it first after an unknown outcome) or cancel it."""
    request = ctx.session.get(ApprovalRequest, message.payload.get("entity_id"))
    if request is None:
        return
    oa = provider(ctx, request.provider)
    if message.topic == "approval.cancel":
        if request.external_id:
            oa.cancel(request.external_id)
        return
    if request.status != "submitting":
        return  # already submitted (a repeat), withdrawn or restarted meanwhile
    state = oa.find(request.idempotency_key) if message.attempts > 1 else None
    if state is None:
        state = oa.submit(submission(ctx, request))
    request.external_id = state.external_id
    record_decision(ctx, request, "sent", source=f"oa:{request.provider}", comment=state.external_id, actor_label=request.provider)
    apply_state(ctx, request, state, source=f"oa:{request.provider}")
    if request.status == "submitting":
        request.status = "pending"


def remember_nonce(ctx: Any, provider_name: str, nonce: str, *, keep: int = 86400) -> bool:
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


def receive_callback(ctx: Any, provider_name: str, event: Any) -> OACallback | None:
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


def process_callback(ctx: Any, callback: OACallback) -> str:
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


def process_inbox(ctx: Any, limit: int = 100) -> dict[str, int]:
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


def replay_callback(ctx: Any, callback_id: int) -> OACallback:
    """Process a failed or ignored callback again (the approvals monitor's replay)."""
    ctx.require("approval.manage")
    callback = ctx.session.get(OACallback, callback_id)
    if callback is None:
        raise NotFound(_("Callback %(id)s does not exist.", id=callback_id))
    with unit_of_work(ctx):
        process_callback(ctx, callback)
    return callback


def reconcile(ctx: Any, now: dt.datetime | None = None, older_than: int | None = None) -> dict[str, int]:
    """Ask the OA about external approvals pending too long (lost callbacks, unknown submit outcomes)."""
    now = now or utcnow()
    age = dt.timedelta(seconds=older_than if older_than is not None else
                       int(ctx.settings.get("APPROVAL_RECONCILE_AFTER") or RECONCILE_AFTER))
    counts = {"checked": 0, "changed": 0, "failed": 0}
    stmt = select(ApprovalRequest.id).where(
        ApprovalRequest.provider != INTERNAL, ApprovalRequest.status.in_(OPEN), ApprovalRequest.updated_at <= now - age,
        or_(ApprovalRequest.last_polled_at.is_(None), ApprovalRequest.last_polled_at <= now - age))
    for request_id in list(ctx.session.scalars(stmt)):
        request = ctx.session.get(ApprovalRequest, request_id)
        counts["checked"] += 1
        try:
            with unit_of_work(ctx):
                oa = provider(ctx, request.provider)
                if request.external_id:
                    state = oa.fetch(request.external_id)
                else:
                    state = oa.find(request.idempotency_key)
                    if state is not None:
                        request.external_id = state.external_id
                request.last_polled_at = utcnow()
                if state is not None and apply_state(ctx, request, state, source=f"reconcile:{request.provider}"):
                    counts["changed"] += 1
        except Exception as exc:  # noqa: BLE001 - the next run tries again
            counts["failed"] += 1
            request = ctx.session.get(ApprovalRequest, request_id)
            request.last_error, request.last_polled_at = f"{type(exc).__name__}: {exc}"[:2000], utcnow()
            ctx.session.commit()
    return counts
