"""/api/v1/sales/orders, /invoices and customers' sales summary (order history, amount due)."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import cursor_page, json_body, page
from crmcore.imports.api import add_bulk_route

from ..schemas import (CustomerSalesSchema, InvoiceListArgs, InvoicePage, InvoiceSchema, OrderListArgs, OrderPage,
                       OrderSchema, PaymentSchema)
from ..services import orders as svc

blp = Blueprint("sales_orders", __name__, url_prefix="/api/v1/sales",
                description="Sales: orders, invoices and payments (the ERP sync fills these)")


@blp.route("/orders")
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, OrderPage)
def list_orders(args: dict[str, Any]) -> Any:
    """List orders, newest first"""
    return cursor_page(svc.list_orders(current_ctx(), **args), args)


@blp.route("/orders", methods=["POST"])
@json_body(blp, OrderSchema)
@blp.response(200, OrderSchema)
def record_order(data: dict[str, Any]) -> Any:
    """Record an order (created, or updated when its ``number`` exists)"""
    return svc.record_order(current_ctx(), data)


@blp.route("/orders/<int:order_id>")
@blp.response(200, OrderSchema)
def get_order(order_id: int) -> Any:
    """Get an order with its lines"""
    return svc.get_order(current_ctx(), order_id)


@blp.route("/invoices")
@blp.arguments(InvoiceListArgs, location="query")
@blp.response(200, InvoicePage)
def list_invoices(args: dict[str, Any]) -> Any:
    """List invoices (``overdue=true``: open ones past their due date)"""
    items, total = svc.list_invoices(current_ctx(), **args)
    return page(items, total, args)


@blp.route("/invoices", methods=["POST"])
@json_body(blp, InvoiceSchema)
@blp.response(200, InvoiceSchema)
def record_invoice(data: dict[str, Any]) -> Any:
    """Record an invoice (created, or updated when its ``number`` exists)"""
    return svc.record_invoice(current_ctx(), data)


@blp.route("/invoices/<int:invoice_id>")
@blp.response(200, InvoiceSchema)
def get_invoice(invoice_id: int) -> Any:
    """Get an invoice with what is paid and due"""
    return svc.get_invoice(current_ctx(), invoice_id)


@blp.route("/invoices/<int:invoice_id>/payments", methods=["POST"])
@json_body(blp, PaymentSchema)
@blp.response(201, PaymentSchema)
def record_payment(data: dict[str, Any], invoice_id: int) -> Any:
    """Record a payment, full or partial; a known ``reference`` is not recorded twice"""
    return svc.record_payment(current_ctx(), invoice_id, data)


@blp.route("/customers/<int:customer_id>/summary")
@blp.response(200, CustomerSalesSchema)
def customer_summary(customer_id: int) -> Any:
    """A customer's order history and receivables per currency"""
    return svc.customer_summary(current_ctx(), customer_id)


add_bulk_route(blp, "orders", rule="/orders/bulk")
add_bulk_route(blp, "invoices", rule="/invoices/bulk")
add_bulk_route(blp, "payments", rule="/payments/bulk")
