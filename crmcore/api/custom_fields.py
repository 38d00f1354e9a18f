"""/api/v1/custom-fields: admin-defined fields whose values records carry in ``attributes``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..models import CustomField
from ..schemas.admin import CustomFieldSchema, CustomFieldUpdateSchema
from ..services import custom_fields as svc
from .blueprint import Blueprint
from .http import current_ctx, json_body

blp = Blueprint("custom_fields", __name__, url_prefix="/api/v1/custom-fields", description="Custom fields")


@blp.route("")
@blp.response(200, CustomFieldSchema(many=True))
def list_fields() -> Any:
    """List the active custom fields and the types available"""
    ctx = current_ctx()
    return list(ctx.session.scalars(select(CustomField).where(CustomField.active.is_(True))
                                    .order_by(CustomField.entity, CustomField.position, CustomField.id)))


@blp.route("/types")
def list_types() -> Any:
    """The field types admins may choose (built in and from plugins)"""
    ctx = current_ctx()
    return [{"name": t.name, "label": t.label or t.name} for t in ctx.registry.field_types.values()], 200


@blp.route("", methods=["POST"])
@json_body(blp, CustomFieldSchema)
@blp.response(201, CustomFieldSchema)
def create_field(data: dict[str, Any]) -> Any:
    """Define a custom field (needs customfield.manage)"""
    return svc.create_field(current_ctx(), data)


@blp.route("/<int:field_id>", methods=["PATCH"])
@json_body(blp, CustomFieldUpdateSchema(partial=True))
@blp.response(200, CustomFieldSchema)
def update_field(data: dict[str, Any], field_id: int) -> Any:
    """Change a custom field's label, rules or choices"""
    return svc.update_field(current_ctx(), field_id, data)


@blp.route("/<int:field_id>", methods=["DELETE"])
@blp.response(204)
def delete_field(field_id: int) -> Any:
    """Deactivate a custom field; stored values are kept"""
    svc.delete_field(current_ctx(), field_id)
    return None
