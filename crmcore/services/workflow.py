"""The workflow engine: state machines defined as data, chosen per record, and firing transitions.

A workflow belongs to an entity (``customer``, ``quote``, ...); the first active one by
priority (highest first) whose condition holds for the record drives it. Firing an action
checks the transition's roles and guard; with an approval policy whose tiers apply, it opens
an approval request instead and the transition happens when the request is approved.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from ..db import utcnow
from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..events import jsonable_dict, record_change
from ..i18n import _
from ..models import ApprovalPolicy, WorkflowDefinition, WorkflowState, WorkflowTransition
from ..schemas.workflow import WorkflowSchema
from .. import conditions
from .. import entities as meta
from . import condition_fields
from . import approvals
from . import on_enter
from .transitions import apply_transition
from .unit import unit_of_work
from .validation import load_flat
from .workflow_registry import actions, entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext

__all__ = ["apply_transition", "available_actions", "create_workflow", "delete_workflow", "describe", "fire",
           "get_workflow", "list_workflows", "load_record", "update_workflow", "validate_workflow_definition",
           "workflow_for"]

DEF_FIELDS = ("name", "entity", "state_field", "description", "priority", "condition", "active")


def entity_spec(ctx: ServiceContext, name: str) -> Any:
    spec = entities(ctx).get(name)
    if spec is None:
        raise ValidationError(_("Unknown entity '%(name)s'.", name=name),
                              errors={"entity": [_("Choose one of: %(names)s.", names=", ".join(sorted(entities(ctx))) or "-")]})
    return spec


def load_record(ctx: ServiceContext, entity: str, record_id: int) -> Any:
    """The record of ``entity`` with id ``record_id``, through the entity's loader (its record rules)."""
    return entity_spec(ctx, entity).load(ctx, record_id)


# ---------------------------------------------------------------------------------------------
# definitions
# ---------------------------------------------------------------------------------------------


def get_workflow(ctx: ServiceContext, workflow_id: int) -> WorkflowDefinition:
    ctx.require("workflow.read")
    wf = ctx.session.get(WorkflowDefinition, workflow_id)
    if wf is None:
        raise NotFound(_("Workflow %(id)s does not exist.", id=workflow_id))
    return wf


def list_workflows(ctx: ServiceContext, entity: str | None = None) -> list[WorkflowDefinition]:
    ctx.require("workflow.read")
    stmt = select(WorkflowDefinition).order_by(WorkflowDefinition.entity, WorkflowDefinition.priority.desc(),
                                               WorkflowDefinition.id)
    if entity:
        stmt = stmt.where(WorkflowDefinition.entity == entity)
    return list(ctx.session.scalars(stmt))


_WORKFLOW = WorkflowSchema()


def condition_problems(ctx: ServiceContext, condition: Any, entity: str | None, model: Any) -> list[str]:
    """The problems of a workflow's or an approval tier's ``condition`` over ``entity``, as ``"path: message"``:
    the grammar and limits of the one condition language, then each field against the entity's metadata
    (an unknown name lists the near ones; an operator that fits the field's type; a value of its type and
    one of its choices). Paths beyond the metadata (two hops, keys of a JSON column) are checked on ``model``."""
    fields = condition_fields.fields_for(ctx, entity) if entity in meta.registered(ctx) else None
    return conditions.validate(condition, ctx, model=model, fields=fields)


def validate_workflow_definition(ctx: ServiceContext, data: Any, existing: WorkflowDefinition | None) -> dict[str, Any]:
    """A workflow's input checked by ``WorkflowSchema`` (all for a new one, those given for ``existing``), then
    what the schema cannot judge: a known entity and state field, distinct states with one initial, known
    actions, transitions between its states, guards and the condition valid for the entity, policies that exist.
    The API, the admin and the CLI call it through the service: one set of rules and messages."""
    return load_flat(_WORKFLOW, data, partial=existing is not None, check=lambda loaded: _definition_errors(ctx, loaded, existing),
                message=_("The workflow is not valid; see the errors of each field."))


def _definition_errors(ctx: ServiceContext, data: dict[str, Any], existing: WorkflowDefinition | None) -> dict[str, list[Any]]:
    errors: dict[str, list[Any]] = {}
    entity = data.get("entity", existing.entity if existing else None)
    spec = entities(ctx).get(entity) if entity else None
    if entity and spec is None:
        errors["entity"] = [_("Choose one of: %(names)s.", names=", ".join(sorted(entities(ctx))) or "-")]
    elif spec is None and "entity" not in data and existing is None:
        errors["entity"] = [_("Say which entity the workflow drives.")]
    model = spec.model if spec is not None else None
    for problem in condition_problems(ctx, data.get("condition"), entity, model):
        errors.setdefault("condition", []).append(problem)
    states = data.get("states")
    names: list[str] = []
    columns = set(sa_inspect(spec.model).columns.keys()) if spec is not None else set()
    state_field = data.get("state_field", existing.state_field if existing else "status")
    if spec is not None and state_field not in columns:
        errors["state_field"] = [_("'%(field)s' is not a field of %(entity)s.", field=state_field, entity=entity)]
    known_actions = actions(ctx)
    settable = on_enter.settable_fields(ctx, entity, model, state_field)
    for i, st in enumerate(states or []):
        name = (st.get("name") or "").strip()
        if not name:
            errors.setdefault(f"states.{i}.name", []).append(_("Give the state a name."))
        elif name in names:
            errors.setdefault(f"states.{i}.name", []).append(_("'%(name)s' is there twice.", name=name))
        names.append(name)
        for key, messages in on_enter.state_errors(ctx, i, st, settable, known_actions, entity).items():
            errors.setdefault(key, []).extend(messages)
    if states is not None and sum(1 for s in states if s.get("initial")) > 1:
        errors.setdefault("states", []).append(_("Only one state can be initial."))
    all_names = set(names) if states is not None else {s.name for s in existing.states} if existing else set()
    seen: set[tuple[str, str]] = set()
    for i, tr in enumerate(data.get("transitions") or []):
        where = f"transitions.{i}"
        for key in ("from_state", "to_state"):
            value = tr.get(key)
            if value not in all_names and not (key == "from_state" and value == "*"):
                errors.setdefault(f"{where}.{key}", []).append(_("'%(state)s' is not a state of this workflow.", state=value))
        pair = (tr.get("action"), tr.get("from_state"))
        if pair in seen:
            errors.setdefault(f"{where}.action", []).append(_("This action leaves that state twice."))
        seen.add(pair)
        for problem in condition_problems(ctx, tr.get("guard"), entity, model):
            errors.setdefault(f"{where}.guard", []).append(problem)
        if tr.get("policy") and _policy_by_name(ctx, tr["policy"]) is None:
            errors.setdefault(f"{where}.policy", []).append(_("No approval policy named '%(name)s'.", name=tr["policy"]))
    return errors


def _policy_by_name(ctx: ServiceContext, name: str) -> ApprovalPolicy | None:
    return ctx.session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.name == name))


def _build_children(ctx: ServiceContext, wf: WorkflowDefinition, data: dict[str, Any]) -> None:
    if wf.id is not None:  # delete the old rows first: the new ones reuse their unique names
        if "states" in data:
            wf.states = []
        if "transitions" in data:
            wf.transitions = []
        ctx.session.flush()
    if "states" in data:
        wf.states = [WorkflowState(name=s["name"].strip(), label=s.get("label"), position=i, initial=bool(s.get("initial")),
                                   final=bool(s.get("final")), on_enter=dict(s.get("on_enter") or {}),
                                   actions=[a if isinstance(a, dict) else {"name": a} for a in s.get("actions") or []])
                     for i, s in enumerate(data["states"])]
    if "transitions" in data:
        wf.transitions = [WorkflowTransition(
            action=t["action"], label=t.get("label"), from_state=t["from_state"], to_state=t["to_state"],
            roles=list(t.get("roles") or []), guard=t.get("guard") or None,
            allow_self_approval=bool(t.get("allow_self_approval", False)),
            policy=_policy_by_name(ctx, t["policy"]) if t.get("policy") else None) for t in data["transitions"]]


def create_workflow(ctx: ServiceContext, data: dict[str, Any]) -> WorkflowDefinition:
    """Create a workflow from data: ``states`` (name, label, initial, final, on_enter, actions) and
    ``transitions`` (action, from_state, to_state, roles, guard, allow_self_approval, policy)."""
    ctx.require("workflow.manage")
    data = validate_workflow_definition(ctx, data, None)
    with unit_of_work(ctx):
        wf = WorkflowDefinition(**{k: data[k] for k in DEF_FIELDS if k in data})
        wf.condition = data.get("condition") or None
        _build_children(ctx, wf, data)
        ctx.session.add(wf)
        ctx.session.flush()
        record_change(ctx, "workflow", "created", wf.id, data={"definition": describe(wf)})
    return wf


def update_workflow(ctx: ServiceContext, workflow_id: int, data: dict[str, Any], *, expected_version: int | None = None) -> WorkflowDefinition:
    """Change a workflow; ``states`` and ``transitions``, when given, replace all of them."""
    wf = get_workflow(ctx, workflow_id)
    ctx.require("workflow.manage")
    if expected_version is not None and expected_version != wf.version:
        raise Conflict(_("The workflow was changed by someone else; reload it and try again."))
    data = validate_workflow_definition(ctx, data, wf)
    with unit_of_work(ctx):
        before = describe(wf)
        for key in DEF_FIELDS:
            if key in data:
                setattr(wf, key, data[key] if key != "condition" else (data[key] or None))
        _build_children(ctx, wf, data)
        ctx.session.flush()
        after = describe(wf)
        changes = {k: [before[k], after[k]] for k in after if k != "version" and before.get(k) != after[k]}
        if changes and after["version"] == before["version"]:
            wf.updated_at = utcnow()  # the version moves with any change, states and transitions too
            ctx.session.flush()
        if changes:
            record_change(ctx, "workflow", "updated", wf.id, changes)
    return wf


def delete_workflow(ctx: ServiceContext, workflow_id: int) -> None:
    wf = get_workflow(ctx, workflow_id)
    ctx.require("workflow.manage")
    with unit_of_work(ctx):
        data = describe(wf)
        ctx.session.delete(wf)
        record_change(ctx, "workflow", "deleted", workflow_id, data={"definition": data})


def describe(wf: WorkflowDefinition) -> dict[str, Any]:
    """The workflow as plain data (the API's body, the audit entry)."""
    return jsonable_dict({
        "id": wf.id, "name": wf.name, "entity": wf.entity, "state_field": wf.state_field,
        "description": wf.description, "priority": wf.priority, "condition": wf.condition, "active": wf.active,
        "version": wf.version,
        "states": [{"name": s.name, "label": s.label, "initial": s.initial, "final": s.final,
                    "on_enter": s.on_enter or {}, "actions": s.actions or []} for s in wf.states],
        "transitions": [{"action": t.action, "label": t.label, "from_state": t.from_state, "to_state": t.to_state,
                         "roles": t.roles or [], "guard": t.guard, "allow_self_approval": t.allow_self_approval,
                         "policy": t.policy.name if t.policy else None} for t in wf.transitions],
    })


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def workflow_for(ctx: ServiceContext, entity: str, record: Any) -> WorkflowDefinition | None:
    """The active workflow of ``entity`` with the highest priority whose condition holds for ``record``."""
    stmt = (select(WorkflowDefinition).where(WorkflowDefinition.entity == entity, WorkflowDefinition.active.is_(True))
            .order_by(WorkflowDefinition.priority.desc(), WorkflowDefinition.id))
    for wf in ctx.session.scalars(stmt):
        if conditions.evaluate(wf.condition, record, ctx):
            return wf
    return None


def _role_allows(ctx: ServiceContext, tr: WorkflowTransition) -> bool:
    if not tr.roles or ctx.actor is None or "*" in ctx.permissions:
        return True
    return ctx.actor.role is not None and ctx.actor.role.name in tr.roles


def available_actions(ctx: ServiceContext, entity: str, record_id: int) -> dict[str, Any]:
    """The record's workflow, its state and the actions the actor may fire now (guards checked)."""
    record = load_record(ctx, entity, record_id)
    wf = workflow_for(ctx, entity, record)
    if wf is None:
        return {"workflow": None, "state": None, "actions": []}
    state = getattr(record, wf.state_field)
    out = []
    for tr in wf.transitions:
        if tr.from_state not in (state, "*") or not _role_allows(ctx, tr):
            continue
        out.append({"action": tr.action, "label": tr.label or tr.action, "to_state": tr.to_state,
                    "allowed": conditions.evaluate(tr.guard, record, ctx),
                    "needs_approval": tr.policy is not None and tr.policy.active})
    return {"workflow": wf.name, "state": state, "actions": out}


def fire(ctx: ServiceContext, entity: str, record_id: int, action: str, *, comment: str | None = None) -> dict[str, Any]:
    """Fire ``action`` on a record: the transition happens now, or an approval request opens.

    :return: ``{"status": "done", "state": ...}`` or ``{"status": "pending_approval", "request_id": ...}``.
    """
    spec = entity_spec(ctx, entity)
    if spec.write_permission:
        ctx.require(spec.write_permission)
    record = spec.load(ctx, record_id)
    wf = workflow_for(ctx, entity, record)
    if wf is None:
        raise Conflict(_("No active workflow applies to this %(entity)s.", entity=entity))
    state = getattr(record, wf.state_field)
    tr = next((t for t in wf.transitions if t.action == action and t.from_state == state), None) or \
        next((t for t in wf.transitions if t.action == action and t.from_state == "*"), None)
    if tr is None:
        raise Conflict(_("'%(action)s' is not possible from the state '%(state)s'.", action=action, state=state))
    if not _role_allows(ctx, tr):
        raise PermissionDenied(_("Your role may not '%(action)s' here; allowed: %(roles)s.", action=action,
                                 roles=", ".join(tr.roles)))
    if not conditions.evaluate(tr.guard, record, ctx):
        raise Conflict(_("The conditions of '%(action)s' are not met by this record.", action=action))
    open_request = approvals.open_request(ctx, entity, record.id)
    if open_request is not None:
        raise Conflict(_("An approval (#%(id)s) is already running for this record.", id=open_request.id))
    with unit_of_work(ctx):
        if tr.policy is not None and tr.policy.active:
            request = approvals.start(ctx, tr.policy, entity, record, action=tr.action, to_state=tr.to_state,
                                      transition=tr, comment=comment, allow_self=tr.allow_self_approval)
            if request is not None:
                return {"status": "pending_approval", "request_id": request.id, "state": state}
        apply_transition(ctx, wf, tr, record, comment=comment)
    return {"status": "done", "state": getattr(record, wf.state_field)}
