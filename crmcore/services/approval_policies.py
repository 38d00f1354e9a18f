"""Approval policies: who must approve what, in which tiers, through which provider; validated here."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..errors import NotFound, ValidationError
from ..events import jsonable_dict, record_change
from ..i18n import _
from ..models import ApprovalPolicy, ApprovalTier
from ..models.workflow import REVIEWER_KINDS, TIER_MODES
from .. import conditions
from .unit import unit_of_work
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


def _clean_policy(ctx: ServiceContext, data: dict[str, Any], existing: ApprovalPolicy | None) -> dict[str, Any]:
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


def create_policy(ctx: ServiceContext, data: dict[str, Any]) -> ApprovalPolicy:
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


def update_policy(ctx: ServiceContext, policy_id: int, data: dict[str, Any]) -> ApprovalPolicy:
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
