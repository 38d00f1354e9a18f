"""Custom metrics: an admin picks an entity, declarative conditions and an aggregate (count, sum or
average of a field) and shares the metric with roles or single users, who see only those."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select

from crmcore.conditions import ConditionError, compile_sql
from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Role, User
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import Metric, MetricShare
from . import access, money
from ..schemas.kpis import MetricSchema
from .metric_entities import AGGREGATABLE, ENTITIES, EntitySpec
from .periods import Period
from .subjects import Subject

_SCHEMA = MetricSchema()
FIELDS = ("name", "label", "description", "entity", "conditions", "aggregate", "field")
DEFINITION = ("entity", "conditions", "aggregate", "field")  # what a report says when one defines the metric


@dataclass
class ShownMetric:
    """A metric as it is shown: when a report defines it, that report's entity, conditions and measure (one
    truth) and a link to it (``report``); its name, label, description and shares are the metric's own."""

    metric: Metric
    entity: str
    conditions: Any
    aggregate: str | None
    field: str | None
    report: dict[str, Any] | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


def defined_by(ctx: ServiceContext, metric: Metric) -> dict[str, Any] | None:
    """The report that defines the metric (``crm_sales_metric_report``), or None."""
    answer: dict[str, Any] | None = ctx.hook.crm_sales_metric_report(ctx=ctx, metric=metric)
    return answer


def _report_definition(report: dict[str, Any]) -> dict[str, Any]:
    measure = report.get("measure") or {}
    aggregate = measure.get("agg") or "count"
    return {"entity": report["entity"], "conditions": report.get("filters") or None, "aggregate": aggregate,
            "field": None if aggregate == "count" else measure.get("field")}


def shown(ctx: ServiceContext, metric: Metric) -> ShownMetric:
    """The metric with its definition read from the report that defines it (when one does)."""
    report = defined_by(ctx, metric)
    if report is None:
        return ShownMetric(metric, metric.entity, metric.conditions, metric.aggregate, metric.field, None)
    link = {"id": report["id"], "name": report["name"], "url": f"/api/v1/reports/{report['id']}"}
    return ShownMetric(metric, **_report_definition(report), report=link)


def validate_metric(ctx: ServiceContext, data: dict[str, Any], existing: Metric | None) -> dict[str, Any]:
    """A metric's input checked and converted, the one validation of a metric (API, admin): ``MetricSchema``
    (lengths from the model, the entities and aggregates there are; all fields for a new metric, those
    given for ``existing``), then a name no other metric has, a number field to sum or average, and
    conditions the entity's fields can answer. A count has no field."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        merged = {k: values.get(k, getattr(existing, k) if existing else None) for k in FIELDS}
        if values.get("name"):
            other = ctx.session.scalar(select(Metric).where(Metric.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("A metric named '%(name)s' exists.", name=values["name"])]
        spec = ENTITIES.get(merged["entity"])
        aggregate = merged["aggregate"] or "count"
        if spec is not None and aggregate != "count":
            kind = spec.fields.get(merged["field"] or "")
            if kind not in AGGREGATABLE:
                numeric = sorted(f for f, k in spec.fields.items() if k in AGGREGATABLE)
                errors["field"] = [_("To %(aggregate)s choose a number field of %(entity)s: %(fields)s.",
                                     aggregate=aggregate, entity=spec.name, fields=", ".join(numeric))]
        if spec is not None and ("conditions" in values or "entity" in values):
            try:
                compile_sql(merged["conditions"], spec.condition_fields())
            except ConditionError as exc:
                errors.update(exc.errors)
        return errors

    data = load(_SCHEMA, data, partial=existing is not None, message=_("The metric is not valid."), check=check)
    aggregate = data.get("aggregate", existing.aggregate if existing else None) or "count"
    if aggregate == "count" and data.get("field", existing.field if existing else None):
        data["field"] = None  # a count has no field
    return data


def create_metric(ctx: ServiceContext, data: dict[str, Any]) -> Metric:
    ctx.require("sales.metric.manage")
    shares = data.get("shares")
    data = validate_metric(ctx, data, None)
    with unit_of_work(ctx):
        metric = Metric(created_by_id=getattr(ctx.actor, "id", None), aggregate="count")
        changes = apply_changes(metric, data, FIELDS)
        ctx.session.add(metric)
        ctx.session.flush()
        record_change(ctx, "metric", "created", metric.id, changes, event_name="sales.metric.created")
        if shares is not None:
            share_metric(ctx, metric.id, shares)
    return metric


def update_metric(ctx: ServiceContext, metric_id: int, data: dict[str, Any]) -> Metric:
    """Change a metric. When a report defines it, its definition is the report's: the metric's own copy of the
    report is changed with it (the changed parts only, so an edit made on the report stays); a person's
    report is not the metric's to change, and a change to what it counts is refused, naming the report."""
    ctx.require("sales.metric.manage")
    metric = _get(ctx, metric_id)
    report = defined_by(ctx, metric)
    if report is not None and report["entity"] in ENTITIES:
        current = _report_definition(report)
        asked = {k: data[k] for k in DEFINITION if k in data and data[k] != current[k]}
        if asked and not report.get("mirror"):
            message = _("This metric counts what the report '%(name)s' defines: change the report (Reports).",
                        name=report["name"])
            raise ValidationError(message, errors={k: [message] for k in asked})
        for key, value in current.items():  # the metric's copy follows the report before the change
            setattr(metric, key, value)
    shares = data.get("shares")
    data = validate_metric(ctx, data, metric)
    with unit_of_work(ctx):
        changes = apply_changes(metric, data, FIELDS)
        if changes:
            ctx.session.flush()
            record_change(ctx, "metric", "updated", metric.id, changes, event_name="sales.metric.updated")
        if shares is not None:
            share_metric(ctx, metric.id, shares)
    return metric


def delete_metric(ctx: ServiceContext, metric_id: int) -> None:
    ctx.require("sales.metric.manage")
    metric = _get(ctx, metric_id)
    with unit_of_work(ctx):
        ctx.session.delete(metric)
        record_change(ctx, "metric", "deleted", metric_id, {"name": [metric.name, None]},
                      event_name="sales.metric.deleted")


def share_metric(ctx: ServiceContext, metric_id: int, shares: list[dict[str, Any]]) -> Metric:
    """Replace who the metric is shared with: ``[{"role": "sales"}, {"user_id": 7}, ...]``."""
    ctx.require("sales.metric.manage")
    metric = _get(ctx, metric_id)
    errors: dict[str, list[str]] = {}
    wanted: set[tuple[int | None, int | None]] = set()
    for i, share in enumerate(shares or []):
        if not isinstance(share, dict) or len(share) != 1 or not set(share) <= {"role", "role_id", "user_id"}:
            errors.setdefault(f"shares.{i}", []).append(
                _("Use {\"role\": name}, {\"role_id\": id} or {\"user_id\": id}."))
            continue
        if "role" in share or "role_id" in share:
            role = (ctx.session.scalar(select(Role).where(Role.name == share["role"])) if "role" in share
                    else ctx.session.get(Role, share["role_id"]))
            if role is None:
                errors.setdefault(f"shares.{i}", []).append(_("No such role."))
                continue
            wanted.add((role.id, None))
        else:
            if ctx.session.get(User, share["user_id"]) is None:
                errors.setdefault(f"shares.{i}", []).append(_("User %(id)s does not exist.", id=share["user_id"]))
                continue
            wanted.add((None, share["user_id"]))
    if errors:
        raise ValidationError(_("The shares are not valid."), errors=errors)
    with unit_of_work(ctx):
        before = sorted(((s.role_id or 0, s.user_id or 0) for s in metric.shares))
        metric.shares = [MetricShare(role_id=r, user_id=u) for r, u in sorted(wanted, key=lambda x: (x[0] or 0, x[1] or 0))]
        ctx.session.flush()
        after = sorted(((s.role_id or 0, s.user_id or 0) for s in metric.shares))
        if before != after:
            record_change(ctx, "metric", "updated", metric.id, {"shares": [before, after]},
                          event_name="sales.metric.shared")
    return metric


def _get(ctx: ServiceContext, metric_id: int) -> Metric:
    metric = ctx.session.get(Metric, metric_id)
    if metric is None:
        raise NotFound(_("Metric %(id)s does not exist.", id=metric_id))
    return metric


def _shared_with(ctx: ServiceContext) -> Any:
    """SQL condition: the metric is shared with the actor (directly or through their role)."""
    conds = [MetricShare.user_id == ctx.actor.id]
    if ctx.actor.role_id is not None:
        conds.append(MetricShare.role_id == ctx.actor.role_id)
    return Metric.id.in_(select(MetricShare.metric_id).where(or_(*conds)))


def visible_metrics(ctx: ServiceContext) -> list[Metric]:
    """The metrics shared with the actor; metric managers see all of them."""
    ctx.require("sales.kpi.read")
    stmt = select(Metric).order_by(Metric.label, Metric.id)
    if ctx.actor is not None and not ctx.can("sales.metric.manage"):
        stmt = stmt.where(_shared_with(ctx))
    return list(ctx.session.scalars(stmt))


def get_metric(ctx: ServiceContext, metric_id: int) -> Metric:
    """A metric the actor may see; one not shared with them is 404, as if it did not exist."""
    ctx.require("sales.kpi.read")
    metric = _get(ctx, metric_id)
    if ctx.actor is not None and not ctx.can("sales.metric.manage"):
        if not ctx.session.scalar(select(Metric.id).where(Metric.id == metric.id, _shared_with(ctx))):
            raise NotFound(_("Metric %(id)s does not exist.", id=metric_id))
    return metric


def evaluate(ctx: ServiceContext, metric_id: int, subject: Subject, period: Period, currency: str) -> dict[str, Any]:
    """The metric's value for a subject and period, over the records the actor may see.

    Records count when they match the conditions, their date field falls in the period and their
    owner is in the subject; money fields are converted to ``currency`` (rows without a rate are
    left out and named). An average over no rows is None; a count or sum over none is 0.

    The number comes from the metric's report (``crm_sales_metric_value``, the reports plugin): one
    way to compute a number. Without the reports plugin the same SQL is built here.
    """
    metric = get_metric(ctx, metric_id)
    spec = ENTITIES[metric.entity]
    date_col = spec.column(spec.date)
    is_time = spec.fields.get(spec.date) == "datetime"
    start, end = (period.start_utc, period.end_utc) if is_time else (period.start, period.end)
    where = [date_col >= start, date_col < end]
    subject_cond = subject.owner_condition(spec.column(spec.owner))
    if subject_cond is not None:
        where.append(subject_cond)
    answer = ctx.hook.crm_sales_metric_value(ctx=ctx, metric=metric, where=tuple(where), currency=currency)
    raw = answer["value"] if answer is not None else _own_value(ctx, metric, spec, where, currency)
    excluded: list[str] = []
    kind = spec.fields.get(metric.field or "")
    if metric.aggregate == "count":
        value: Any = int(raw or 0)
    else:
        if kind == "money" and spec.currency:
            cur_col = spec.column(spec.currency)
            owner_cond = access.owner_condition(ctx, spec.column(spec.owner))
            excluded = list(ctx.session.scalars(select(cur_col).where(
                *_conditions(metric, spec), *where, *([owner_cond] if owner_cond is not None else []),
                money.unconvertible(ctx, cur_col, currency)).distinct()))
        if raw is None:
            value = Decimal("0.00") if metric.aggregate == "sum" else None
        else:
            places = Decimal("0.01") if kind == "money" or metric.aggregate == "avg" else Decimal(1)
            value = Decimal(str(raw)).quantize(places, rounding=ROUND_HALF_UP)
    return {"metric_id": metric.id, "name": metric.name, "label": metric.label, "aggregate": metric.aggregate,
            "field": metric.field, "entity": metric.entity, "subject": subject.key, "period": period.label,
            "currency": currency, "value": value, "excluded_currencies": sorted(excluded),
            "report": answer["report"] if answer is not None else None}


def _conditions(metric: Metric, spec: EntitySpec) -> list[Any]:
    try:
        return [compile_sql(metric.conditions, spec.condition_fields())]
    except ConditionError as exc:  # pragma: no cover - validated on save; whitelist may shrink later
        raise ValidationError(_("The metric's conditions are no longer valid."), errors=exc.errors) from None


def _own_value(ctx: ServiceContext, metric: Metric, spec: EntitySpec, where: list[Any], currency: str) -> Any:
    """The metric's raw aggregate when no reports plugin answers: the same SELECT as its report's."""
    where = [*_conditions(metric, spec), *where]
    owner_cond = access.owner_condition(ctx, spec.column(spec.owner))
    if owner_cond is not None:
        where.append(owner_cond)
    if metric.aggregate == "count":
        return ctx.session.scalar(select(func.count()).select_from(spec.model).where(*where))
    col = spec.column(metric.field)
    if spec.fields[metric.field] == "money" and spec.currency:
        col = money.converted(ctx, col, spec.column(spec.currency), currency)
    agg = func.sum(col) if metric.aggregate == "sum" else func.avg(col)
    return ctx.session.scalar(select(agg).select_from(spec.model).where(*where))
