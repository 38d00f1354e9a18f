"""/api/v1/customers/<id>/identities: a customer's ids on messaging platforms (openid, unionid, WeCom, QQ, Weibo)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from ..schemas.identities import IdentitySchema
from ..services import identities as svc
from .blueprint import Blueprint
from .http import current_ctx, json_body

blp = Blueprint("identities", __name__, url_prefix="/api/v1/customers", description="Customer identities")


class IdentityList(Schema):
    items = fields.List(fields.Nested(IdentitySchema))


@blp.route("/<int:customer_id>/identities")
@blp.response(200, IdentityList)
def list_identities(customer_id: int) -> Any:
    """A customer's identities"""
    return {"items": svc.list_identities(current_ctx(), customer_id)}


@blp.route("/<int:customer_id>/identities", methods=["POST"])
@json_body(blp, IdentitySchema)
@blp.response(201, IdentitySchema)
def add_identity(data: dict[str, Any], customer_id: int) -> Any:
    """Record an id of the customer; 409 when it is another customer's"""
    return svc.add_identity(current_ctx(), customer_id, data), 201


@blp.route("/<int:customer_id>/identities/<int:identity_id>", methods=["DELETE"])
@blp.response(204)
def remove_identity(customer_id: int, identity_id: int) -> Any:
    """Forget an id of the customer"""
    svc.remove_identity(current_ctx(), identity_id, customer_id=customer_id)
    return ""
