"""/api/v1/interactions: log and list touchpoints on the customers' timelines."""
from __future__ import annotations

from typing import Any

from ..imports.api import add_bulk_route
from ..schemas.customers import InteractionListArgs, InteractionPage, InteractionSchema
from ..services import interactions as svc
from .blueprint import Blueprint
from .http import current_ctx, cursor_page, json_body, take_id

blp = Blueprint("interactions", __name__, url_prefix="/api/v1/interactions", description="The interaction timeline")
add_bulk_route(blp, "interactions")  # POST /bulk: the interactions import, per-row results


@blp.route("")
@blp.arguments(InteractionListArgs, location="query")
@blp.response(200, InteractionPage)
def list_interactions(args: dict[str, Any]) -> Any:
    """List interactions, newest first"""
    return cursor_page(svc.list_interactions(current_ctx(), **args), args)


@blp.route("", methods=["POST"])
@json_body(blp, InteractionSchema)
@blp.response(201, InteractionSchema)
def create_interaction(data: dict[str, Any]) -> Any:
    """Log a touchpoint (call, visit, e-mail, WeChat, ...) on a customer's timeline"""
    customer_id = take_id(InteractionSchema(), data, "customer_id")
    return svc.log_interaction(current_ctx(), customer_id, data)


@blp.route("/<int:interaction_id>")
@blp.response(200, InteractionSchema)
def get_interaction(interaction_id: int) -> Any:
    """Get an interaction"""
    return svc.get_interaction(current_ctx(), interaction_id)
