"""Applying a workflow transition to a record: the state, on-enter fields, named actions, audit, event.

Shared by the workflow engine (a transition fired directly) and approvals (a transition that
waited for its approval); neither imports the other for it.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from ..errors import Conflict
from ..events import record_change
from ..i18n import _
from ..models import WorkflowDefinition, WorkflowTransition
from .on_enter import stored_value
from .workflow_registry import actions

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def apply_transition(ctx: ServiceContext, wf: WorkflowDefinition, tr: WorkflowTransition, record: Any, *,
                     comment: str | None = None, request_id: int | None = None) -> None:
    """Move the record to the transition's target state: field updates, named actions, audit, event."""
    entity = wf.entity
    before = getattr(record, wf.state_field)
    if before != tr.from_state and tr.from_state != "*":
        raise Conflict(_("The record left the state '%(state)s'; the transition no longer applies.", state=tr.from_state))
    changes: dict[str, list[Any]] = {wf.state_field: [before, tr.to_state]}
    setattr(record, wf.state_field, tr.to_state)
    target = next((s for s in wf.states if s.name == tr.to_state), None)
    if target is not None:
        columns = record.__table__.c
        for field, stored in (target.on_enter or {}).items():
            value = stored_value(columns[field], stored) if field in columns else stored
            old = getattr(record, field)
            if old != value:
                setattr(record, field, value)
                changes[field] = [old, value]
    ctx.hook.crm_before_save(ctx=ctx, entity=entity, obj=record, changes=changes, created=False)
    if target is not None:
        known = actions(ctx)
        for act in target.actions or []:
            known[act["name"]].func(ctx, record, act.get("params") or {})
    ctx.session.flush()
    record_change(ctx, entity, "updated", record.id, changes, event_name="workflow.transitioned",
                  data={"workflow": wf.name, "action": tr.action, "from": before, "to": tr.to_state,
                        "comment": comment, "approval_request_id": request_id})
