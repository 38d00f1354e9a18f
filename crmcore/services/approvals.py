"""Approvals: policies with tiers, requests routed to an OA provider, decisions, and their outcome.

A request opens when a policy has tiers whose condition holds for the record. With the
``internal`` provider every reviewer gets a task (their inbox); tiers run in step order, each
in parallel or in turn until its quorum approved; a rejection stops the request. Other
providers receive the request through the outbox (with its idempotency key) and report back
by callback; the state only moves forward, and only after fetching it from the provider.
Every decision is a row of ``approval_decisions`` and an audit entry.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..contracts import Event
from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..events import emit, jsonable, record_change
from ..i18n import _
from ..models import (ApprovalDecision, ApprovalPolicy, ApprovalRequest, ApprovalTask, ApprovalTier, OACallback,
                      OANonce, OAProviderSetting, Role, User, WorkflowDefinition, WorkflowTransition)
from ..models.workflow import FINAL_STATES, REVIEWER_KINDS, TIER_MODES
from .. import conditions
from .unit import unit_of_work
from .workflow_registry import actions, entities

log = logging.getLogger(__name__)
OPEN = ("submitting", "pending")
INTERNAL = "internal"
POLICY_FIELDS = ("name", "entity", "action", "provider", "template", "field_mapping", "key_fields",
                 "allow_self_approval", "compensation", "active")
TIER_FIELDS = ("step", "name", "condition", "reviewers", "quorum", "mode", "comment_required_on_reject",
               "remind_after", "timeout_after", "escalate_to")
RECONCILE_AFTER = 600  # seconds an external approval may stay pending before we ask its OA


# ---------------------------------------------------------------------------------------------
# policies
# ---------------------------------------------------------------------------------------------


def get_policy(ctx: Any, policy_id: int) -> ApprovalPolicy:
    ctx.require("workflow.read")
    policy = ctx.session.get(ApprovalPolicy, policy_id)
    if policy is None:
        raise NotFound(_("Approval policy %(id)s does not exist.", id=policy_id))
    return policy


def list_policies(ctx: Any, entity: str | None = None) -> list[ApprovalPolicy]:
    ctx.require("workflow.read")
    stmt = select(ApprovalPolicy).order_by(ApprovalPolicy.entity, ApprovalPolicy.name)
    if entity:
        stmt = stmt.where(ApprovalPolicy.entity == entity)
    return list(ctx.session.scalars(stmt))


def _check_reviewer(spec: Any, where: str, errors: dict[str, list[str]], *, allow_reject: bool = False) -> None:
    if not isinstance(spec, dict) or spec.get("kind") not in REVIEWER_KINDS + (("reject",) if allow_reject else ()):
        errors.setdefault(where, []).append(str(_("A reviewer is {\"kind\": one of %(kinds)s, \"value\": ...}.",
                                                    kinds=", ".join(REVIEWER_KINDS))))
        return
    if spec["kind"] != "reject" and not spec.get("value"):
        errors.setdefault(where, []).append(str(_("Say which %(kind)s.", kind=spec["kind"])))
    if spec["kind"] in ("field", "manager_of"):
        problem = conditions._path_problem(spec.get("value"))
        if problem:
            errors.setdefault(where, []).append(problem)


def _clean_policy(ctx: Any, data: dict[str, Any], existing: ApprovalPolicy | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if not (data.get("name") or (existing and existing.name)):
        errors["name"] = [str(_("Give the policy a name."))]
    entity = data.get("entity", existing.entity if existing else None)
    if entity not in entities(ctx):
        errors["entity"] = [str(_("Choose one of: %(names)s.", names=", ".join(sorted(entities(ctx))) or "-"))]
    provider = data.get("provider", existing.provider if existing else INTERNAL)
    if provider != INTERNAL and provider not in ctx.registry.oa_providers:
        errors["provider"] = [str(_("No OA provider named '%(name)s' is loaded (loaded: %(known)s).", name=provider,
                                    known=", ".join(sorted(ctx.registry.oa_providers)) or INTERNAL))]
    if data.get("compensation") and data["compensation"] not in actions(ctx):
        errors["compensation"] = [str(_("Unknown action '%(name)s'.", name=data["compensation"]))]
    if "key_fields" in data:
        for name in data["key_fields"] or []:
            problem = conditions._path_problem(name)
            if problem:
                errors.setdefault("key_fields", []).append(f"{name}: {problem}")
    steps: set[int] = set()
    for i, tier in enumerate(data.get("tiers") or []):
        where = f"tiers.{i}"
        step = tier.get("step", i + 1)
        if not isinstance(step, int) or step < 1 or step in steps:
            errors.setdefault(f"{where}.step", []).append(str(_("Steps are distinct whole numbers from 1.")))
        steps.add(step)
        for problem in conditions.validate(tier.get("condition"), ctx):
            errors.setdefault(f"{where}.condition", []).append(problem)
        reviewers = tier.get("reviewers") or []
        if not reviewers:
            errors.setdefault(f"{where}.reviewers", []).append(str(_("Name at least one reviewer.")))
        for j, spec in enumerate(reviewers):
            _check_reviewer(spec, f"{where}.reviewers.{j}", errors)
        if tier.get("escalate_to"):
            _check_reviewer(tier["escalate_to"], f"{where}.escalate_to", errors, allow_reject=True)
        quorum = tier.get("quorum", 1)
        if not isinstance(quorum, int) or quorum < 0:
            errors.setdefault(f"{where}.quorum", []).append(str(_("A quorum is a whole number (0: every reviewer).")))
        if tier.get("mode", "parallel") not in TIER_MODES:
            errors.setdefault(f"{where}.mode", []).append(str(_("Choose parallel or sequential.")))
        for key in ("remind_after", "timeout_after"):
            if tier.get(key) is not None and (not isinstance(tier[key], int) or tier[key] <= 0):
                errors.setdefault(f"{where}.{key}", []).append(str(_("Give a number of seconds.")))
    if errors:
        raise ValidationError(_("The approval policy is not valid; see the errors of each field."), errors=errors)
    return data


def _tiers(data: dict[str, Any]) -> list[ApprovalTier]:
    out = []
    for i, t in enumerate(data.get("tiers") or []):
        values = {k: t[k] for k in TIER_FIELDS if k in t}
        values.setdefault("step", i + 1)
        values["condition"] = values.get("condition") or None
        out.append(ApprovalTier(**values))
    return out


def create_policy(ctx: Any, data: dict[str, Any]) -> ApprovalPolicy:
    """Create an approval policy with ``tiers`` (step, condition, reviewers, quorum, mode, ...)."""
    ctx.require("workflow.manage")
    data = _clean_policy(ctx, data, None)
    with unit_of_work(ctx):
        policy = ApprovalPolicy(**{k: data[k] for k in POLICY_FIELDS if k in data})
        policy.tiers = _tiers(data)
        ctx.session.add(policy)
        ctx.session.flush()
        record_change(ctx, "approval_policy", "created", policy.id, data={"policy": describe_policy(policy)})
    return policy


def update_policy(ctx: Any, policy_id: int, data: dict[str, Any]) -> ApprovalPolicy:
    """Change a policy; ``tiers``, when given, replace all (running requests keep their tasks)."""
    policy = get_policy(ctx, policy_id)
    ctx.require("workflow.manage")
    data = _clean_policy(ctx, data, policy)
    with unit_of_work(ctx):
        before = describe_policy(policy)
        for key in POLICY_FIELDS:
            if key in data:
                setattr(policy, key, data[key])
        if "tiers" in data:
            policy.tiers = []
            ctx.session.flush()  # the new tiers reuse the old step numbers
            policy.tiers = _tiers(data)
        ctx.session.flush()
        after = describe_policy(policy)
        changes = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
        if changes:
            record_change(ctx, "approval_policy", "updated", policy.id, changes)
    return policy


def describe_policy(policy: ApprovalPolicy) -> dict[str, Any]:
    return jsonable({
        "id": policy.id, **{k: getattr(policy, k) for k in POLICY_FIELDS},
        "tiers": [{k: getattr(t, k) for k in TIER_FIELDS} for t in policy.tiers],
    })


def policy_for(ctx: Any, entity: str, action: str) -> ApprovalPolicy | None:
    """The active policy a plugin names by entity and action (for state machines written in code)."""
    return ctx.session.scalar(select(ApprovalPolicy).where(
        ApprovalPolicy.entity == entity, ApprovalPolicy.action == action, ApprovalPolicy.active.is_(True))
        .order_by(ApprovalPolicy.id))


def applicable_tiers(ctx: Any, policy: ApprovalPolicy, record: Any) -> list[ApprovalTier]:
    """The policy's tiers whose condition holds for ``record``, in step order."""
    return [t for t in policy.tiers if conditions.evaluate(t.condition, record, ctx)]


# ---------------------------------------------------------------------------------------------
# reviewers
# ---------------------------------------------------------------------------------------------


def _user(ctx: Any, value: Any) -> User | None:
    if isinstance(value, User):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return ctx.session.get(User, int(value))
    if isinstance(value, str):
        return ctx.session.scalar(select(User).where(User.username == value))
    return None


def reviewers_of(ctx: Any, spec: dict[str, Any], record: Any) -> list[User]:
    """The active users a reviewer spec names: a user, a role, a field of the record, or the manager
    of the user in a field (``{"kind": "manager_of", "value": "owner_id"}``)."""
    kind, value = spec.get("kind"), spec.get("value")
    users: list[User | None]
    if kind == "user":
        users = [_user(ctx, value)]
    elif kind == "role":
        users = list(ctx.session.scalars(select(User).join(Role, User.role_id == Role.id)
                                         .where(Role.name == value).order_by(User.id)))
    elif kind == "field":
        found = conditions.resolve(record, value)
        users = [_user(ctx, v) for v in (found if isinstance(found, list) else [found])]
    elif kind == "manager_of":
        person = _user(ctx, conditions.resolve(record, value))
        users = [person.team.manager if person is not None and person.team is not None else None]
    else:
        users = []
    return [u for u in users if u is not None and u.active]


def _owner_id(ctx: Any, entity: str, record: Any) -> int | None:
    spec = entities(ctx).get(entity)
    field = spec.owner_field if spec is not None else None
    return getattr(record, field, None) if field else None


# ---------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------


def _decision(ctx: Any, request: ApprovalRequest, decision: str, *, comment: str | None = None, step: int | None = None,
              source: str | None = None, actor: User | None = None, actor_label: str | None = None) -> ApprovalDecision:
    actor = actor if actor is not None else ctx.actor
    row = ApprovalDecision(request=request, step=step, decision=decision, actor_id=getattr(actor, "id", None),
                           actor_label=(actor_label or (actor.username if actor is not None else ctx.actor_label))[:120],
                           comment=comment, source=(source or ctx.source)[:64], at=utcnow())
    ctx.session.add(row)
    return row


def start(ctx: Any, policy: ApprovalPolicy, entity: str, record: Any, *, action: str, to_state: str | None = None,
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
    excluded = set() if allow_self else {getattr(ctx.actor, "id", None), _owner_id(ctx, entity, record)} - {None}
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
    _decision(ctx, request, "submitted", comment=comment)
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


def key_snapshot(policy: ApprovalPolicy, record: Any) -> dict[str, Any]:
    return jsonable({name: conditions.resolve(record, name) for name in policy.key_fields or []})


def _tier(request: ApprovalRequest, step: int | None) -> ApprovalTier | None:
    return next((t for t in request.policy.tiers if t.step == step), None)


def _open_step(request: ApprovalRequest, tier: ApprovalTier | None) -> None:
    now = utcnow()
    tasks = [t for t in request.tasks if t.step == request.current_step and t.status == "waiting"]
    if tier is not None and tier.mode == "sequential":
        tasks = tasks[:1]
    for task in tasks:
        task.status, task.opened_at = "pending", now


def get_request(ctx: Any, request_id: int) -> ApprovalRequest:
    """A request the actor may see: theirs, one they review, or any with ``approval.manage``."""
    ctx.require("approval.read")
    request = ctx.session.get(ApprovalRequest, request_id)
    if request is None or not _may_see(ctx, request):
        raise NotFound(_("Approval request %(id)s does not exist.", id=request_id))
    return request


def _may_see(ctx: Any, request: ApprovalRequest) -> bool:
    if ctx.actor is None or ctx.can("approval.manage"):
        return True
    me = ctx.actor.id
    return request.requester_id == me or any(t.approver_id == me for t in request.tasks)


def list_requests(ctx: Any, *, status: str | None = None, entity: str | None = None, entity_id: int | None = None,
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


def inbox(ctx: Any) -> list[ApprovalTask]:
    """The actor's pending decisions (internal provider), oldest first."""
    ctx.require("approval.read")
    if ctx.actor is None:
        return []
    stmt = (select(ApprovalTask).join(ApprovalRequest).where(
        ApprovalTask.approver_id == ctx.actor.id, ApprovalTask.status == "pending", ApprovalRequest.status == "pending")
        .order_by(ApprovalTask.opened_at, ApprovalTask.id))
    return list(ctx.session.scalars(stmt))


def decide(ctx: Any, request_id: int, approve: bool, comment: str | None = None) -> ApprovalRequest:
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
        _decision(ctx, request, "approved" if approve else "rejected", comment=comment, step=task.step)
        record_change(ctx, "approval", "decided", request.id, data={
            "decision": task.status, "step": task.step, "comment": comment}, event_name=f"approval.decision")
        if not approve:
            finish(ctx, request, "rejected", comment=comment)
        else:
            _advance(ctx, request, tier)
    return request


def _advance(ctx: Any, request: ApprovalRequest, tier: ApprovalTier | None) -> None:
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
    _decision(ctx, request, "step_completed", step=done)


def finish(ctx: Any, request: ApprovalRequest, status: str, *, comment: str | None = None, source: str | None = None) -> None:
    """Close a request (inside the caller's transaction): apply the transition when approved, run the
    policy's compensating action when withdrawn or revoked, and let plugins apply the outcome."""
    from .workflow import apply_transition

    assert status in FINAL_STATES, status
    previous = request.status
    request.status, request.decided_at = status, utcnow()
    for task in request.tasks:
        if task.status in ("waiting", "pending"):
            task.status = "skipped"
    record = _record(ctx, request)
    if status == "approved" and request.transition_id is not None and record is not None:
        tr = ctx.session.get(WorkflowTransition, request.transition_id)
        wf = ctx.session.get(WorkflowDefinition, tr.workflow_id) if tr is not None else None
        if tr is not None and wf is not None:
            apply_transition(ctx, wf, tr, record, comment=comment, request_id=request.id)
    if status in ("withdrawn", "revoked") and request.policy.compensation and record is not None:
        actions(ctx)[request.policy.compensation].func(ctx, record, {"request_id": request.id, "status": status})
        _decision(ctx, request, "compensated", comment=request.policy.compensation, source=source)
    ctx.hook.crm_approval_completed(ctx=ctx, request=request, record=record)
    record_change(ctx, "approval", "updated", request.id, {"status": [previous, status]},
                  data={"entity": request.entity, "entity_id": request.entity_id, "action": request.action,
                        "comment": comment}, event_name=f"approval.{status}")


def _record(ctx: Any, request: ApprovalRequest) -> Any:
    spec = entities(ctx).get(request.entity)
    return ctx.session.get(spec.model, request.entity_id) if spec is not None else None


def withdraw(ctx: Any, request_id: int, comment: str | None = None) -> ApprovalRequest:
    """The requester (or an approvals manager) withdraws an open request; the OA is told to cancel."""
    request = get_request(ctx, request_id)
    if request.status not in OPEN:
        raise Conflict(_("The approval is %(status)s; only an open one can be withdrawn.", status=request.status))
    if ctx.actor is not None and request.requester_id != ctx.actor.id and not ctx.can("approval.manage"):
        raise PermissionDenied(_("Only the requester can withdraw this approval."))
    with unit_of_work(ctx):
        _decision(ctx, request, "withdrawn", comment=comment)
        _cancel_at_provider(ctx, request)
        finish(ctx, request, "withdrawn", comment=comment)
    return request


def revoke(ctx: Any, request_id: int, comment: str | None = None) -> ApprovalRequest:
    """Revoke an approved request (approvals managers, internal provider): its compensating action runs."""
    ctx.require("approval.manage")
    request = get_request(ctx, request_id)
    if request.status != "approved":
        raise Conflict(_("Only an approved request can be revoked; this one is %(status)s.", status=request.status))
    if not (comment or "").strip():
        raise ValidationError(_("Say why the approval is revoked."), errors={"comment": [str(_("Required."))]})
    with unit_of_work(ctx):
        _decision(ctx, request, "revoked", comment=comment)
        finish(ctx, request, "revoked", comment=comment)
    return request


def _cancel_at_provider(ctx: Any, request: ApprovalRequest) -> None:
    if request.provider != INTERNAL:
        emit(ctx, Event(name="approval.cancel", entity="approval", entity_id=request.id,
                        data={"request_id": request.id, "provider": request.provider}))


def terminate(ctx: Any, request: ApprovalRequest, decision: str, comment: str | None = None) -> None:
    """End an open request without applying any outcome (the record was decided, cancelled or
    changed elsewhere): tasks are skipped, the OA is told to cancel, the decision is recorded."""
    request.status, request.decided_at = "terminated", utcnow()
    for task in request.tasks:
        if task.status in ("waiting", "pending"):
            task.status = "skipped"
    _decision(ctx, request, decision, comment=comment)
    _cancel_at_provider(ctx, request)
    record_change(ctx, "approval", "updated", request.id, {"status": ["pending", "terminated"]},
                  data={"reason": decision, "comment": comment}, event_name=f"approval.{decision}")


def open_request(ctx: Any, entity: str, entity_id: int) -> ApprovalRequest | None:
    """The record's running approval, if any."""
    return ctx.session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.entity == entity, ApprovalRequest.entity_id == entity_id, ApprovalRequest.status.in_(OPEN)))


def restart_if_key_fields_changed(ctx: Any, entity: str, record: Any, changes: dict[str, Any]) -> list[ApprovalRequest]:
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


def _restart(ctx: Any, entity: str, record: Any, changes: dict[str, Any],
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


def finish_without_approval(ctx: Any, request: ApprovalRequest, record: Any, transition: WorkflowTransition | None) -> None:
    from .workflow import apply_transition

    if transition is not None:
        wf = ctx.session.get(WorkflowDefinition, transition.workflow_id)
        apply_transition(ctx, wf, transition, record, request_id=request.id)


# ---------------------------------------------------------------------------------------------
# reminders and timeouts (internal provider)
# ---------------------------------------------------------------------------------------------


def remind_and_escalate(ctx: Any, now: dt.datetime | None = None) -> dict[str, int]:
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
                _decision(ctx, request, "timed_out", step=task.step, source="timeout")
                finish(ctx, request, "rejected", comment=str(_("No decision in time.")), source="timeout")
                counts["rejected"] += 1
            elif target:
                record = _record(ctx, request)
                present = {t.approver_id for t in request.tasks if t.step == task.step}
                for user in reviewers_of(ctx, target, record):
                    if user.id not in present and user.id != request.requester_id:
                        request.tasks.append(ApprovalTask(tier_id=tier.id, step=task.step, position=99, approver_id=user.id,
                                                          status="pending", opened_at=now, escalated=True))
                _decision(ctx, request, "escalated", step=task.step, source="timeout",
                          comment=f"{target.get('kind')}: {target.get('value')}")
                counts["escalated"] += 1
            record_change(ctx, "approval", "escalated", request.id, data={"task": task.id}, event_name="approval.escalated")
        elif tier.remind_after and age >= tier.remind_after and task.reminded_at is None:
            task.reminded_at = now
            _decision(ctx, request, "reminded", step=task.step, source="reminder", actor_label=task.approver.username)
            emit(ctx, Event(name="approval.reminder", entity="approval", entity_id=request.id,
                            data={"task_id": task.id, "approver_id": task.approver_id}))
            counts["reminded"] += 1
        ctx.session.commit()
    return counts


# ---------------------------------------------------------------------------------------------
# OA providers: settings, submission through the outbox, callbacks, reconciliation
# ---------------------------------------------------------------------------------------------


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
    record = _record(ctx, request)
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
    _decision(ctx, request, "sent", source=f"oa:{request.provider}", comment=state.external_id, actor_label=request.provider)
    apply_state(ctx, request, state, source=f"oa:{request.provider}")
    if request.status == "submitting":
        request.status = "pending"


RANK = {"submitting": 0, "unknown": 0, "pending": 1, "approved": 2, "rejected": 2, "withdrawn": 2, "terminated": 2,
        "revoked": 3}


def apply_state(ctx: Any, request: ApprovalRequest, state: Any, *, source: str) -> bool:
    """Move ``request`` forward to the provider's authoritative ``state``; never backwards.

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
        _decision(ctx, request, str(d.get("decision") or new)[:24], comment=d.get("comment"), source=source,
                  actor=_user(ctx, d.get("approver")) if d.get("approver") else None,
                  actor_label=str(d.get("approver") or source))
    comment = next((d.get("comment") for d in reversed(state.decisions or []) if d.get("comment")), None)
    finish(ctx, request, new, comment=comment, source=source)
    return True


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
