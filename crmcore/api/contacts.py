"""/api/v1/contacts: the people at customers, with every channel (phone, WeChat, QQ, ...)."""
from __future__ import annotations

from typing import Any

from ..imports.api import add_bulk_route
from ..schemas.customers import ContactListArgs, ContactPage, ContactSchema, ContactUpdateSchema
from ..services import contacts as svc
from .blueprint import Blueprint
from .http import current_ctx, cursor_page, expected_version, json_body, take_id, with_etag

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/contacts", description="Contacts of customers")
add_bulk_route(blp, "contacts")  # POST /bulk: the contacts import, per-row results


@blp.route("")
@blp.arguments(ContactListArgs, location="query")
@blp.response(200, ContactPage)
def list_contacts(args: dict[str, Any]) -> Any:
    """List contacts of the customers you may see; ``q`` matches name, phone, e-mail, WeChat, QQ"""
    return cursor_page(svc.list_contacts(current_ctx(), **args), args)


@blp.route("", methods=["POST"])
@json_body(blp, ContactSchema)
@blp.response(201, ContactSchema)
def create_contact(data: dict[str, Any]) -> Any:
    """Add a contact to a customer"""
    customer_id = take_id(ContactSchema(), data, "customer_id")
    contact = svc.create_contact(current_ctx(), customer_id, data)
    return with_etag(contact, contact, 201)


@blp.route("/<int:contact_id>")
@blp.response(200, ContactSchema)
def get_contact(contact_id: int) -> Any:
    """Get a contact"""
    contact = svc.get_contact(current_ctx(), contact_id)
    return with_etag(contact, contact)


@blp.route("/<int:contact_id>", methods=["PATCH"])
@json_body(blp, ContactUpdateSchema(partial=True))
@blp.response(200, ContactSchema)
def patch_contact(data: dict[str, Any], contact_id: int) -> Any:
    """Change a contact (If-Match or ``version`` for optimistic locking)"""
    version, if_match = expected_version()
    data.pop("version", None)
    contact = svc.update_contact(current_ctx(), contact_id, data, expected_version=version, if_match=if_match)
    return with_etag(contact, contact)


@blp.route("/<int:contact_id>", methods=["DELETE"])
@blp.response(204)
def delete_contact(contact_id: int) -> Any:
    """Delete a contact"""
    svc.delete_contact(current_ctx(), contact_id)
    return None
