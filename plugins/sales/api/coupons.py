"""/api/v1/coupons: coupon programmes, their codes (generated in batches, issued to a customer) and usage."""
from __future__ import annotations

from typing import Any

from flask import Response, request

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.schemas.common import db_id

from ..schemas.coupons import (BatchSchema, CouponListArgs, CouponPage, CouponSchema, CouponIssueSchema, ProgrammeListArgs,
                               ProgrammePage, CouponProgrammeSchema, UsageSchema)
from ..services import coupons as svc

blp = Blueprint("coupons", __name__, url_prefix="/api/v1/coupons",
                description="Coupons: programmes, codes, usage (a code is applied on a sales order: coupon_code)")


def _with_uses(items: list[Any]) -> list[Any]:
    uses = svc.code_uses(current_ctx(), [c.id for c in items])
    for coupon in items:
        coupon.uses = uses.get(coupon.id, 0)  # shown, not stored
    return items


@blp.route("/programmes")
@blp.arguments(ProgrammeListArgs, location="query")
@blp.response(200, ProgrammePage)
def list_programmes(args: dict[str, Any]) -> Any:
    """List coupon programmes"""
    items, total = svc.list_programmes(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/programmes", methods=["POST"])
@json_body(blp, CouponProgrammeSchema)
@blp.response(201, CouponProgrammeSchema)
def create_programme(data: dict[str, Any]) -> Any:
    """Create a coupon programme"""
    programme = svc.save_programme(current_ctx(), data)
    return with_etag(programme, programme, 201)


@blp.route("/programmes/<int:programme_id>")
@blp.response(200, CouponProgrammeSchema)
def get_programme(programme_id: int) -> Any:
    """Get a coupon programme"""
    programme = svc.get_programme(current_ctx(), programme_id)
    return with_etag(programme, programme)


@blp.route("/programmes/<int:programme_id>", methods=["PATCH"])
@json_body(blp, CouponProgrammeSchema(partial=True))
@blp.response(200, CouponProgrammeSchema)
def patch_programme(data: dict[str, Any], programme_id: int) -> Any:
    """Change a coupon programme (If-Match: the ETag read, or ``version``)"""
    version, if_match = expected_version()
    data.pop("version", None)
    programme = svc.save_programme(current_ctx(), data, programme_id, expected_version=version, if_match=if_match)
    return with_etag(programme, programme)


@blp.route("/programmes/<int:programme_id>/codes")
@blp.arguments(CouponListArgs, location="query")
@blp.response(200, CouponPage)
def list_codes(args: dict[str, Any], programme_id: int) -> Any:
    """List a programme's codes, newest first, with their uses"""
    items, total = svc.list_coupons(current_ctx(), programme_id, **args)
    return page(_with_uses(items), total, args)


@blp.route("/programmes/<int:programme_id>/codes", methods=["POST"])
@json_body(blp, BatchSchema)
@blp.response(201, CouponSchema(many=True))
def generate_codes(data: dict[str, Any], programme_id: int) -> Any:
    """Generate codes: ``count`` single-use codes, or a multi-use programme's shared ``code``"""
    return _with_uses(svc.generate_codes(current_ctx(), programme_id, data, source="api"))


@blp.route("/programmes/<int:programme_id>/issue", methods=["POST"])
@json_body(blp, CouponIssueSchema)
@blp.response(201, CouponSchema)
def issue(data: dict[str, Any], programme_id: int) -> Any:
    """Issue one single-use code to a customer (a gift, a reward)"""
    return _with_uses([svc.issue_coupon_for(current_ctx(), programme_id, data)])[0]


@blp.route("/usage")
@blp.response(200, UsageSchema(many=True))
@blp.doc(responses={"200": {"description": "OK", "content": {  # format=csv: the same table as CSV
    "application/json": {"schema": UsageSchema(many=True)}, "text/csv": {"schema": {"type": "string"}}}}})
def usage() -> Any:
    """Usage per programme: codes issued, redeemed, released, discount given, revenue (``format=csv``: CSV)"""
    programme_id = request.args.get("programme_id", type=db_id)
    if request.args.get("format") == "csv":
        return Response(svc.usage_csv(current_ctx(), programme_id), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=coupon-usage.csv"})
    return svc.usage(current_ctx(), programme_id)
