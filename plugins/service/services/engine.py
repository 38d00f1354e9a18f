"""Tickets in the core's workflow engine: the ``service_ticket`` entity, a predicate and an action,
so admins can drive tickets with workflow definitions (guards, roles, approval policies).

When the engine moves a ticket (its workflow's ``state_field`` is ``state``), the same SLA effects
apply as for the plugin's own moves: :func:`on_before_save` runs them from ``crm_before_save``.
The engine's state names should be keys of the plugin's states (their phase drives the clocks).
"""
from __future__ import annotations

from typing import Any

from crmcore.contracts import Event
from crmcore.contracts_workflow import Predicate, RecordSummary, WorkflowAction, WorkflowEntity
from crmcore.db import utcnow
from crmcore.events import emit, jsonable
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from ..models import Ticket
from .tickets import EFFECTS_DONE, OWN_WRITE, after_state, event_data, get_ticket, state_effects

ENTITY = "service_ticket"


def entities() -> list[WorkflowEntity]:
    return [WorkflowEntity(ENTITY, Ticket, lambda ctx, ticket_id: get_ticket(ctx, ticket_id), "assignee_id",
                           _("Service ticket"), ("state", "priority", "kind", "channel", "category_id", "customer_id",
                                              "assignee_id", "escalation_level", "customer.level"),
                           "service.ticket.write", describe=describe, admin_endpoint="service_ticket")]


def describe(ctx: ServiceContext, ticket: Ticket) -> RecordSummary:
    """What the approval inbox shows of a ticket: number and subject, customer."""
    customer = ticket.customer.name if getattr(ticket, "customer", None) is not None else ticket.requester_name
    return RecordSummary(title=f"{ticket.number} {ticket.subject}", customer=customer)


def breached(ctx: ServiceContext, ticket: Any, args: dict[str, Any]) -> bool:
    """The ticket missed its first-response or resolution target."""
    return bool(ticket.first_response_breached_at or ticket.resolution_breached_at)


def predicates() -> list[Predicate]:
    return [Predicate("service.ticket.sla_breached", breached, _("The ticket missed an SLA target"))]


def escalate(ctx: ServiceContext, ticket: Any, params: dict[str, Any]) -> None:
    """Raise the ticket's escalation level and emit ``service.ticket.escalated``."""
    ticket.escalation_level += 1
    emit(ctx, Event(name="service.ticket.escalated", entity=ENTITY, entity_id=ticket.id,
                    data={"number": ticket.number, "level": ticket.escalation_level, "target": "workflow",
                          "assignee_id": ticket.assignee_id, "customer_id": ticket.customer_id, **params}))


def actions() -> list[WorkflowAction]:
    return [WorkflowAction("service.ticket.escalate", escalate, _("Escalate the ticket (level + 1, an event)"),
                           (ENTITY,))]


def on_before_save(ctx: ServiceContext, obj: Any, changes: dict[str, Any]) -> None:
    """A state change made by someone else (the workflow engine) gets the plugin's SLA effects and
    its ``service.ticket.<state>`` event, as if the plugin had moved the ticket (the engine audits
    the move and announces ``workflow.transitioned`` itself)."""
    if "state" not in changes or obj.__dict__.get(EFFECTS_DONE):
        return
    before, after = changes["state"]
    now = utcnow()
    state_effects(ctx, obj, before, after, now, changes=changes)
    if before != after and not obj.__dict__.get(OWN_WRITE):
        emit(ctx, Event(name=f"service.ticket.{after}", entity=ENTITY, entity_id=obj.id,
                        data=jsonable({"changes": changes, **event_data(obj), "via": "workflow"})))
    after_state(ctx, obj, after, now)
