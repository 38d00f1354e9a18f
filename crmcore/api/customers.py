"""/api/v1/customers: list, search, create, get (ETag), PATCH (If-Match), delete, timeline,
duplicates, merge, 360 panels and bulk create."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import Response, stream_with_context

from ..schemas.customers import (AddressSchema, CustomerExportArgs, CustomerListArgs, CustomerPage, CustomerSchema,
                                 CustomerUpdateSchema, DuplicateGroupSchema, DuplicateSchema, InteractionSchema,
                                 MergeSchema, PanelSchema, TimelineArgs)
from ..services import contacts as contact_svc
from ..services import customers as svc
from ..services import dedupe
from ..services import exporter
from ..imports.api import add_bulk_route
from .blueprint import Blueprint
from .http import current_ctx, cursor_page, expected_version, json_body, with_etag

if TYPE_CHECKING:
    from ..runtime import ServiceContext

blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers", description="Customers: the one shared record")


def dump(ctx: ServiceContext, customer: Any) -> Any:
    """The customer with what is missing from its profile, for the response schema."""
    customer.completeness_missing = svc.completeness_of(ctx, customer)[1]
    return customer


@blp.route("")
@blp.arguments(CustomerListArgs, location="query")
@blp.response(200, CustomerPage)
def list_customers(args: dict[str, Any]) -> Any:
    """Search and list the customers you may see"""
    ctx = current_ctx()
    return cursor_page(svc.list_customers(ctx, **args), args)


@blp.route("/export")
@blp.arguments(CustomerExportArgs, location="query")
@blp.response(200, content_type="text/csv", description="CSV in the importer's columns")
def export_customers(args: dict[str, Any]) -> Any:
    """Export the customers you may see as CSV (the same filters as the list)"""
    ctx = current_ctx()
    ctx.require("customer.read")
    encoding = args.pop("encoding")
    charset = exporter.check_encoding(encoding).replace("-sig", "")
    body = stream_with_context(exporter.iter_customer_csv(ctx, encoding, **args))
    return Response(body, content_type=f"text/csv; charset={charset}",
                    headers={"Content-Disposition": "attachment; filename=customers.csv"})


@blp.route("", methods=["POST"])
@json_body(blp, CustomerSchema)
@blp.response(201, CustomerSchema)
def create_customer(data: dict[str, Any]) -> Any:
    """Create a customer"""
    ctx = current_ctx()
    customer = svc.create_customer(ctx, data)
    return with_etag(customer, dump(ctx, customer), 201)


add_bulk_route(blp, "customers")  # POST /bulk: create or update many customers by code, per-row results


@blp.route("/duplicates")
@blp.response(200, DuplicateGroupSchema(many=True))
def duplicates() -> Any:
    """Groups of customers that share a phone number, an e-mail or a company name"""
    return dedupe.duplicate_groups(current_ctx())


@blp.route("/<int:customer_id>")
@blp.response(200, CustomerSchema)
def get_customer(customer_id: int) -> Any:
    """Get a customer with contacts, addresses and completeness; the ETag carries its version"""
    ctx = current_ctx()
    customer = svc.read_customer(ctx, customer_id)
    return with_etag(customer, dump(ctx, customer))


@blp.route("/<int:customer_id>", methods=["PATCH"])
@json_body(blp, CustomerUpdateSchema(partial=True))
@blp.response(200, CustomerSchema)
def patch_customer(data: dict[str, Any], customer_id: int) -> Any:
    """Change a customer; send If-Match with the ETag you read (412 if stale) or ``version`` (409)"""
    ctx = current_ctx()
    version, if_match = expected_version()
    data.pop("version", None)
    customer = svc.update_customer(ctx, customer_id, data, expected_version=version, if_match=if_match)
    return with_etag(customer, dump(ctx, customer))


@blp.route("/<int:customer_id>", methods=["DELETE"])
@blp.response(204)
def delete_customer(customer_id: int) -> Any:
    """Delete a customer (kept in the audit trail, hidden everywhere else)"""
    version, if_match = expected_version()
    svc.delete_customer(current_ctx(), customer_id, expected_version=version, if_match=if_match)
    return None


@blp.route("/<int:customer_id>/timeline")
@blp.arguments(TimelineArgs, location="query")
@blp.response(200, InteractionSchema(many=True))
def timeline(args: dict[str, Any], customer_id: int) -> Any:
    """Every touchpoint with the customer, newest first; page with ``before``"""
    return svc.timeline(current_ctx(), customer_id, **args)


@blp.route("/<int:customer_id>/duplicates")
@blp.response(200, DuplicateSchema(many=True))
def customer_duplicates(customer_id: int) -> Any:
    """Customers that are probably the same as this one, best first"""
    return dedupe.find_duplicates(current_ctx(), customer_id)


@blp.route("/<int:customer_id>/merge", methods=["POST"])
@blp.arguments(MergeSchema)
def merge(data: dict[str, Any], customer_id: int) -> Any:
    """Merge ``loser_id`` into this customer, keeping all history; undo with /merges/<audit_id>/undo"""
    return dedupe.merge_customers(current_ctx(), customer_id, data["loser_id"], data["keep_from_loser"]), 200


@blp.route("/merges/<int:audit_id>/undo", methods=["POST"])
def unmerge(audit_id: int) -> Any:
    """Undo a merge, from the audit entry the merge returned"""
    return dedupe.unmerge(current_ctx(), audit_id), 200


@blp.route("/<int:customer_id>/panels")
@blp.response(200, PanelSchema(many=True))
def panels(customer_id: int) -> Any:
    """The customer 360 view: sections from the core and every plugin"""
    return svc.panels(current_ctx(), customer_id)


@blp.route("/<int:customer_id>/addresses", methods=["POST"])
@json_body(blp, AddressSchema)
@blp.response(201, AddressSchema)
def add_address(data: dict[str, Any], customer_id: int) -> Any:
    """Add an address to the customer"""
    return contact_svc.add_address(current_ctx(), customer_id, data)


@blp.route("/<int:customer_id>/addresses/<int:address_id>", methods=["DELETE"])
@blp.response(204)
def delete_address(customer_id: int, address_id: int) -> Any:
    """Remove an address"""
    contact_svc.delete_address(current_ctx(), address_id, customer_id=customer_id)
    return None
