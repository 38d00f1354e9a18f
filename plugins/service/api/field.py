"""/api/v1/service field work: visits, a technician's day list, after-sales follow-ups."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body

from ..schemas import VisitDayArgs, FollowUpArgs, FollowUpSchema, FollowUpOutcomeSchema, FieldVisitReportSchema, FieldVisitSchema
from ..services import followups, visits

blp = Blueprint("service_field", __name__, url_prefix="/api/v1/service",
                description="Service: field visits and after-sales follow-ups")


@blp.route("/tickets/<int:ticket_id>/visits", methods=["POST"])
@json_body(blp, FieldVisitSchema)
@blp.response(201, FieldVisitSchema)
def schedule(data: dict[str, Any], ticket_id: int) -> Any:
    """Schedule an on-site visit for a ticket"""
    return visits.schedule_visit(current_ctx(), ticket_id, data)


@blp.route("/visits/<int:visit_id>/report", methods=["POST"])
@json_body(blp, FieldVisitReportSchema)
@blp.response(200, FieldVisitSchema)
def report(data: dict[str, Any], visit_id: int) -> Any:
    """Report a visit: outcome and parts used"""
    return visits.complete_visit(current_ctx(), visit_id, data)


@blp.route("/visits/day")
@blp.arguments(VisitDayArgs, location="query")
@blp.response(200, FieldVisitSchema(many=True))
def day_list(args: dict[str, Any]) -> Any:
    """A technician's visits of one local day"""
    return visits.day_list(current_ctx(), args["technician_id"], args["day"], args["timezone"])


@blp.route("/followups/due")
@blp.arguments(FollowUpArgs, location="query")
@blp.response(200, FollowUpSchema(many=True))
def due(args: dict[str, Any]) -> Any:
    """Follow-ups due (for customers in your scope)"""
    return followups.due_list(current_ctx(), before=args.get("before"), assignee_id=args.get("assignee_id"))


@blp.route("/followups/<int:followup_id>/outcome", methods=["POST"])
@json_body(blp, FollowUpOutcomeSchema)
@blp.response(200, FollowUpSchema)
def outcome(data: dict[str, Any], followup_id: int) -> Any:
    """Record a follow-up's outcome"""
    return followups.record_outcome(current_ctx(), followup_id, data.get("outcome"), data.get("notes"))
