"""Delivery to an OA: the outbox handler ``oa`` submits and cancels requests, and ``reconcile`` asks
the OA about approvals pending too long (lost callbacks, unknown submit outcomes).

A result only reaches the request through the core's ``approvals.apply_state`` (forward only).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from crmcore.contracts import OutboxHandler
from crmcore.db import utcnow
from crmcore.events import jsonable
from crmcore.models import ApprovalRequest, User
from crmcore import conditions
from crmcore.services.approvals import INTERNAL, OPEN, PROVIDER_TOPICS, apply_state, pending_too_long, record_decision, record_of
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from .settings import provider


def submission(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
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


def deliver_oa(ctx: ServiceContext, message: Any) -> None:
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


def reconcile(ctx: ServiceContext, now: dt.datetime | None = None, older_than: int | None = None) -> dict[str, int]:
    """Ask the OA about external approvals pending too long (lost callbacks, unknown submit outcomes)."""
    now = now or utcnow()
    age = dt.timedelta(seconds=older_than if older_than is not None else pending_too_long(ctx))
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



def handler() -> OutboxHandler:
    """The outbox destination ``oa``: approval submissions and cancellations for the OA providers."""
    return OutboxHandler("oa", PROVIDER_TOPICS, deliver_oa)

