"""/api/v1/sales/kpis and /metrics: KPIs per rep, team and period; admin-defined shared metrics."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from ..schemas import KpiArgs, KpiReportSchema, MetricSchema, MetricValueArgs
from ..services import metrics
from ..services.kpis import KPIS, KpiQuery, compute
from ..services.money import base_currency
from ..services.periods import parse_period
from ..services.subjects import resolve_subject

blp = Blueprint("sales_kpis", __name__, url_prefix="/api/v1/sales", description="Sales: KPIs and custom metrics")


def kpi_query(ctx: ServiceContext, args: dict[str, Any]) -> KpiQuery:
    """The subject, period and currency asked for, checked against the actor's scope."""
    ctx.require("sales.kpi.read")
    subject = resolve_subject(ctx, rep_id=args.get("rep_id"), team_id=args.get("team_id"))
    period = parse_period(args.get("period"), ctx)
    return KpiQuery(subject, period, (args.get("currency") or base_currency(ctx)).upper())


def report(ctx: ServiceContext, q: KpiQuery, only: list[str] | None = None) -> dict[str, Any]:
    values = compute(ctx, q, only)
    return {"subject": q.subject.key, "subject_label": q.subject.label, "period": q.period.label,
            "previous_period": q.period.previous().label, "start": q.period.start, "end": q.period.end,
            "currency": q.currency, "kpis": {k: v.to_dict() for k, v in values.items()}}


@blp.route("/kpis")
@blp.arguments(KpiArgs, location="query")
@blp.response(200, KpiReportSchema)
def kpis(args: dict[str, Any]) -> Any:
    """KPIs of a rep (``rep_id``), a team (``team_id``) or you / your teams / the company, for a period

    sales, plan_completion, sales_growth, price_retention, sales_expenses, collection_rate,
    visit_success, complaint_rate, new_customer_rate, retention_rate, pipeline, weighted_forecast,
    win_rate, cycle_time. An undefined ratio is null with a ``note``; the complaint rate is
    absent when no plugin counts complaints. Formulas: docs/sales.md.
    """
    ctx = current_ctx()
    q = kpi_query(ctx, args)
    unknown = [k for k in args.get("kpi") or [] if k not in KPIS]
    if unknown:
        raise ValidationError(_("Unknown KPI."),
                              errors={"kpi": [_("Use some of: %(choices)s.", choices=", ".join(KPIS))]})
    return report(ctx, q, args.get("kpi"))


@blp.route("/metrics")
@blp.response(200, MetricSchema(many=True))
def list_metrics() -> Any:
    """The custom metrics shared with you (metric managers: all)"""
    ctx = current_ctx()
    return [metrics.shown(ctx, m) for m in metrics.visible_metrics(ctx)]


@blp.route("/metrics", methods=["POST"])
@json_body(blp, MetricSchema)
@blp.response(201, MetricSchema)
def create_metric(data: dict[str, Any]) -> Any:
    """Define a metric: entity, conditions, aggregate (count, sum, avg) of a field, and shares"""
    ctx = current_ctx()
    return metrics.shown(ctx, metrics.create_metric(ctx, data))


@blp.route("/metrics/<int:metric_id>")
@blp.response(200, MetricSchema)
def get_metric(metric_id: int) -> Any:
    """Get a metric shared with you"""
    ctx = current_ctx()
    return metrics.shown(ctx, metrics.get_metric(ctx, metric_id))


@blp.route("/metrics/<int:metric_id>", methods=["PATCH"])
@json_body(blp, MetricSchema(partial=True))
@blp.response(200, MetricSchema)
def patch_metric(data: dict[str, Any], metric_id: int) -> Any:
    """Change a metric or who it is shared with"""
    ctx = current_ctx()
    return metrics.shown(ctx, metrics.update_metric(ctx, metric_id, data))


@blp.route("/metrics/<int:metric_id>", methods=["DELETE"])
@blp.response(204)
def delete_metric(metric_id: int) -> Any:
    """Delete a metric"""
    metrics.delete_metric(current_ctx(), metric_id)
    return None


@blp.route("/metrics/<int:metric_id>/value")
@blp.arguments(MetricValueArgs, location="query")
def metric_value(args: dict[str, Any], metric_id: int) -> Any:
    """The metric's value for a rep, team or you, and a period, over the records you may see"""
    ctx = current_ctx()
    q = kpi_query(ctx, args)
    return metrics.evaluate(ctx, metric_id, q.subject, q.period, q.currency), 200
