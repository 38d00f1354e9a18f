"""The schema of a customer identity (platform, account, value): lengths and choices from the model."""
from __future__ import annotations

from marshmallow import Schema, fields

from ..models import CustomerIdentity
from .columns import text
from .common import Id


class IdentitySchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(dump_only=True)
    platform = text(CustomerIdentity.platform, required=True)
    account = text(CustomerIdentity.account)
    value = text(CustomerIdentity.value, required=True)
    source = text(CustomerIdentity.source)
    created_at = fields.AwareDateTime(dump_only=True)
