"""Admin views of the service plugin: the ticket queue with SLA timers, the technician schedule,
the quality report, and records (tickets, categories, SLA policies, quality, follow-ups)."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

from ..models import (AssignmentRule, Calendar, Category, FollowUp, FollowUpRule, QualityRecord, SlaPolicy, Ticket,
                      TicketState, TicketTransition)

SERVICE = _l("Service")


def admin_views(db: Any) -> list[Any]:
    """The service views in menu order, all under the "Service" menu."""
    from .pages import QualityReportView, QueueView, ScheduleView
    from .records import (AssignmentRuleView, CalendarView, CategoryView, FollowUpRuleView, FollowUpView, QualityView,
                          SlaPolicyView, TicketStateView, TicketTransitionView, TicketView)

    return [
        QueueView(name=_l("Ticket queue"), endpoint="service_queue", url="/admin/service/queue", category=SERVICE),
        ScheduleView(name=_l("Technician schedule"), endpoint="service_schedule", url="/admin/service/schedule",
                     category=SERVICE),
        QualityReportView(name=_l("Quality report"), endpoint="service_quality_report",
                          url="/admin/service/quality-report", category=SERVICE),
        TicketView(Ticket, db, name=_l("Tickets"), endpoint="service_ticket", url="/admin/service/ticket",
                   category=SERVICE),
        FollowUpView(FollowUp, db, name=_l("Follow-ups"), endpoint="service_followup", url="/admin/service/followup",
                     category=SERVICE),
        QualityView(QualityRecord, db, name=_l("Quality records"), endpoint="service_quality",
                    url="/admin/service/quality", category=SERVICE),
        CategoryView(Category, db, name=_l("Categories"), endpoint="service_category", url="/admin/service/category",
                     category=SERVICE),
        SlaPolicyView(SlaPolicy, db, name=_l("SLA policies"), endpoint="service_sla_policy",
                      url="/admin/service/sla-policy", category=SERVICE),
        CalendarView(Calendar, db, name=_l("Business hours"), endpoint="service_calendar",
                     url="/admin/service/calendar", category=SERVICE),
        AssignmentRuleView(AssignmentRule, db, name=_l("Assignment rules"), endpoint="service_assignment_rule",
                           url="/admin/service/assignment-rule", category=SERVICE),
        FollowUpRuleView(FollowUpRule, db, name=_l("Follow-up rules"), endpoint="service_followup_rule",
                         url="/admin/service/followup-rule", category=SERVICE),
        TicketStateView(TicketState, db, name=_l("Ticket states"), endpoint="service_ticket_state",
                        url="/admin/service/ticket-state", category=SERVICE),
        TicketTransitionView(TicketTransition, db, name=_l("Ticket moves"), endpoint="service_ticket_transition",
                             url="/admin/service/ticket-move", category=SERVICE),
    ]
