"""/api/v1/meta/entities: the record types the caller may read, with their fields, labels and relations."""
from __future__ import annotations

from typing import Any

from .. import entities
from ..schemas.meta import EntityMetaSchema, EntitySummarySchema, MatchesSchema, MatchesQuerySchema
from ..services import condition_fields
from .blueprint import Blueprint
from .http import current_ctx, json_body

blp = Blueprint("meta", __name__, url_prefix="/api/v1/meta", description="Entity metadata for tools")


@blp.route("/entities")
@blp.response(200, EntitySummarySchema(many=True))
def list_entities() -> Any:
    """The record types the caller may read, with labels in the reader's language"""
    return [{"name": e.name, "label": str(e.label)} for e in entities.readable(current_ctx())]


@blp.route("/entities/<name>")
@blp.response(200, EntityMetaSchema)
def get_entity(name: str) -> Any:
    """One record type: fields (columns, custom, computed) with types, labels, choices, relations"""
    return condition_fields.describe(current_ctx(), name)


@blp.route("/entities/<name>/matches", methods=["POST"])
@json_body(blp, MatchesQuerySchema)
@blp.response(200, MatchesSchema)
def entity_matches(data: dict[str, Any], name: str) -> Any:
    """How many records the caller may see satisfy a condition, and a sample of them (at most 20)"""
    return condition_fields.matches(current_ctx(), name, data)
