"""The permissions the service plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission

AGENTS = ("manager", "service")
READERS = ("manager", "service", "sales", "analyst")

PERMISSIONS = [
    Permission("service.ticket.read", "See service tickets (record rules apply)", READERS),
    Permission("service.ticket.write", "Open, change, answer and move service tickets", AGENTS + ("sales",)),
    Permission("service.ticket.delete", "Delete service tickets (spam, tests)", ("manager",)),
    Permission("service.intake", "Feed e-mail messages to the ticket intake", ("manager",)),
    Permission("service.sla.manage", "Define SLA policies and business-hours calendars", ("manager",)),
    Permission("service.config.manage", "Define categories, assignment and follow-up rules", ("manager",)),
    Permission("service.visit.read", "See field-service visits and day lists", AGENTS),
    Permission("service.visit.write", "Schedule and report field-service visits", AGENTS),
    Permission("service.followup.read", "See after-sales follow-ups", AGENTS + ("sales",)),
    Permission("service.followup.write", "Record follow-up outcomes", AGENTS + ("sales",)),
    Permission("service.quality.read", "See quality (defect and feedback) records", AGENTS + ("analyst",)),
    Permission("service.quality.write", "Record defects, causes and corrective actions", AGENTS),
    Permission("service.survey.manage", "Send NPS surveys", ("manager",)),
    Permission("service.delivery.write", "Record delivery data (ERP sync, carriers)", ("manager",)),
    Permission("service.report.read", "See service reports: SLA, satisfaction, quality, logistics",
               ("manager", "analyst")),
]
