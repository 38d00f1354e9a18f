"""/api/v1/sales/activities, /expenses and /targets: the rep's work, costs and monthly plans."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.schemas.common import PageArgs

from ..schemas import (ActivityListArgs, ActivityPage, ActivitySchema, ActivityUpdateSchema, CompleteSchema,
                       ExpensePage, ExpenseSchema, TargetListArgs, TargetSchema)
from ..services import activities as svc
from ..services import expenses, targets

blp = Blueprint("sales_activities", __name__, url_prefix="/api/v1/sales",
                description="Sales: tasks, calls and visits; expenses; monthly plans")


@blp.route("/activities")
@blp.arguments(ActivityListArgs, location="query")
@blp.response(200, ActivityPage)
def list_activities(args: dict[str, Any]) -> Any:
    """List activities: planned ones by due time, then done ones"""
    items, total = svc.list_activities(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/activities", methods=["POST"])
@json_body(blp, ActivitySchema)
@blp.response(201, ActivitySchema)
def create_activity(data: dict[str, Any]) -> Any:
    """Plan a task, call or visit (``status: done`` records it as done at once)"""
    activity = svc.create_activity(current_ctx(), data)
    return with_etag(activity, activity, 201)


@blp.route("/activities/<int:activity_id>")
@blp.response(200, ActivitySchema)
def get_activity(activity_id: int) -> Any:
    """Get an activity"""
    activity = svc.get_activity(current_ctx(), activity_id)
    return with_etag(activity, activity)


@blp.route("/activities/<int:activity_id>", methods=["PATCH"])
@json_body(blp, ActivityUpdateSchema)
@blp.response(200, ActivitySchema)
def patch_activity(data: dict[str, Any], activity_id: int) -> Any:
    """Change a planned activity"""
    version, if_match = expected_version()
    data.pop("version", None)
    activity = svc.update_activity(current_ctx(), activity_id, data, expected_version=version, if_match=if_match)
    return with_etag(activity, activity)


@blp.route("/activities/<int:activity_id>/complete", methods=["POST"])
@blp.arguments(CompleteSchema)
@blp.response(200, ActivitySchema)
def complete(data: dict[str, Any], activity_id: int) -> Any:
    """Mark done (a visit with its ``outcome``); it also goes on the customer's timeline"""
    return svc.complete_activity(current_ctx(), activity_id, data)


@blp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@blp.response(200, ActivitySchema)
def cancel(activity_id: int) -> Any:
    """Cancel a planned activity"""
    return svc.cancel_activity(current_ctx(), activity_id)


@blp.route("/expenses")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ExpensePage)
def list_expenses(args: dict[str, Any]) -> Any:
    """List the expenses you may see"""
    items, total = expenses.list_expenses(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/expenses", methods=["POST"])
@json_body(blp, ExpenseSchema)
@blp.response(201, ExpenseSchema)
def record_expense(data: dict[str, Any]) -> Any:
    """Record a sales expense"""
    return expenses.record_expense(current_ctx(), data)


@blp.route("/targets")
@blp.arguments(TargetListArgs, location="query")
@blp.response(200, TargetSchema(many=True))
def list_targets(args: dict[str, Any]) -> Any:
    """Monthly sales plans you may see"""
    return targets.list_targets(current_ctx(), **args)


@blp.route("/targets", methods=["PUT"])
@json_body(blp, TargetSchema)
@blp.response(200, TargetSchema)
def set_target(data: dict[str, Any]) -> Any:
    """Set a month's plan for a rep (``user_id``), a team (``team_id``) or the company (neither)"""
    return targets.set_target(current_ctx(), data)


@blp.route("/targets/<int:target_id>", methods=["DELETE"])
@blp.response(204)
def delete_target(target_id: int) -> Any:
    """Delete a plan"""
    targets.delete_target(current_ctx(), target_id)
    return None
