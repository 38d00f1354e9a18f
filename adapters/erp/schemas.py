"""The ERP connection's one schema: lengths from the model, URL, streams, ownership and number rules (secret write-only)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.i18n import _
from crmcore.schemas.columns import text

from .base import STREAMS
from .models import ErpConnection

OWNERS = ("erp", "crm")
LIMITS = {"overlap_seconds": (0, 86_400), "timeout_seconds": (1, 3_600), "page_size": (1, 5_000)}
HTTP_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error=_("Not a valid URL."))


def known_streams(value: Any) -> Any:
    """A validator: stream names the sync knows."""
    unknown = [s for s in value or [] if s not in STREAMS]
    if unknown:
        raise ValidationError([_("Unknown stream(s): %(names)s. Known: %(known)s.", names=", ".join(unknown),
                                 known=", ".join(STREAMS))])
    return value


def ownership_rules(value: Any) -> Any:
    """A validator: per entity, each field owned by ``erp`` or ``crm``."""
    if any(not isinstance(rules, dict) or any(v not in OWNERS for v in rules.values()) for rules in value.values()):
        raise ValidationError([_("Give each field 'erp' or 'crm', per entity: %(example)s.",
                                 example='{"customer": {"email": "erp"}}')])
    return value


def within(name: str) -> Any:
    """A validator: a whole number within ``LIMITS[name]``."""
    low, high = LIMITS[name]

    def check(value: Any) -> Any:
        if value is not None and not low <= value <= high:
            raise ValidationError([_("Use a whole number from %(low)s to %(high)s.", low=low, high=high)])
        return value
    return check


class ConnectionSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(ErpConnection.name, required=True)
    adapter = text(ErpConnection.adapter, required=True)
    settings = fields.Dict(keys=fields.Str())  # checked per adapter: connections.setting_errors
    secret = fields.Str(load_only=True, allow_none=True,
                        metadata={"description": "password or API key; write-only"})
    has_secret = fields.Method("_has_secret", dump_only=True)
    streams = fields.List(fields.Str(), validate=known_streams)
    ownership = fields.Dict(keys=fields.Str(), validate=ownership_rules)
    overlap_seconds = fields.Int(validate=within("overlap_seconds"))
    timeout_seconds = fields.Int(validate=within("timeout_seconds"))
    page_size = fields.Int(validate=within("page_size"))
    push_enabled = fields.Bool()
    enabled = fields.Bool()
    last_test_at = fields.AwareDateTime(dump_only=True)
    last_test_result = fields.Str(dump_only=True)

    def _has_secret(self, obj: Any) -> bool:
        return bool(obj.secret)
