"""What an approver sees of each pending decision: the record's summary, the requester by name, the
policy's reason (tier and condition in words), and the count of the actor's pending decisions."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ..contracts_workflow import RecordSummary
from ..entities import COMMON_LABELS, registered
from ..i18n import _, lazy_gettext as _l
from ..models import ApprovalRequest, ApprovalTask, User, WorkflowTransition
from .approvals import inbox
from .workflow_registry import entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext

OPERATORS = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}
STATUSES = {"pending": _l("Pending"), "submitting": _l("Being sent"), "approved": _l("Approved"),
            "rejected": _l("Rejected"), "withdrawn": _l("Withdrawn"), "revoked": _l("Revoked"),
            "terminated": _l("Ended")}
ACTIONS = {"submit": _l("Submit")}  # actions plugins start approvals for without a workflow transition


@dataclass
class InboxItem:
    """One pending decision of the actor, with what it takes to decide it."""

    task: ApprovalTask
    request: ApprovalRequest
    entity_label: str
    summary: RecordSummary
    requester: str
    reasons: list[str]
    admin_endpoint: str | None
    created_at: dt.datetime


@dataclass
class RequestRow:
    """One approval request as people read it (the requests list of the inbox page)."""

    request: ApprovalRequest
    entity_label: str
    title: str
    action: str
    provider: str
    status: str
    admin_endpoint: str | None


def request_rows(ctx: ServiceContext, requests: list[ApprovalRequest]) -> list[RequestRow]:
    """Requests with their record's title, the action, provider and status in words."""
    specs = entities(ctx)
    providers = ctx.registry.oa_providers
    out = []
    for request in requests:
        spec = specs.get(request.entity)
        record = ctx.session.get(spec.model, request.entity_id) if spec is not None else None
        title = (spec.describe(ctx, record).title if spec is not None and spec.describe is not None and record is not None
                 else f"#{request.entity_id}")
        transition = ctx.session.get(WorkflowTransition, request.transition_id) if request.transition_id else None
        action = (transition.label if transition is not None and transition.label
                  else str(ACTIONS.get(request.action, request.action.replace("_", " "))))
        provider = (str(_("in the CRM")) if request.provider == "internal"
                    else str(getattr(providers.get(request.provider), "label", request.provider)))
        out.append(RequestRow(request=request, entity_label=entity_label(ctx, request.entity), title=title,
                              action=action, provider=provider, status=str(STATUSES.get(request.status, request.status)),
                              admin_endpoint=spec.admin_endpoint if spec is not None and record is not None else None))
    return out


def pending_count(ctx: ServiceContext) -> int:
    """How many decisions wait for the actor (the menu's badge); 0 without ``approval.read``."""
    if ctx.actor is None or not ctx.can("approval.read"):
        return 0
    stmt = select(func.count()).select_from(ApprovalTask).join(ApprovalRequest).where(
        ApprovalTask.approver_id == ctx.actor.id, ApprovalTask.status == "pending", ApprovalRequest.status == "pending")
    return int(ctx.session.scalar(stmt) or 0)


def items(ctx: ServiceContext, limit: int | None = None) -> list[InboxItem]:
    """The actor's pending decisions, oldest first, each described for a person."""
    tasks = inbox(ctx)
    if limit is not None:
        tasks = tasks[:limit]
    specs = entities(ctx)
    out = []
    for task in tasks:
        request = task.request
        spec = specs.get(request.entity)
        record = ctx.session.get(spec.model, request.entity_id) if spec is not None else None
        if spec is not None and spec.describe is not None and record is not None:
            summary = spec.describe(ctx, record)
        else:
            summary = RecordSummary(title=str(record) if record is not None else f"#{request.entity_id}")
        requester = ctx.session.get(User, request.requester_id) if request.requester_id else None
        out.append(InboxItem(task=task, request=request, entity_label=entity_label(ctx, request.entity),
                             summary=summary, requester=user_name(requester), reasons=reasons(ctx, request),
                             admin_endpoint=spec.admin_endpoint if spec is not None else None,
                             created_at=request.created_at))
    return out


def user_name(user: User | None) -> str:
    """A person's name as shown to people: full name, else user name."""
    if user is None:
        return str(_("the system"))
    return user.full_name or user.username


def entity_label(ctx: ServiceContext, entity: str) -> str:
    meta = registered(ctx).get(entity)
    if meta is not None:
        return str(meta.label)
    spec = entities(ctx).get(entity)
    return str(spec.label) if spec is not None and spec.label else entity


def reasons(ctx: ServiceContext, request: ApprovalRequest) -> list[str]:
    """Why the record needs this approval: each applicable tier, by name or by its condition."""
    out = []
    for tier in sorted(request.policy.tiers, key=lambda t: t.step):
        if tier.step not in (request.steps or []):
            continue
        text = describe_condition(ctx, request.entity, tier.condition) if tier.condition else str(_("always"))
        out.append(f"{tier.name}: {text}" if tier.name else text)
    return out


def describe_condition(ctx: ServiceContext, entity: str, node: Any) -> str:
    """A condition in words, with the fields' labels in the reader's language."""
    if not isinstance(node, dict):
        return str(node)
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        joiner = f" {_('and')} " if key == "all" else f" {_('or')} "
        parts = [describe_condition(ctx, entity, n) for n in node[key]]
        return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"
    if "not" in node:
        return f"{_('not')} {describe_condition(ctx, entity, node['not'])}"
    if "predicate" in node:
        from ..conditions import predicates

        pred = predicates(ctx).get(node["predicate"])
        args = ", ".join(f"{v}" for v in (node.get("args") or {}).values())
        text = str(pred.description) if pred is not None and pred.description else str(node["predicate"])
        return f"{text} ({args})" if args else text
    field = str(node.get("field", ""))
    op = str(node.get("op", ""))
    value = node.get("value")
    label = _field_label(ctx, entity, field)
    if op in OPERATORS:
        return f"{label} {OPERATORS[op]} {value}"
    if op in ("is_null", "is_true", "is_false", "changed"):
        words = {"is_null": _("is empty"), "is_true": _("is yes"), "is_false": _("is no"), "changed": _("changed")}
        return f"{label} {words[op]}"
    values = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    words2 = {"in": _("is one of"), "not_in": _("is none of"), "contains": _("contains"),
              "startswith": _("starts with")}
    return f"{label} {words2.get(op, op)} {values}"


def _field_label(ctx: ServiceContext, entity: str, field: str) -> str:
    meta = registered(ctx).get(entity)
    head = field.split(".")[0]
    label = (meta.labels.get(field) if meta is not None else None) or COMMON_LABELS.get(field)
    if label is None and meta is not None and "." not in field:
        label = meta.labels.get(head)
    return str(label) if label is not None else field.replace("_", " ")


def task_for(ctx: ServiceContext, record: Any) -> tuple[ApprovalRequest, ApprovalTask] | None:
    """The actor's pending decision on ``record`` (its request and task), if any: the record's page offers it."""
    if ctx.actor is None or record is None or not ctx.can("approval.decide"):
        return None
    name = next((n for n, spec in entities(ctx).items() if isinstance(record, spec.model)), None)
    if name is None:
        return None
    stmt = (select(ApprovalTask).join(ApprovalRequest).where(
        ApprovalRequest.entity == name, ApprovalRequest.entity_id == record.id, ApprovalRequest.status == "pending",
        ApprovalTask.approver_id == ctx.actor.id, ApprovalTask.status == "pending"))
    task = ctx.session.scalars(stmt).first()
    return (task.request, task) if task is not None else None


def history(ctx: ServiceContext, entity: str, entity_id: int) -> list[ApprovalRequest]:
    """The record's approval requests, newest first, with their decisions (a record's page shows them)."""
    return list(ctx.session.scalars(select(ApprovalRequest).where(
        ApprovalRequest.entity == entity, ApprovalRequest.entity_id == entity_id).order_by(ApprovalRequest.id.desc())))
