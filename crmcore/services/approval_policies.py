"""Approval policies: who must approve what, in which tiers, through which provider; validated here."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..errors import NotFound
from ..events import jsonable_dict, record_change
from ..i18n import _
from ..models import ApprovalPolicy, ApprovalTier
from ..models.workflow import REVIEWER_KINDS
from ..schemas.workflow import PolicySchema
from .. import conditions
from .. import entities as meta
from ..conditions.evaluate import unknown_field
from . import condition_fields
from .unit import unit_of_work
from .validation import load_flat
from .workflow_registry import actions, entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext

INTERNAL = "internal"
POLICY_FIELDS = ("name", "entity", "action", "provider", "template", "field_mapping", "key_fields",
                 "allow_self_approval", "compensation", "active")
TIER_FIELDS = ("step", "name", "condition", "reviewers", "quorum", "mode", "comment_required_on_reject",
               "remind_after", "timeout_after", "escalate_to")


def get_policy(ctx: ServiceContext, policy_id: int) -> ApprovalPolicy:
    ctx.require("workflow.read")
    policy = ctx.session.get(ApprovalPolicy, policy_id)
    if policy is None:
        raise NotFound(_("Approval policy %(id)s does not exist.", id=policy_id))
    return policy


def list_policies(ctx: ServiceContext, entity: str | None = None) -> list[ApprovalPolicy]:
    ctx.require("workflow.read")
    stmt = select(ApprovalPolicy).order_by(ApprovalPolicy.entity, ApprovalPolicy.name)
    if entity:
        stmt = stmt.where(ApprovalPolicy.entity == entity)
    return list(ctx.session.scalars(stmt))


_POLICY = PolicySchema()


def _check_reviewer(spec: Any, where: str, errors: dict[str, list[Any]], model: Any, *, allow_reject: bool = False) -> None:
    if not isinstance(spec, dict) or spec.get("kind") not in REVIEWER_KINDS + (("reject",) if allow_reject else ()):
        errors.setdefault(where, []).append(_("A reviewer is {\"kind\": one of %(kinds)s, \"value\": ...}.",
                                              kinds=", ".join(REVIEWER_KINDS)))
        return
    if spec["kind"] != "reject" and not spec.get("value"):
        errors.setdefault(where, []).append(_("Say which %(kind)s.", kind=spec["kind"]))
    if spec["kind"] in ("field", "manager_of"):
        problem = conditions.path_problem(spec.get("value"))
        if problem is None and model is not None:
            problem = unknown_field(model, spec["value"])
        if problem:
            errors.setdefault(where, []).append(problem)


def validate_approval_policy(ctx: ServiceContext, data: Any, existing: ApprovalPolicy | None) -> dict[str, Any]:
    """A policy's input checked by ``PolicySchema`` (all for a new one, those given for ``existing``), then what
    the schema cannot judge: a known entity, provider and compensation; key fields and reviewer fields of the
    entity; distinct steps; each tier's condition valid for the entity's metadata (the one condition language's
    messages). The API, the admin and the CLI call it through the service: one set of rules and messages."""
    return load_flat(_POLICY, data, partial=existing is not None, check=lambda loaded: _policy_errors(ctx, loaded, existing),
                message=_("The approval policy is not valid; see the errors of each field."))


def _policy_errors(ctx: ServiceContext, data: dict[str, Any], existing: ApprovalPolicy | None) -> dict[str, list[Any]]:
    errors: dict[str, list[Any]] = {}
    entity = data.get("entity", existing.entity if existing else None)
    spec = entities(ctx).get(entity) if entity else None
    if spec is None and (entity or existing is None):
        errors["entity"] = [_("Choose one of: %(names)s.", names=", ".join(sorted(entities(ctx))) or "-")]
    model = spec.model if spec is not None else None
    fields = condition_fields.fields_for(ctx, entity) if spec is not None and entity in meta.registered(ctx) else None
    provider = data.get("provider", existing.provider if existing else INTERNAL)
    if provider != INTERNAL and provider not in ctx.registry.oa_providers:
        errors["provider"] = [_("No OA provider named '%(name)s' is loaded (loaded: %(known)s).", name=provider,
                                known=", ".join(sorted(ctx.registry.oa_providers)) or INTERNAL)]
    if data.get("compensation") and data["compensation"] not in actions(ctx):
        errors["compensation"] = [_("Unknown action '%(name)s'.", name=data["compensation"])]
    for name in data.get("key_fields") or []:
        problem = conditions.path_problem(name)
        if problem is None and model is not None and not (fields and name in fields):
            problem = unknown_field(model, name, fields)
        if problem:
            errors.setdefault("key_fields", []).append(f"{name}: {problem}")
    steps: set[int] = set()
    for i, tier in enumerate(data.get("tiers") or []):
        where = f"tiers.{i}"
        step = tier.get("step", i + 1)
        if step in steps:
            errors.setdefault(f"{where}.step", []).append(_("Steps are distinct whole numbers from 1."))
        steps.add(step)
        for problem in conditions.validate(tier.get("condition"), ctx, model=model, fields=fields):
            errors.setdefault(f"{where}.condition", []).append(problem)
        reviewers = tier.get("reviewers") or []
        if not reviewers:
            errors.setdefault(f"{where}.reviewers", []).append(_("Name at least one reviewer."))
        for j, reviewer in enumerate(reviewers):
            _check_reviewer(reviewer, f"{where}.reviewers.{j}", errors, model)
        if tier.get("escalate_to"):
            _check_reviewer(tier["escalate_to"], f"{where}.escalate_to", errors, model, allow_reject=True)
    return errors


def _tiers(data: dict[str, Any]) -> list[ApprovalTier]:
    out = []
    for i, t in enumerate(data.get("tiers") or []):
        values = {k: t[k] for k in TIER_FIELDS if k in t}
        values.setdefault("step", i + 1)
        values["condition"] = values.get("condition") or None
        out.append(ApprovalTier(**values))
    return out


def create_policy(ctx: ServiceContext, data: dict[str, Any]) -> ApprovalPolicy:
    """Create an approval policy with ``tiers`` (step, condition, reviewers, quorum, mode, ...)."""
    ctx.require("workflow.manage")
    data = validate_approval_policy(ctx, data, None)
    with unit_of_work(ctx):
        policy = ApprovalPolicy(**{k: data[k] for k in POLICY_FIELDS if k in data})
        policy.tiers = _tiers(data)
        ctx.session.add(policy)
        ctx.session.flush()
        record_change(ctx, "approval_policy", "created", policy.id, data={"policy": describe_policy(policy)})
    return policy


def update_policy(ctx: ServiceContext, policy_id: int, data: dict[str, Any]) -> ApprovalPolicy:
    """Change a policy; ``tiers``, when given, replace all (running requests keep their tasks)."""
    policy = get_policy(ctx, policy_id)
    ctx.require("workflow.manage")
    data = validate_approval_policy(ctx, data, policy)
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
    return jsonable_dict({
        "id": policy.id, **{k: getattr(policy, k) for k in POLICY_FIELDS},
        "tiers": [{k: getattr(t, k) for k in TIER_FIELDS} for t in policy.tiers],
    })


def policy_for(ctx: ServiceContext, entity: str, action: str) -> ApprovalPolicy | None:
    """The active policy a plugin names by entity and action (for state machines written in code)."""
    return ctx.session.scalar(select(ApprovalPolicy).where(
        ApprovalPolicy.entity == entity, ApprovalPolicy.action == action, ApprovalPolicy.active.is_(True))
        .order_by(ApprovalPolicy.id))


def applicable_tiers(ctx: ServiceContext, policy: ApprovalPolicy, record: Any) -> list[ApprovalTier]:
    """The policy's tiers whose condition holds for ``record``, in step order."""
    return [t for t in policy.tiers if conditions.evaluate(t.condition, record, ctx)]


def key_snapshot(policy: ApprovalPolicy, record: Any) -> dict[str, Any]:
    return jsonable_dict({name: conditions.resolve(record, name) for name in policy.key_fields or []})
