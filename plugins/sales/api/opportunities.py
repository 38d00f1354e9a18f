"""/api/v1/sales/opportunities and /stages: the pipeline, stage moves with their history, suggestions."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.imports.api import add_bulk_route

from ..schemas import (BoardArgs, BoardColumnSchema, MoveSchema, OpportunityListArgs, OpportunityPage,
                       OpportunitySchema, OpportunityUpdateSchema, StageHistorySchema, StageSchema, SuggestionSchema)
from ..services import opportunities as svc
from ..services import stages, suggestions

blp = Blueprint("sales_opportunities", __name__, url_prefix="/api/v1/sales",
                description="Sales: opportunities, stages and the pipeline")


@blp.route("/stages")
@blp.response(200, StageSchema(many=True))
def list_stages() -> Any:
    """The stages in pipeline order"""
    return stages.list_stages(current_ctx())


@blp.route("/stages", methods=["POST"])
@json_body(blp, StageSchema)
@blp.response(201, StageSchema)
def create_stage(data: dict[str, Any]) -> Any:
    """Add a stage (admins)"""
    return stages.create_stage(current_ctx(), data)


@blp.route("/stages/<int:stage_id>", methods=["PATCH"])
@json_body(blp, StageSchema(partial=True))
@blp.response(200, StageSchema)
def patch_stage(data: dict[str, Any], stage_id: int) -> Any:
    """Change a stage: name, order, probability, won/lost, active (admins)"""
    return stages.update_stage(current_ctx(), stage_id, data)


@blp.route("/stages/<int:stage_id>", methods=["DELETE"])
@blp.response(204)
def delete_stage(stage_id: int) -> Any:
    """Delete a stage no opportunity was ever in (admins); deactivate used ones instead"""
    stages.delete_stage(current_ctx(), stage_id)
    return None


@blp.route("/opportunities")
@blp.arguments(OpportunityListArgs, location="query")
@blp.response(200, OpportunityPage)
def list_opportunities(args: dict[str, Any]) -> Any:
    """List the opportunities you may see (a rep: their own)"""
    items, total = svc.list_opportunities(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/opportunities", methods=["POST"])
@json_body(blp, OpportunitySchema)
@blp.response(201, OpportunitySchema)
def create_opportunity(data: dict[str, Any]) -> Any:
    """Create an opportunity (first open stage unless ``stage_id``)"""
    opp = svc.create_opportunity(current_ctx(), data)
    return with_etag(opp, opp, 201)


@blp.route("/opportunities/board")
@blp.arguments(BoardArgs, location="query")
@blp.response(200, BoardColumnSchema(many=True))
def board(args: dict[str, Any]) -> Any:
    """The pipeline board: each stage with its opportunities, count and amount per currency"""
    return svc.board(current_ctx(), **args)


@blp.route("/opportunities/<int:opportunity_id>")
@blp.response(200, OpportunitySchema)
def get_opportunity(opportunity_id: int) -> Any:
    """Get an opportunity; the ETag carries its version"""
    opp = svc.get_opportunity(current_ctx(), opportunity_id)
    return with_etag(opp, opp)


@blp.route("/opportunities/<int:opportunity_id>", methods=["PATCH"])
@json_body(blp, OpportunityUpdateSchema(partial=True))
@blp.response(200, OpportunitySchema)
def patch_opportunity(data: dict[str, Any], opportunity_id: int) -> Any:
    """Change an opportunity; a ``stage_id`` moves it (If-Match: 412 if stale; ``version``: 409)"""
    version, if_match = expected_version()
    data.pop("version", None)
    opp = svc.update_opportunity(current_ctx(), opportunity_id, data, expected_version=version, if_match=if_match)
    return with_etag(opp, opp)


@blp.route("/opportunities/<int:opportunity_id>/move", methods=["POST"])
@blp.arguments(MoveSchema)
@blp.response(200, OpportunitySchema)
def move(data: dict[str, Any], opportunity_id: int) -> Any:
    """Move to another stage; a lost stage needs ``lost_reason``"""
    version, if_match = expected_version()
    data.pop("version", None)
    stage_id = data.pop("stage_id")
    opp = svc.move_stage(current_ctx(), opportunity_id, stage_id, expected_version=version, if_match=if_match, **data)
    return with_etag(opp, opp)


@blp.route("/opportunities/<int:opportunity_id>/stage-history")
@blp.response(200, StageHistorySchema)
def stage_history(opportunity_id: int) -> Any:
    """Each stay in a stage with its duration in seconds, and the total per stage"""
    return svc.stage_history(current_ctx(), opportunity_id)


@blp.route("/opportunities/<int:opportunity_id>/suggestions")
@blp.response(200, SuggestionSchema(many=True))
def opportunity_suggestions(opportunity_id: int) -> Any:
    """Cross-sell suggestions from the plugins for this opportunity's customer"""
    return suggestions.for_opportunity(current_ctx(), opportunity_id)


@blp.route("/customers/<int:customer_id>/suggestions")
@blp.response(200, SuggestionSchema(many=True))
def customer_suggestions(customer_id: int) -> Any:
    """Cross-sell suggestions from the plugins for a customer"""
    return suggestions.for_customer(current_ctx(), customer_id)


add_bulk_route(blp, "opportunities", rule="/opportunities/bulk")
