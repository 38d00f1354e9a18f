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


class Edges(fields.List):
    """Score edges: numbers, increasing, at most 9 (``[30, 90, 180, 365]``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Float(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value is None:
            return []
        try:
            values = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            raise ValidationError([_("Edges must be numbers.")]) from None
        if values and (values != sorted(set(values)) or len(values) > 9):
            raise ValidationError([_("Edges must be increasing, at most 9 of them.")])
        return values


def between(low: float, high: float, message: Any, *, high_open: bool = False) -> Any:
    """A validator: ``low <= value <= high`` (``< high`` when ``high_open``), else ``message``."""
    def check(value: Any) -> Any:
        if value is not None and not (low <= value < high if high_open else low <= value <= high):
            raise ValidationError([message])
        return value
    return check


class Whole(fields.Int):
    """A whole number: ``30``, ``30.0`` or ``"30"``; ``2.5`` is refused, not cut to 2."""

    def _validated(self, value: Any) -> Any:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


class RfmSettingsSchema(Schema):
    """How RFM scores: ``bins`` quantiles (2 to 10), or fixed edges per dimension."""

    bins = Whole(load_default=5, validate=between(2, 10, _("Use 2 to 10 bins.")),
                      error_messages={"invalid": _("Use 2 to 10 bins.")})
    recency_edges = Edges(load_default=list)
    frequency_edges = Edges(load_default=list)
    monetary_edges = Edges(load_default=list)


WHOLE = {"invalid": _("Must be a whole number."), "too_large": _("Must be a whole number.")}
NUMBER = {"invalid": _("Must be a number."), "special": _("Must be a number."), "too_large": _("Must be a number.")}


class ClvSettingsSchema(Schema):
    """The CLV run's parameters (the settings file's ``[analysis.clv]``, overridden per run)."""

    horizon_days = Whole(error_messages=WHOLE, validate=between(
        1, 3650, _("Use a whole number from %(low)s to %(high)s.", low=1, high=3650)))
    months = Whole(error_messages=WHOLE, validate=between(
        1, 120, _("Use a whole number from %(low)s to %(high)s.", low=1, high=120)))
    monthly_discount = fields.Float(error_messages=NUMBER, validate=between(
        0, 1, _("Use a rate from 0 up to (not including) 1."), high_open=True))
    penalizer = fields.Float(error_messages=NUMBER, validate=between(0, 10, _("Use a number from 0 (none) to 10.")))
