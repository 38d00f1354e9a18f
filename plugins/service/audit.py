"""Who reads the service plugin's audit entries: each entity type's read permission and record rules."""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from crmcore.contracts import AuditEntity
from crmcore.services.audit_scope import customer_in, ids_in, visible_customer_ids
from crmcore.runtime import ServiceContext

from .models import Delivery, FollowUp, QualityRecord, Survey, Ticket, TicketMessage, Visit


def _tickets_select(ctx: ServiceContext) -> Any:
    from .services.tickets import scope_tickets

    return scope_tickets(ctx, select(Ticket.id))


def _tickets(ctx: ServiceContext) -> Any:
    """Tickets the reader sees; deleted ones by their customer (the entry keeps it)."""
    return None if ctx.scope == "all" else or_(ids_in(_tickets_select(ctx)), customer_in(ctx))


def _messages(ctx: ServiceContext) -> Any:
    if ctx.scope == "all":
        return None
    return ids_in(select(TicketMessage.id).where(TicketMessage.ticket_id.in_(_tickets_select(ctx))))


def _visits(ctx: ServiceContext) -> Any:
    from .services.visits import scope_visits

    return None if ctx.scope == "all" else ids_in(scope_visits(ctx, select(Visit.id)))


def _by_customer(model: Any) -> Any:
    """Records of a customer the reader sees, or of a ticket they see."""
    def visible(ctx: ServiceContext) -> Any:
        if ctx.scope == "all":
            return None
        conds = [model.customer_id.in_(visible_customer_ids(ctx))]
        if hasattr(model, "ticket_id"):
            conds.append(model.ticket_id.in_(_tickets_select(ctx)))
        return ids_in(select(model.id).where(or_(*conds)))

    return visible


def entities() -> list[AuditEntity]:
    return [AuditEntity("service_ticket", "service.ticket.read", _tickets),
            AuditEntity("service_ticket_message", "service.ticket.read", _messages),
            AuditEntity("service_visit", "service.visit.read", _visits),
            AuditEntity("service_followup", "service.followup.read", _by_customer(FollowUp)),
            AuditEntity("service_quality", "service.quality.read", _by_customer(QualityRecord)),
            AuditEntity("service_survey", "service.report.read", _by_customer(Survey)),
            AuditEntity("service_delivery", "service.report.read", _by_customer(Delivery)),
            AuditEntity("service_ticket_state", "service.ticket.read"),
            AuditEntity("service_ticket_transition", "service.ticket.read"),
            AuditEntity("service_category", "service.ticket.read"),
            AuditEntity("service_calendar", "service.sla.manage"),
            AuditEntity("service_sla_policy", "service.sla.manage"),
            AuditEntity("service_assignment_rule", "service.config.manage"),
            AuditEntity("service_followup_rule", "service.config.manage")]
