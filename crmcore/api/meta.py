"""/api/v1/meta/entities: the record types the caller may read, with their fields, labels and relations."""
from __future__ import annotations

from typing import Any

from .. import entities
from ..schemas.meta import EntityMetaSchema, EntitySummarySchema
from .blueprint import Blueprint
from .http import current_ctx

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
    ctx = current_ctx()
    return entities.describe(ctx, entities.get(ctx, name))
