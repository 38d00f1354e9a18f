"""/api/v1/loyalty: a customer's points and awarding points (a flask-smorest blueprint).

The core authenticates every request under /api/ before these views run; ``current_ctx()``
is the ServiceContext of the token's user.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint

from . import services

blp = Blueprint("loyalty", __name__, url_prefix="/api/v1/loyalty", description="Loyalty points (example plugin)")


class EntrySchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = fields.Int(dump_only=True)
    points = fields.Int(required=True, validate=validate.Range(min=-services.MAX_AWARD, max=services.MAX_AWARD))
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    event_id = fields.Str(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class BalanceSchema(Schema):
    customer_id = fields.Int()
    points = fields.Int()
    tier = fields.Str(validate=validate.OneOf(["none", *(name for name, _needed in services.TIERS)]))
    entries = fields.List(fields.Nested(EntrySchema))


@blp.route("/customers/<int:customer_id>")
@blp.response(200, BalanceSchema)
def get_balance(customer_id: int) -> Any:
    """A customer's loyalty points, tier and latest entries (needs loyalty.read)"""
    return services.balance(current_ctx(), customer_id)


@blp.route("/customers/<int:customer_id>/points", methods=["POST"])
@blp.arguments(EntrySchema)
@blp.response(201, EntrySchema)
def award_points(data: dict[str, Any], customer_id: int) -> Any:
    """Give (or, negative, take) points by hand (needs loyalty.write)"""
    return services.award(current_ctx(), customer_id, data["points"], data["reason"])
