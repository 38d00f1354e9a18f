"""Schemas of the sales KPIs and metrics."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.i18n import _
from crmcore.schemas.columns import text

from ..models import Metric
from ..services.metric_entities import ENTITIES
from .common import Currency

AGGREGATES = ("count", "sum", "avg")
METRIC_NAME = _("Use letters, digits and '_' (at most 64).")


class KpiArgs(Schema):
    period = fields.Str(metadata={"description": "2026-03, 2026-Q1, 2026 or 2026-01-01..2026-01-31; default: this month"})
    rep_id = fields.Int()
    team_id = fields.Int()
    currency = Currency(metadata={"description": "Report currency; default: the base currency"})
    kpi = fields.List(fields.Str(), metadata={"description": "Only these KPIs"})


class KpiValueSchema(Schema):
    key = fields.Str()
    label = fields.Str()
    unit = fields.Str()
    value = fields.Raw(allow_none=True)
    numerator = fields.Raw(allow_none=True)
    denominator = fields.Raw(allow_none=True)
    note = fields.Str(allow_none=True)
    excluded_currencies = fields.List(fields.Str())
    detail = fields.List(fields.Dict())


class KpiReportSchema(Schema):
    subject = fields.Str()
    subject_label = fields.Str()
    period = fields.Str()
    previous_period = fields.Str()
    start = fields.Date()
    end = fields.Date(metadata={"description": "Exclusive"})
    currency = fields.Str()
    kpis = fields.Dict(keys=fields.Str(), values=fields.Nested(KpiValueSchema))


class MetricShareSchema(Schema):
    role = fields.Str()
    role_id = fields.Int(allow_none=True)  # a share names a role or a user
    user_id = fields.Int(allow_none=True)


class MetricSchema(Schema):
    """A custom metric: the one declaration of its fields' rules (lengths from the model)."""

    id = fields.Int(dump_only=True)
    name = text(Metric.name, required=True, validators=[validate.Regexp(r"^\w+$", error=METRIC_NAME)],
                error_messages={"required": METRIC_NAME}, metadata={"description": "letters, digits and _"})
    label = text(Metric.label, required=True, error_messages={"required": _("A metric needs a label.")})
    description = fields.Str(allow_none=True)
    entity = text(Metric.entity, required=True, choices=sorted(ENTITIES))
    conditions = fields.Dict(allow_none=True, metadata={
        "description": '{"field","op","value"} | {"all": [...]} | {"any": [...]} | {"not": {...}}'})
    aggregate = text(Metric.aggregate, choices=AGGREGATES, metadata={"description": "Default: count"})
    field = text(Metric.field, blank_none=True, metadata={"description": "The number field to sum or average"})
    shares = fields.Method("_dump_shares", deserialize="_load_shares")
    report = fields.Dict(dump_only=True, allow_none=True, metadata={
        "description": "The report that defines the metric (its entity, conditions, aggregate and field "
                       "are the report's): {id, name, url}, or null"})

    def _dump_shares(self, obj: object) -> list[dict[str, int | None]]:
        return [{"role_id": s.role_id, "user_id": s.user_id} for s in getattr(obj, "shares", [])]

    def _load_shares(self, value: object) -> object:
        return value


class MetricValueArgs(Schema):
    period = fields.Str()
    rep_id = fields.Int()
    team_id = fields.Int()
    currency = Currency()
