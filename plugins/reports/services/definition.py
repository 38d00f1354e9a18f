"""A report definition's one validation (API, admin, CLI): the schema, then its entity, fields, buckets and measures
checked against the entity's metadata, with a message per field in the reader's language."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore import entities as meta
from crmcore.conditions import ConditionError, Field, near_names, validate_sql
from crmcore.errors import NotFound
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.condition_fields import fields_for
from crmcore.services.validation import load_flat

from ..models import DISPLAYS, SCHEDULES, Report

MAX_GROUPS = 2
MAX_MEASURES = 5
MAX_ROWS = 5000
AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct")
BUCKETS = ("day", "week", "month", "quarter", "year")
NUMERIC = ("int", "num", "money")
ORDERED = (*NUMERIC, "date", "datetime")
SORTS = ("group", "measure")
EDITABLE = ("name", "description", "entity", "filters", "group_by", "measures", "sort", "sort_desc", "row_limit",
            "display", "on_home", "schedule", "schedule_weekday", "schedule_day", "schedule_time")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_ONE_OF = _("Must be one of: {choices}.")


class GroupSchema(Schema):
    field = fields.Str(required=True, validate=validate.Length(min=1, max=120))
    bucket = fields.Str(allow_none=True, validate=validate.OneOf(BUCKETS, error=_ONE_OF))


class MeasureSchema(Schema):
    agg = fields.Str(required=True, validate=validate.OneOf(AGGREGATES, error=_ONE_OF))
    field = fields.Str(allow_none=True, validate=validate.Length(max=120))


class ReportSchema(Schema):
    name = text(Report.name, required=True)
    description = fields.Str(allow_none=True, validate=validate.Length(max=2000))
    entity = text(Report.entity, required=True)
    filters = fields.Dict(allow_none=True)
    group_by = fields.List(fields.Nested(GroupSchema), validate=validate.Length(max=MAX_GROUPS))
    measures = fields.List(fields.Nested(MeasureSchema), required=True,
                           validate=validate.Length(min=1, max=MAX_MEASURES))
    sort = fields.Str(validate=validate.OneOf(SORTS, error=_ONE_OF))
    sort_desc = fields.Bool()
    row_limit = fields.Int(strict=True, validate=validate.Range(min=1, max=MAX_ROWS))
    display = fields.Str(validate=validate.OneOf(DISPLAYS, error=_ONE_OF))
    on_home = fields.Bool()
    schedule = fields.Str(validate=validate.OneOf(SCHEDULES, error=_ONE_OF))
    schedule_weekday = fields.Int(strict=True, validate=validate.Range(min=0, max=6))
    schedule_day = fields.Int(strict=True, validate=validate.Range(min=1, max=28))
    schedule_time = fields.Str(validate=validate.Regexp(_TIME, error=_("Give a time like 08:00.")))
    shares = fields.List(fields.Dict(), validate=validate.Length(max=100))


_SCHEMA = ReportSchema()


def entity_fields(ctx: ServiceContext, entity: str) -> dict[str, Field]:
    """The fields a report over ``entity`` may filter, group and measure on (the condition language's fields)."""
    return fields_for(ctx, entity)


def check_parts(ctx: ServiceContext, merged: dict[str, Any]) -> dict[str, list[Any]]:
    """The problems of a definition's entity, filters, groupings and measures, by dotted path."""
    errors: dict[str, list[Any]] = {}
    try:
        meta.get(ctx, str(merged.get("entity")))
    except NotFound:
        known = ", ".join(f"{e.name} ({e.label})" for e in meta.readable(ctx))
        return {"entity": [_("Unknown record type; choose one of: %(names)s.", names=known)]}
    known_fields = entity_fields(ctx, merged["entity"])
    try:
        errors.update({k.replace("conditions", "filters", 1): v for k, v in
                       validate_sql(merged.get("filters"), known_fields, "filters").items()})
    except ConditionError as exc:
        errors["filters"] = [exc.message, *(m for v in exc.errors.values() for m in v)]
    for i, group in enumerate(merged.get("group_by") or []):
        spec = _field(known_fields, group.get("field"), f"group_by.{i}.field", errors)
        if spec is None:
            continue
        bucket = group.get("bucket")
        if spec.kind in ("date", "datetime") and not bucket:
            errors.setdefault(f"group_by.{i}.bucket", []).append(
                _("Group a date by day, week, month, quarter or year."))
        elif spec.kind not in ("date", "datetime") and bucket:
            errors.setdefault(f"group_by.{i}.bucket", []).append(_("Only a date is grouped by a period."))
    for i, measure in enumerate(merged.get("measures") or []):
        agg, name = measure.get("agg"), measure.get("field")
        if agg == "count":
            if name:
                errors.setdefault(f"measures.{i}.field", []).append(_("A count counts records; it takes no field."))
            continue
        spec = _field(known_fields, name, f"measures.{i}.field", errors)
        if spec is None:
            continue
        allowed = NUMERIC if agg in ("sum", "avg") else ORDERED if agg in ("min", "max") else None
        if allowed is not None and spec.kind not in allowed:
            usable = sorted(f"{f.name} ({f.label})" for f in known_fields.values() if f.kind in allowed)
            errors.setdefault(f"measures.{i}.field", []).append(
                _("%(field)s cannot be used for this measure; choose one of: %(fields)s.", field=spec.label,
                  fields=", ".join(usable) or "-"))
    if merged.get("sort") == "group" and not merged.get("group_by"):
        merged["sort"] = "measure"
    return errors


def _field(known: dict[str, Field], name: Any, path: str, errors: dict[str, list[Any]]) -> Field | None:
    if not isinstance(name, str) or not name:
        errors.setdefault(path, []).append(_("Choose a field."))
        return None
    spec = known.get(name)
    if spec is None:
        errors.setdefault(path, []).append(_("Unknown field %(name)r; did you mean: %(names)s?", name=name,
                                             names=", ".join(near_names(name, known))))
    return spec


def validate_report(ctx: ServiceContext, data: Any, existing: Report | None) -> dict[str, Any]:
    """A definition checked and converted: the schema (all of it for a new report, what is given for
    ``existing``), a name no other report has, and its parts against the entity's metadata."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("name"):
            other = ctx.session.scalar(select(Report.id).where(Report.name == values["name"]))
            if other is not None and (existing is None or other != existing.id):
                errors["name"] = [_("A report named '%(name)s' exists.", name=values["name"])]
        merged = {k: values[k] if k in values else getattr(existing, k, None) for k in EDITABLE}
        if any(k in values for k in ("entity", "filters", "group_by", "measures")) and merged.get("entity") \
                and merged.get("measures") is not None:
            errors.update(check_parts(ctx, merged))
        return errors

    return load_flat(_SCHEMA, data, partial=existing is not None, message=_("The report is not valid."), check=check)


DEFAULTS: dict[str, Any] = {"description": None, "filters": None, "group_by": [], "sort": "group", "sort_desc": False,
                            "row_limit": 500, "display": "table", "on_home": False, "schedule": "none",
                            "schedule_weekday": 0, "schedule_day": 1, "schedule_time": "08:00"}


def complete(values: dict[str, Any]) -> dict[str, Any]:
    """A validated definition with the defaults of what it does not say."""
    return {**DEFAULTS, **{k: v for k, v in values.items() if k in EDITABLE}}


def definition_of(report: Report) -> dict[str, Any]:
    """The stored definition as the runner reads it."""
    return {k: getattr(report, k) for k in EDITABLE}
