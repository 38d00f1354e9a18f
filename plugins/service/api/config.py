"""/api/v1/service configuration: categories, SLA calendars and policies, assignment and follow-up rules."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.runtime import ServiceContext
from crmcore.api.http import json_body

from ..models import AssignmentRule, Calendar, FollowUpRule, SlaPolicy
from ..schemas import AssignmentRuleSchema, BusinessCalendarSchema, TicketCategorySchema, FollowUpRuleSchema, SlaPolicySchema
from ..services import assignment, categories, followups, sla

blp = Blueprint("service_config", __name__, url_prefix="/api/v1/service",
                description="Service: categories, SLA, assignment and follow-up rules")


def _all(ctx: ServiceContext, model: Any) -> list[Any]:
    ctx.require("service.ticket.read")
    return list(ctx.session.scalars(select(model).order_by(model.id)))


@blp.route("/categories")
@blp.response(200, TicketCategorySchema(many=True))
def list_categories() -> Any:
    """Ticket categories"""
    return categories.list_categories(current_ctx())


@blp.route("/categories", methods=["POST"])
@json_body(blp, TicketCategorySchema)
@blp.response(201, TicketCategorySchema)
def create_category(data: dict[str, Any]) -> Any:
    """Add a category"""
    return categories.save_category(current_ctx(), data)


@blp.route("/calendars")
@blp.response(200, BusinessCalendarSchema(many=True))
def list_calendars() -> Any:
    """Business-hours calendars with their holidays and make-up workdays"""
    return _all(current_ctx(), Calendar)


@blp.route("/calendars", methods=["POST"])
@json_body(blp, BusinessCalendarSchema)
@blp.response(201, BusinessCalendarSchema)
def create_calendar(data: dict[str, Any]) -> Any:
    """Add a calendar: weekly hours in a time zone, holidays and make-up workdays as data"""
    return sla.save_calendar(current_ctx(), data)


@blp.route("/calendars/<int:calendar_id>", methods=["PUT"])
@json_body(blp, BusinessCalendarSchema)
@blp.response(200, BusinessCalendarSchema)
def update_calendar(data: dict[str, Any], calendar_id: int) -> Any:
    """Replace a calendar's hours and days"""
    return sla.save_calendar(current_ctx(), data, calendar_id)


@blp.route("/sla-policies")
@blp.response(200, SlaPolicySchema(many=True))
def list_policies() -> Any:
    """SLA policies"""
    return _all(current_ctx(), SlaPolicy)


@blp.route("/sla-policies", methods=["POST"])
@json_body(blp, SlaPolicySchema)
@blp.response(201, SlaPolicySchema)
def create_policy(data: dict[str, Any]) -> Any:
    """Add an SLA policy (targets in business minutes, per priority and optional customer level)"""
    return sla.save_policy(current_ctx(), data)


@blp.route("/assignment-rules")
@blp.response(200, AssignmentRuleSchema(many=True))
def list_rules() -> Any:
    """Assignment rules"""
    return _all(current_ctx(), AssignmentRule)


@blp.route("/assignment-rules", methods=["POST"])
@json_body(blp, AssignmentRuleSchema)
@blp.response(201, AssignmentRuleSchema)
def create_rule(data: dict[str, Any]) -> Any:
    """Add an assignment rule (by category; round robin, least loaded or fixed)"""
    return assignment.save_rule(current_ctx(), data)


@blp.route("/followup-rules")
@blp.response(200, FollowUpRuleSchema(many=True))
def list_followup_rules() -> Any:
    """Follow-up rules"""
    return _all(current_ctx(), FollowUpRule)


@blp.route("/followup-rules", methods=["POST"])
@json_body(blp, FollowUpRuleSchema)
@blp.response(201, FollowUpRuleSchema)
def create_followup_rule(data: dict[str, Any]) -> Any:
    """Add a follow-up rule: after an order or a resolved ticket, at these days"""
    return followups.save_rule(current_ctx(), data)
