"""The service record types in the entity metadata, labelled by the admin views that declare them."""
from __future__ import annotations

from crmcore.entities import Entity, from_admin_view
from crmcore.i18n import _

from ..models import Category, FollowUp, QualityRecord, Ticket, Visit
from .records import CategoryView, FollowUpView, QualityView, TicketView

COMMON = {"ticket_id": _("Ticket"), "order_number": _("Order number"), "state": _("State"), "kind": _("Kind"),
          "name": _("Name"), "active": _("Active"), "channel": _("Channel"), "category_id": _("Category")}


def entities() -> list[Entity]:
    """Tickets, follow-ups, quality records, ticket categories and field visits."""
    return [
        from_admin_view("ticket", Ticket, _("Tickets"), TicketView, labels={
            **COMMON, "requester_name": _("Requester"), "requester_email": _("Requester e-mail"),
            "requester_phone": _("Requester phone"), "requester_wechat": _("Requester WeChat"),
            "sla_policy_id": _("SLA policy"), "first_response_due_at": _("First response due"),
            "first_responded_at": _("First response"), "paused_since": _("Paused since"),
            "resolution_started_at": _("Resolution started"), "sla_pauses": _("SLA pauses"),
            "resolved_at": _("Resolved"), "first_response_breached_at": _("First response breached"),
            "resolution_breached_at": _("Resolution breached"), "escalation_level": _("Escalation level"),
            "customer_locale": _("Language")}),
        from_admin_view("followup", FollowUp, _("Follow-ups"), FollowUpView, labels={
            **COMMON, "rule_id": _("Rule"), "step": _("Step"), "due_at": _("Due"), "assignee_id": _("Assignee"),
            "outcome": _("Outcome"), "done_at": _("Done")}),
        from_admin_view("quality_record", QualityRecord, _("Quality records"), QualityView, labels={
            **COMMON, "product_code": _("Product code"), "product_name": _("Product"), "quantity": _("Quantity"),
            "severity": _("Severity"), "description": _("Description"), "root_cause": _("Root cause"),
            "corrective_action": _("Corrective action"), "reported_at": _("Reported")}),
        from_admin_view("ticket_category", Category, _("Categories"), CategoryView, labels=COMMON),
        Entity("visit", Visit, _("Field visit"), "service.visit.read", labels={
            **COMMON, "technician_id": _("Technician"), "window_start": _("Visit from"), "window_end": _("Visit until"),
            "address": _("Address"), "outcome": _("Outcome"), "completed_at": _("Completed"),
            "parts_used": _("Parts used")},
            choices={"state": [("scheduled", _("Scheduled")), ("done", _("Done")), ("failed", _("Failed")),
                               ("cancelled", _("Cancelled"))]}),
    ]
