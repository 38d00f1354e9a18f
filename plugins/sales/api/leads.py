"""/api/v1/sales/leads: capture, list, change, qualify, disqualify and import leads."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag

from ..schemas import (BulkLeadsSchema, LeadListArgs, LeadPage, LeadSchema, LeadUpdateSchema, QualifyResultSchema,
                       QualifySchema, ReasonSchema)
from ..services import leads as svc

blp = Blueprint("sales_leads", __name__, url_prefix="/api/v1/sales/leads", description="Sales: leads")


@blp.route("")
@blp.arguments(LeadListArgs, location="query")
@blp.response(200, LeadPage)
def list_leads(args: dict[str, Any]) -> Any:
    """List the leads you may see, newest first"""
    items, total = svc.list_leads(current_ctx(), **args)
    return page(items, total, args)


@blp.route("", methods=["POST"])
@json_body(blp, LeadSchema)
@blp.response(201, LeadSchema)
def create_lead(data: dict[str, Any]) -> Any:
    """Capture a lead (source channel ``api`` unless given)"""
    lead = svc.create_lead(current_ctx(), data, source_channel="api")
    return with_etag(lead, lead, 201)


@blp.route("/bulk", methods=["POST"])
@blp.arguments(BulkLeadsSchema)
def import_leads(data: dict[str, Any]) -> Any:
    """Import leads; each row is created or rejected on its own (source channel ``import``)"""
    results = [r.to_dict() for r in svc.import_leads(current_ctx(), data["leads"])]
    summary: dict[str, int] = {}
    for r in results:
        summary[r["status"]] = summary.get(r["status"], 0) + 1
    return {"summary": summary, "results": results}, 200


@blp.route("/<int:lead_id>")
@blp.response(200, LeadSchema)
def get_lead(lead_id: int) -> Any:
    """Get a lead"""
    lead = svc.get_lead(current_ctx(), lead_id)
    return with_etag(lead, lead)


@blp.route("/<int:lead_id>", methods=["PATCH"])
@json_body(blp, LeadUpdateSchema(partial=True))
@blp.response(200, LeadSchema)
def patch_lead(data: dict[str, Any], lead_id: int) -> Any:
    """Change an open lead (If-Match or ``version`` for optimistic locking)"""
    version, if_match = expected_version()
    data.pop("version", None)
    lead = svc.update_lead(current_ctx(), lead_id, data, expected_version=version, if_match=if_match)
    return with_etag(lead, lead)


@blp.route("/<int:lead_id>/qualify", methods=["POST"])
@blp.arguments(QualifySchema)
@blp.response(200, QualifyResultSchema)
def qualify(data: dict[str, Any], lead_id: int) -> Any:
    """Turn the lead into customer + contact + opportunity, reusing a matching customer"""
    return svc.qualify_lead(current_ctx(), lead_id, data)


@blp.route("/<int:lead_id>/disqualify", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, LeadSchema)
def disqualify(data: dict[str, Any], lead_id: int) -> Any:
    """Close the lead without a customer, saying why"""
    return svc.disqualify_lead(current_ctx(), lead_id, data["reason"])
