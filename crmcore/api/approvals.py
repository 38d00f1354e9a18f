"""/api/v1/approvals: approval requests, the approver's inbox, decisions, withdraw and revoke."""
from __future__ import annotations

from typing import Any

from .http import current_ctx, page
from ..schemas.workflow import ApprovalListArgs, ApprovalPage, ApprovalRequestSchema, ApprovalCommentSchema, InboxItemSchema
from ..services import approvals as svc
from .blueprint import Blueprint

blp = Blueprint("approvals", __name__, url_prefix="/api/v1/approvals",
                description="Approvals: the inbox of pending decisions, approve, reject, withdraw, revoke")


@blp.route("")
@blp.arguments(ApprovalListArgs, location="query")
@blp.response(200, ApprovalPage)
def list_approvals(args: dict[str, Any]) -> Any:
    """Approvals you requested or review (every approval with approval.manage)"""
    items, total = svc.list_requests(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/inbox")
@blp.response(200, InboxItemSchema(many=True))
def inbox() -> Any:
    """Your pending decisions, oldest first"""
    return svc.inbox(current_ctx())


@blp.route("/<int:request_id>")
@blp.response(200, ApprovalRequestSchema)
def get_approval(request_id: int) -> Any:
    """An approval with its tasks and every decision"""
    return svc.get_request(current_ctx(), request_id)


@blp.route("/<int:request_id>/approve", methods=["POST"])
@blp.arguments(ApprovalCommentSchema)
@blp.response(200, ApprovalRequestSchema)
def approve(data: dict[str, Any], request_id: int) -> Any:
    """Approve what waits for your decision"""
    return svc.decide(current_ctx(), request_id, True, data.get("comment"))


@blp.route("/<int:request_id>/reject", methods=["POST"])
@blp.arguments(ApprovalCommentSchema)
@blp.response(200, ApprovalRequestSchema)
def reject(data: dict[str, Any], request_id: int) -> Any:
    """Reject what waits for your decision (a comment is required unless the tier says otherwise)"""
    return svc.decide(current_ctx(), request_id, False, data.get("comment"))


@blp.route("/<int:request_id>/withdraw", methods=["POST"])
@blp.arguments(ApprovalCommentSchema)
@blp.response(200, ApprovalRequestSchema)
def withdraw(data: dict[str, Any], request_id: int) -> Any:
    """Withdraw your open request; the policy's compensating action runs"""
    return svc.withdraw(current_ctx(), request_id, data.get("comment"))


@blp.route("/<int:request_id>/revoke", methods=["POST"])
@blp.arguments(ApprovalCommentSchema)
@blp.response(200, ApprovalRequestSchema)
def revoke(data: dict[str, Any], request_id: int) -> Any:
    """Revoke an approved request (approval.manage); the compensating action runs"""
    return svc.revoke(current_ctx(), request_id, data.get("comment"))
