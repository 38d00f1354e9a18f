"""/api/v1/service reports and records: quality, surveys and scores, deliveries and logistics KPIs, SLA check."""
from __future__ import annotations

from typing import Any

from flask import url_for

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body
from crmcore.events import jsonable

from ..schemas import (DefectRateSchema, OrderDeliverySchema, NpsRequestSchema, ServicePeriodArgs, QualityRecordPatchSchema, QualityRecordSchema,
                       SatisfactionArgs, SlaCheckSchema, SurveyLinkSchema)
from ..services import logistics, quality, sla, surveys

blp = Blueprint("service_reports", __name__, url_prefix="/api/v1/service",
                description="Service: quality, satisfaction, logistics KPIs, SLA check")


@blp.route("/quality", methods=["POST"])
@json_body(blp, QualityRecordSchema)
@blp.response(201, QualityRecordSchema)
def report_quality(data: dict[str, Any]) -> Any:
    """Record a defect or feedback about a product"""
    return quality.save_record(current_ctx(), data)


@blp.route("/quality/<int:record_id>", methods=["PATCH"])
@json_body(blp, QualityRecordPatchSchema(partial=True))
@blp.response(200, QualityRecordSchema)
def update_quality(data: dict[str, Any], record_id: int) -> Any:
    """Add the root cause and corrective action, close"""
    return quality.save_record(current_ctx(), data, record_id)


@blp.route("/reports/defect-rates")
@blp.arguments(ServicePeriodArgs, location="query")
@blp.response(200, DefectRateSchema(many=True))
def defect_rates(args: dict[str, Any]) -> Any:
    """Defect rate by product in a period"""
    return quality.defect_rates(current_ctx(), args["start"], args["end"])


@blp.route("/reports/satisfaction")
@blp.arguments(SatisfactionArgs, location="query")
def satisfaction(args: dict[str, Any]) -> Any:
    """CSAT or NPS by agent, customer or overall in a period"""
    return {"items": surveys.scores(current_ctx(), start=args["start"], end=args["end"], by=args["by"],
                                    kind=args["kind"])}


@blp.route("/reports/sla")
@blp.arguments(SatisfactionArgs, location="query")
def sla_compliance(args: dict[str, Any]) -> Any:
    """Share of tickets resolved in a period that met their first-response and resolution targets
    (``by=agent`` per assignee, else overall)"""
    return {"items": sla.compliance(current_ctx(), args["start"], args["end"], by=args["by"])}


@blp.route("/reports/logistics")
@blp.arguments(ServicePeriodArgs, location="query")
def logistics_kpis(args: dict[str, Any]) -> Any:
    """On-time dispatch and arrival, damage rate, order and rush-order completion"""
    return logistics.kpis(current_ctx(), args["start"], args["end"])


@blp.route("/deliveries", methods=["POST"])
@json_body(blp, OrderDeliverySchema)
@blp.response(200, OrderDeliverySchema)
def record_delivery(data: dict[str, Any]) -> Any:
    """Record an order's delivery data (created or updated by order number)"""
    return logistics.record_delivery(current_ctx(), data)


@blp.route("/surveys/nps", methods=["POST"])
@blp.arguments(NpsRequestSchema)
@blp.response(201, SurveyLinkSchema)
def nps(data: dict[str, Any]) -> Any:
    """Create an NPS survey for a customer; send them the returned link"""
    ctx = current_ctx()
    survey = surveys.create_nps(ctx, data["customer_id"])
    token = surveys.token_for(ctx, survey)
    return {"id": survey.id, "kind": survey.kind, "customer_id": survey.customer_id, "ticket_id": None,
            "expires_at": survey.expires_at, "url": url_for("service_portal.survey", token=token, _external=True)}


@blp.route("/sla-check", methods=["POST"])
@blp.response(200, SlaCheckSchema)
def sla_check() -> Any:
    """Run the breach detection now (what the scheduled job does)"""
    ctx = current_ctx()
    ctx.require("service.sla.manage")
    return {"breaches": jsonable(sla.check_breaches(ctx))}
