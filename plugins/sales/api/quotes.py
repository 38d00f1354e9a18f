"""/api/v1/sales/quotes: quotes with lines and discounts, submission, approval, quote -> order."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag

from ..schemas import (DecisionSchema, OrderSchema, QuoteActionSchema, QuoteListArgs, QuotePage, QuoteSchema,
                       QuoteUpdateSchema, ToOrderSchema)
from ..services import quotes as svc

blp = Blueprint("sales_quotes", __name__, url_prefix="/api/v1/sales/quotes",
                description="Sales: quotes, discount approval, conversion to orders")


@blp.route("")
@blp.arguments(QuoteListArgs, location="query")
@blp.response(200, QuotePage)
def list_quotes(args: dict[str, Any]) -> Any:
    """List the quotes you may see"""
    items, total = svc.list_quotes(current_ctx(), **args)
    return page(items, total, args)


@blp.route("", methods=["POST"])
@json_body(blp, QuoteSchema)
@blp.response(201, QuoteSchema)
def create_quote(data: dict[str, Any]) -> Any:
    """Create a draft quote; totals are computed from the lines and discounts"""
    quote = svc.create_quote(current_ctx(), data)
    return with_etag(quote, quote, 201)


@blp.route("/<int:quote_id>")
@blp.response(200, QuoteSchema)
def get_quote(quote_id: int) -> Any:
    """Get a quote with its lines"""
    quote = svc.get_quote(current_ctx(), quote_id)
    return with_etag(quote, quote)


@blp.route("/<int:quote_id>", methods=["PATCH"])
@json_body(blp, QuoteUpdateSchema(partial=True))
@blp.response(200, QuoteSchema)
def patch_quote(data: dict[str, Any], quote_id: int) -> Any:
    """Change a draft, rejected or approved quote (it goes back to draft); ``lines`` replace all"""
    version, if_match = expected_version()
    data.pop("version", None)
    quote = svc.update_quote(current_ctx(), quote_id, data, expected_version=version, if_match=if_match)
    return with_etag(quote, quote)


@blp.route("/<int:quote_id>/submit", methods=["POST"])
@blp.response(200, QuoteSchema)
def submit(quote_id: int) -> Any:
    """Submit a draft: approved at once, or ``pending_approval`` when the discount needs approval"""
    return svc.submit_quote(current_ctx(), quote_id)


@blp.route("/<int:quote_id>/approve", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, QuoteSchema)
def approve(data: dict[str, Any], quote_id: int) -> Any:
    """Approve a quote waiting for approval (not your own)"""
    return svc.approve_quote(current_ctx(), quote_id, data.get("note"))


@blp.route("/<int:quote_id>/reject", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, QuoteSchema)
def reject(data: dict[str, Any], quote_id: int) -> Any:
    """Reject a quote waiting for approval, with a ``note`` saying why"""
    return svc.reject_quote(current_ctx(), quote_id, data.get("note") or "")


@blp.route("/<int:quote_id>/status", methods=["POST"])
@blp.arguments(QuoteActionSchema)
@blp.response(200, QuoteSchema)
def change_status(data: dict[str, Any], quote_id: int) -> Any:
    """``send``, ``accept``, ``decline`` or ``cancel`` the quote"""
    return svc.set_status(current_ctx(), quote_id, data["action"])


@blp.route("/<int:quote_id>/order", methods=["POST"])
@blp.arguments(ToOrderSchema)
@blp.response(201, OrderSchema)
def to_order(data: dict[str, Any], quote_id: int) -> Any:
    """Turn an approved, sent or accepted quote into an order"""
    return svc.convert_to_order(current_ctx(), quote_id, order_date=data.get("order_date"))
