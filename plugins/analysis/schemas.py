"""Input schemas of the analysis settings (tag rules, RFM segment rules): lengths from the models, messages in the catalogue."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields

from crmcore.i18n import _
from crmcore.schemas.columns import text

from .models import SegmentRule, TagRule


class TagRuleSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(TagRule.name, required=True)
    tag = text(TagRule.tag, required=True)
    conditions = fields.Dict(required=True, metadata={"description": "A condition in the core's language"})
    active = fields.Bool()
    last_applied_at = fields.AwareDateTime(dump_only=True)
    last_count = fields.Int(dump_only=True)


def score(value: Any) -> Any:
    """A validator: an RFM score bound from 1 to 10."""
    if value is not None and not 1 <= value <= 10:
        raise ValidationError([_("Scores run from 1 to 10 and the minimum may not exceed the maximum.")])
    return value


class SegmentRuleSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(SegmentRule.name, required=True)
    label = text(SegmentRule.label, required=True)
    priority = fields.Int()
    r_min = fields.Int(validate=score)
    r_max = fields.Int(validate=score)
    f_min = fields.Int(validate=score)
    f_max = fields.Int(validate=score)
    m_min = fields.Int(validate=score)
    m_max = fields.Int(validate=score)
    action = text(SegmentRule.action, blank_none=True)
    active = fields.Bool()
