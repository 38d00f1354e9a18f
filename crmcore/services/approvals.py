"""Approval requests: opening one for a record, reviewer tasks and decisions, the outcome, reminders.

A request opens when a policy (``approval_policies``) has tiers whose condition holds for the
record. With the ``internal`` provider every reviewer gets a task (their inbox); tiers run in
step order, each in parallel or in turn until its quorum approved; a rejection stops the
request. Another provider is told through the outbox (events ``approval.submit`` and
``approval.cancel``, with the request's idempotency key) and reports back through
:func:`apply_state`, which only moves a request forward. Every decision is a row of
``approval_decisions`` and an audit entry.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TYPE_CHECKING

from sqlalchemy import func, or_, select

from ..contracts import Event
from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..events import emit, record_change
from ..i18n import _
from ..models import (ApprovalDecision, ApprovalPolicy, ApprovalRequest, ApprovalTask, ApprovalTier, User,
                      WorkflowDefinition, WorkflowTransition)
from ..models.workflow import FINAL_STATES
from .approval_policies import (INTERNAL, POLICY_FIELDS, TIER_FIELDS, applicable_tiers, create_policy,
                                describe_policy, get_policy, key_snapshot, list_policies, policy_for, update_policy)
from .approval_reviewers import find_user, owner_id, reviewers_of
from .transitions import apply_transition
from .unit import unit_of_work
from .workflow_registry import actions, entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext

OPEN = ("submitting", "pending")
PROVIDER_TOPICS = ("approval.submit", "approval.cancel")  # events telling another provider (outbox)
PENDING_TOO_LONG = 600  # seconds an approval at another provider may wait before it is asked (and shown stuck)
__all__ = ["INTERNAL", "OPEN", "PENDING_TOO_LONG", "PROVIDER_TOPICS", "POLICY_FIELDS", "RANK", "TIER_FIELDS", "applicable_tiers", "apply_state", "create_policy",
           "decide", "describe_policy", "finish", "get_policy", "get_request", "inbox", "key_snapshot", "list_policies",
           "list_requests", "open_request", "pending_too_long", "policy_for", "record_decision", "record_of", "remind_and_escalate",
           "restart_if_key_fields_changed", "reviewers_of", "revoke", "start", "terminate", "update_policy", "withdraw"]


# ---------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------


def record_decision(ctx: ServiceContext, request: ApprovalRequest, decision: str, *, comment: str | None = None, step: int | None = None,
                    source: str | None = None, actor: User | None = None, actor_label: str | None = None) -> ApprovalDecision:
    """Add a row to the request's decision history (by the actor of ``ctx`` unless ``actor`` is given)."""
    actor = actor if actor is not None else ctx.actor
    row = ApprovalDecision(request=request, step=step, decision=decision, actor_id=getattr(actor, "id", None),
                           actor_label=(actor_label or (actor.username if actor is not None else ctx.actor_label))[:120],
                           comment=comment, source=(source or ctx.source)[:64], at=utcnow())
    ctx.session.add(row)
    return row


def start(ctx: ServiceContext, policy: ApprovalPolicy, entity: str, record: Any, *, action: str, to_state: str | None = None,
          transition: WorkflowTransition | None = None, comment: str | None = None,
          allow_self: bool | None = None) -> ApprovalRequest | None:
    """Open an approval request when some tier of ``policy`` applies to ``record``; None when none does.

    Runs inside the caller's transaction. Reviewers who are the requester or the record's owner
    are left out unless self-approval is allowed; a tier left without reviewers is an error.
    """
    tiers = applicable_tiers(ctx, policy, record)
    if not tiers:
        return None
    allow_self = policy.allow_self_approval if allow_self is None else allow_self
    excluded = set() if allow_self else {getattr(ctx.actor, "id", None), owner_id(ctx, entity, record)} - {None}
    plan: list[tuple[ApprovalTier, list[User]]] = []
    for tier in tiers:
        people: list[User] = []
        for spec in tier.reviewers or []:
            for user in reviewers_of(ctx, spec, record):
                if user.id not in excluded and user not in people:
                    people.append(user)
        if not people:
            raise ValidationError(_("Nobody can approve step %(step)s: its reviewers are missing, inactive or the "
                                    "requester.", step=tier.step), errors={"reviewers": [str(_("Check the policy's reviewers."))]})
        plan.append((tier, people))
    request = ApprovalRequest(
        policy=policy, transition_id=transition.id if transition is not None else None, entity=entity,
        entity_id=record.id, action=action, to_state=to_state, provider=policy.provider,
        status="pending" if policy.provider == INTERNAL else "submitting", current_step=tiers[0].step,
        requester_id=getattr(ctx.actor, "id", None), idempotency_key=f"{entity}-{record.id}-{action}-{uuid.uuid4().hex[:16]}",
        snapshot=key_snapshot(policy, record), steps=[t.step for t in tiers], comment=comment)
    ctx.session.add(request)
    for tier, people in plan:
        for pos, user in enumerate(people):
            request.tasks.append(ApprovalTask(tier_id=tier.id, step=tier.step, position=pos, approver_id=user.id))
    ctx.session.flush()
    record_decision(ctx, request, "submitted", comment=comment)
    if policy.provider == INTERNAL:
        _open_step(request, tiers[0])
    record_change(ctx, "approval", "created", request.id, data={
        "entity": entity, "entity_id": record.id, "action": action, "policy": policy.name, "provider": policy.provider,
        "steps": request.steps, "reviewers": {str(t.step): [u.username for u in p] for t, p in plan}},
        event_name="approval.requested")
    if policy.provider != INTERNAL:
        emit(ctx, Event(name="approval.submit", entity="approval", entity_id=request.id,
                        data={"request_id": request.id, "provider": request.provider,
                              "idempotency_key": request.idempotency_key}))
    return request


def _tier(request: ApprovalRequest, step: int | None) -> ApprovalTier | None:
    return next((t for t in request.policy.tiers if t.step == step), None)


def _open_step(request: ApprovalRequest, tier: ApprovalTier | None) -> None:
    now = utcnow()
    tasks = [t for t in request.tasks if t.step == request.current_step and t.status == "waiting"]
    if tier is not None and tier.mode == "sequential":
        tasks = tasks[:1]
    for task in tasks:
        task.status, task.opened_at = "pending", now


def get_request(ctx: ServiceContext, request_id: int) -> ApprovalRequest:
    """A request the actor may see: theirs, one they review, or any with ``approval.manage``."""
    ctx.require("approval.read")
    request = ctx.session.get(ApprovalRequest, request_id)
    if request is None or not _may_see(ctx, request):
        raise NotFound(_("Approval request %(id)s does not exist.", id=request_id))
    return request


def _may_see(ctx: ServiceContext, request: ApprovalRequest) -> bool:
    if ctx.actor is None or ctx.can("approval.manage"):
        return True
    me = ctx.actor.id
    return request.requester_id == me or any(t.approver_id == me for t in request.tasks)


def list_requests(ctx: ServiceContext, *, status: str | None = None, entity: str | None = None, entity_id: int | None = None,
                  page: int = 1, page_size: int = 25) -> tuple[list[ApprovalRequest], int]:
    ctx.require("approval.read")
    stmt = select(ApprovalRequest)
    if ctx.actor is not None and not ctx.can("approval.manage"):
        mine = select(ApprovalTask.request_id).where(ApprovalTask.approver_id == ctx.actor.id)
        stmt = stmt.where(or_(ApprovalRequest.requester_id == ctx.actor.id, ApprovalRequest.id.in_(mine)))
    if status:
        stmt = stmt.where(ApprovalRequest.status == status)
    if entity:
        stmt = stmt.where(ApprovalRequest.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(ApprovalRequest.entity_id == entity_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(ApprovalRequest.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def inbox(ctx: ServiceContext) -> list[ApprovalTask]:
    """The actor's pending decisions (internal provider), oldest first."""
    ctx.require("approval.read")
    if ctx.actor is None:
        return []
    stmt = (select(ApprovalTask).join(ApprovalRequest).where(
        ApprovalTask.approver_id == ctx.actor.id, ApprovalTask.status == "pending", ApprovalRequest.status == "pending")
        .order_by(ApprovalTask.opened_at, ApprovalTask.id))
    return list(ctx.session.scalars(stmt))


def decide(ctx: ServiceContext, request_id: int, approve: bool, comment: str | None = None) -> ApprovalRequest:
    """Record the actor's decision on their pending task; complete the step, the request, or reject it."""
    ctx.require("approval.decide")
    request = get_request(ctx, request_id)
    if request.provider != INTERNAL:
        raise Conflict(_("This approval runs in %(provider)s; decide there.", provider=request.provider))
    if request.status != "pending":
        raise Conflict(_("The approval is %(status)s; it takes no more decisions.", status=request.status))
    me = getattr(ctx.actor, "id", None)
    task = next((t for t in request.tasks if t.approver_id == me and t.status == "pending"), None)
    if task is None:
        raise PermissionDenied(_("This approval is not waiting for your decision."))
    tier = _tier(request, task.step)
    comment = (comment or "").strip() or None
    if not approve and comment is None and (tier is None or tier.comment_required_on_reject):
        raise ValidationError(_("Say why you reject it."), errors={"comment": [str(_("Required when rejecting."))]})
    with unit_of_work(ctx):
        task.status, task.decided_at = ("approved" if approve else "rejected"), utcnow()
        record_decision(ctx, request, "approved" if approve else "rejected", comment=comment, step=task.step)
        record_change(ctx, "approval", "decided", request.id, data={
            "decision": task.status, "step": task.step, "comment": comment}, event_name="approval.decision")
        if not approve:
            finish(ctx, request, "rejected", comment=comment)
        else:
            _advance(ctx, request, tier)
    return request


def _advance(ctx: ServiceContext, request: ApprovalRequest, tier: ApprovalTier | None) -> None:
    step_tasks = [t for t in request.tasks if t.step == request.current_step]
    approved = sum(1 for t in step_tasks if t.status == "approved")
    quorum = (tier.quorum if tier is not None else 1) or len(step_tasks)
    if approved < min(quorum, len(step_tasks)):
        _open_step(request, tier)  # sequential: the next reviewer's turn
        return
    for t in step_tasks:
        if t.status in ("waiting", "pending"):
            t.status = "skipped"
    done = request.current_step
    later = [s for s in request.steps if s > (done or 0)]
    if not later:
        finish(ctx, request, "approved")
        return
    request.current_step = later[0]
    _open_step(request, _tier(request, request.current_step))
    record_decision(ctx, request, "step_completed", step=done)


def finish(ctx: ServiceContext, request: ApprovalRequest, status: str, *, comment: str | None = None, source: str | None = None) -> None:
    """Close a request (inside the caller's transaction): apply the transition when approved, run the
    policy's compensating action when withdrawn or revoked, and let plugins apply the outcome."""
    assert status in FINAL_STATES, status
    previous = request.status
    request.status, request.decided_at = status, utcnow()
    for task in request.tasks:
        if task.status in ("waiting", "pending"):
            task.status = "skipped"
    record = record_of(ctx, request)
    if status == "approved" and request.transition_id is not None and record is not None:
        tr = ctx.session.get(WorkflowTransition, request.transition_id)
        wf = ctx.session.get(WorkflowDefinition, tr.workflow_id) if tr is not None else None
        if tr is not None and wf is not None:
            apply_transition(ctx, wf, tr, record, comment=comment, request_id=request.id)
    if status in ("withdrawn", "revoked") and request.policy.compensation and record is not None:
        actions(ctx)[request.policy.compensation].func(ctx, record, {"request_id": request.id, "status": status})
        record_decision(ctx, request, "compensated", comment=request.policy.compensation, source=source)
    ctx.hook.crm_approval_completed(ctx=ctx, request=request, record=record)
    record_change(ctx, "approval", "updated", request.id, {"status": [previous, status]},
                  data={"entity": request.entity, "entity_id": request.entity_id, "action": request.action,
                        "comment": comment}, event_name=f"approval.{status}")


def record_of(ctx: ServiceContext, request: ApprovalRequest) -> Any:
    """The record the request is about, or None when its entity is no longer registered."""
    spec = entities(ctx).get(request.entity)
    return ctx.session.get(spec.model, request.entity_id) if spec is not None else None


def withdraw(ctx: ServiceContext, request_id: int, comment: str | None = None) -> ApprovalRequest:
    """The requester (or an approvals manager) withdraws an open request; the OA is told to cancel."""
    request = get_request(ctx, request_id)
    if request.status not in OPEN:
        raise Conflict(_("The approval is %(status)s; only an open one can be withdrawn.", status=request.status))
    if ctx.actor is not None and request.requester_id != ctx.actor.id and not ctx.can("approval.manage"):
        raise PermissionDenied(_("Only the requester can withdraw this approval."))
    with unit_of_work(ctx):
        record_decision(ctx, request, "withdrawn", comment=comment)
        _cancel_at_provider(ctx, request)
        finish(ctx, request, "withdrawn", comment=comment)
    return request


def revoke(ctx: ServiceContext, request_id: int, comment: str | None = None) -> ApprovalRequest:
    """Revoke an approved request (approvals managers, internal provider): its compensating action runs."""
    ctx.require("approval.manage")
    request = get_request(ctx, request_id)
    if request.status != "approved":
        raise Conflict(_("Only an approved request can be revoked; this one is %(status)s.", status=request.status))
    if not (comment or "").strip():
        raise ValidationError(_("Say why the approval is revoked."), errors={"comment": [str(_("Required."))]})
    with unit_of_work(ctx):
        record_decision(ctx, request, "revoked", comment=comment)
        finish(ctx, request, "revoked", comment=comment)
    return request


def _cancel_at_provider(ctx: ServiceContext, request: ApprovalRequest) -> None:
    if request.provider != INTERNAL:
        emit(ctx, Event(name="approval.cancel", entity="approval", entity_id=request.id,
                        data={"request_id": request.id, "provider": request.provider}))


def terminate(ctx: ServiceContext, request: ApprovalRequest, decision: str, comment: str | None = None) -> None:
    """End an open request without applying any outcome (the record was decided, cancelled or
    changed elsewhere): tasks are skipped, the OA is told to cancel, the decision is recorded."""
    request.status, request.decided_at = "terminated", utcnow()
    for task in request.tasks:
        if task.status in ("waiting", "pending"):
            task.status = "skipped"
    record_decision(ctx, request, decision, comment=comment)
    _cancel_at_provider(ctx, request)
    record_change(ctx, "approval", "updated", request.id, {"status": ["pending", "terminated"]},
                  data={"reason": decision, "comment": comment}, event_name=f"approval.{decision}")


def open_request(ctx: ServiceContext, entity: str, entity_id: int) -> ApprovalRequest | None:
    """The record's running approval, if any."""
    return ctx.session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.entity == entity, ApprovalRequest.entity_id == entity_id, ApprovalRequest.status.in_(OPEN)))


def restart_if_key_fields_changed(ctx: ServiceContext, entity: str, record: Any, changes: dict[str, Any]) -> list[ApprovalRequest]:
    """A write touching a key field of an open request ends it (``terminated``, decision ``restarted``)
    and opens a new one on the changed record (core ``crm_before_save``)."""
    if not changes or getattr(record, "id", None) is None or entity not in entities(ctx):
        return []
    with ctx.session.no_autoflush:  # the write is not flushed yet: flushing here would bump its version twice
        open_requests = ctx.session.scalars(select(ApprovalRequest).where(
            ApprovalRequest.entity == entity, ApprovalRequest.entity_id == record.id,
            ApprovalRequest.status.in_(OPEN))).all()
    # unflushed: a request ended earlier in this same write still reads as open in the database
    open_requests = [r for r in open_requests if r.status in OPEN]
    if not open_requests:
        return []
    with ctx.session.no_autoflush:  # one flush for the write and the restart: the version moves by one
        return _restart(ctx, entity, record, changes, open_requests)


def _restart(ctx: ServiceContext, entity: str, record: Any, changes: dict[str, Any],
             open_requests: list[ApprovalRequest]) -> list[ApprovalRequest]:
    started = []
    for request in open_requests:
        keys = set(request.policy.key_fields or [])
        if not keys & set(changes) and request.snapshot == key_snapshot(request.policy, record):
            continue
        terminate(ctx, request, "restarted", ", ".join(sorted(keys & set(changes))) or None)
        transition = ctx.session.get(WorkflowTransition, request.transition_id) if request.transition_id else None
        requester = ctx.session.get(User, request.requester_id) if request.requester_id else None
        as_requester = ctx.runtime.context(actor=requester, source=ctx.source, session=ctx.session)
        new = start(as_requester, request.policy, entity, record, action=request.action, to_state=request.to_state,
                    transition=transition, comment=request.comment,
                    allow_self=transition.allow_self_approval if transition is not None else None)
        if new is not None:
            started.append(new)
        else:  # the change made the approval unnecessary: the transition happens now
            finish_without_approval(ctx, request, record, transition)
    return started


def finish_without_approval(ctx: ServiceContext, request: ApprovalRequest, record: Any, transition: WorkflowTransition | None) -> None:
    if transition is not None:
        wf = ctx.session.get_one(WorkflowDefinition, transition.workflow_id)
        apply_transition(ctx, wf, transition, record, request_id=request.id)


# ---------------------------------------------------------------------------------------------
# reminders and timeouts (internal provider)
# ---------------------------------------------------------------------------------------------


def remind_and_escalate(ctx: ServiceContext, now: dt.datetime | None = None) -> dict[str, int]:
    """Remind reviewers past their tier's ``remind_after``; past ``timeout_after`` add the escalation
    reviewers (or reject when ``escalate_to`` is ``{"kind": "reject"}``)."""
    now = now or utcnow()
    counts = {"reminded": 0, "escalated": 0, "rejected": 0}
    tasks = ctx.session.scalars(select(ApprovalTask).join(ApprovalRequest).where(
        ApprovalTask.status == "pending", ApprovalRequest.status == "pending")).all()
    for task in tasks:
        request = task.request
        if request.status != "pending":
            continue
        tier = _tier(request, task.step)
        if tier is None or task.opened_at is None:
            continue
        age = (now - task.opened_at).total_seconds()
        if tier.timeout_after and age >= tier.timeout_after and not task.escalated:
            task.escalated = True
            target = tier.escalate_to or {}
            if target.get("kind") == "reject":
                record_decision(ctx, request, "timed_out", step=task.step, source="timeout")
                finish(ctx, request, "rejected", comment=str(_("No decision in time.")), source="timeout")
                counts["rejected"] += 1
            elif target:
                record = record_of(ctx, request)
                present = {t.approver_id for t in request.tasks if t.step == task.step}
                for user in reviewers_of(ctx, target, record):
                    if user.id not in present and user.id != request.requester_id:
                        request.tasks.append(ApprovalTask(tier_id=tier.id, step=task.step, position=99, approver_id=user.id,
                                                          status="pending", opened_at=now, escalated=True))
                record_decision(ctx, request, "escalated", step=task.step, source="timeout",
                                comment=f"{target.get('kind')}: {target.get('value')}")
                counts["escalated"] += 1
            record_change(ctx, "approval", "escalated", request.id, data={"task": task.id}, event_name="approval.escalated")
        elif tier.remind_after and age >= tier.remind_after and task.reminded_at is None:
            task.reminded_at = now
            record_decision(ctx, request, "reminded", step=task.step, source="reminder", actor_label=task.approver.username)
            emit(ctx, Event(name="approval.reminder", entity="approval", entity_id=request.id,
                            data={"task_id": task.id, "approver_id": task.approver_id}))
            counts["reminded"] += 1
        ctx.session.commit()
    return counts


# ---------------------------------------------------------------------------------------------
# the outcome reported by another provider
# ---------------------------------------------------------------------------------------------


RANK = {"submitting": 0, "unknown": 0, "pending": 1, "approved": 2, "rejected": 2, "withdrawn": 2, "terminated": 2,
        "revoked": 3}


def pending_too_long(ctx: ServiceContext) -> int:
    """Seconds an approval at another provider may stay open before it is asked again and shown stuck
    (setting ``APPROVAL_RECONCILE_AFTER``, default 600)."""
    return int(ctx.settings.get("APPROVAL_RECONCILE_AFTER") or PENDING_TOO_LONG)


def apply_state(ctx: ServiceContext, request: ApprovalRequest, state: Any, *, source: str) -> bool:
    """Move ``request`` forward to the provider's authoritative ``state``; never backwards.

    The one way another provider's result reaches a request: ``state`` has ``status`` (one of
    ``submitting pending approved rejected withdrawn terminated revoked unknown``) and
    ``decisions`` (``[{"approver", "decision", "comment", "at"}]``). Runs in the caller's transaction.

    :return: True when the request changed.
    """
    request.last_polled_at = utcnow()
    new, old = state.status, request.status
    if new == old or RANK.get(new, 0) <= RANK.get(old, 0):
        return False
    if new == "revoked" and old != "approved":
        new = "withdrawn" if old in OPEN else old  # revoked before approval is a withdrawal
        if new == old:
            return False
    if new == "pending":
        request.status = "pending"
        return True
    for d in state.decisions or []:
        record_decision(ctx, request, str(d.get("decision") or new)[:24], comment=d.get("comment"), source=source,
                        actor=find_user(ctx, d.get("approver")) if d.get("approver") else None,
                        actor_label=str(d.get("approver") or source))
    comment = next((d.get("comment") for d in reversed(state.decisions or []) if d.get("comment")), None)
    finish(ctx, request, new, comment=comment, source=source)
    return True
