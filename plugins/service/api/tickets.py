"""/api/v1/service/tickets: CRUD, state moves, messages and the customer's status link."""
from __future__ import annotations

from typing import Any

from flask import url_for

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag

from ..schemas import (StatusLinkSchema, TicketMessageSchema, TicketMovesSchema, TicketListArgs, TicketPage, TicketSchema,
                       TicketUpdateSchema, TicketMoveSchema)
from ..services import portal, tickets as svc
from ..services.states import allowed_moves

blp = Blueprint("service_tickets", __name__, url_prefix="/api/v1/service", description="Service: tickets")


@blp.route("/tickets")
@blp.arguments(TicketListArgs, location="query")
@blp.response(200, TicketPage)
def list_tickets(args: dict[str, Any]) -> Any:
    """List tickets in your scope, most urgent first (``open=true``: not resolved or closed)"""
    filters = {k: v for k, v in args.items() if k not in ("page", "page_size", "open")}
    items, total = svc.list_tickets(current_ctx(), open_only=bool(args.get("open")), page=args["page"],
                                    page_size=args["page_size"], **filters)
    return page(items, total, args)


@blp.route("/tickets", methods=["POST"])
@json_body(blp, TicketSchema)
@blp.response(201, TicketSchema)
def create_ticket(data: dict[str, Any]) -> Any:
    """Open a ticket (SLA due times and assignment rules apply)"""
    ticket = svc.create_ticket(current_ctx(), data, channel=data.get("channel") or "api")
    return with_etag(ticket, ticket, 201)


@blp.route("/tickets/<int:ticket_id>")
@blp.response(200, TicketSchema)
def get_ticket(ticket_id: int) -> Any:
    """Get a ticket with its SLA timer"""
    ticket = svc.get_ticket(current_ctx(), ticket_id)
    return with_etag(ticket, ticket)


@blp.route("/tickets/<int:ticket_id>", methods=["PATCH"])
@json_body(blp, TicketUpdateSchema(partial=True))
@blp.response(200, TicketSchema)
def update_ticket(data: dict[str, Any], ticket_id: int) -> Any:
    """Change a ticket (If-Match or ``version`` for optimistic locking)"""
    version, if_match = expected_version()
    data.pop("version", None)
    ticket = svc.update_ticket(current_ctx(), ticket_id, data, expected_version=version, if_match=if_match)
    return with_etag(ticket, ticket)


@blp.route("/tickets/<int:ticket_id>", methods=["DELETE"])
@blp.response(204)
def delete_ticket(ticket_id: int) -> Any:
    """Delete a ticket with its messages and visits (permission ``service.ticket.delete``)"""
    version, if_match = expected_version()
    svc.delete_ticket(current_ctx(), ticket_id, expected_version=version, if_match=if_match)
    return None


@blp.route("/tickets/<int:ticket_id>/transitions")
@blp.response(200, TicketMovesSchema)
def moves(ticket_id: int) -> Any:
    """The states this ticket may move to now"""
    ctx = current_ctx()
    ticket = svc.get_ticket(ctx, ticket_id)
    return {"state": ticket.state, "allowed": allowed_moves(ctx, ticket.state)}


@blp.route("/tickets/<int:ticket_id>/transitions", methods=["POST"])
@blp.arguments(TicketMoveSchema)
@blp.response(200, TicketSchema)
def move(data: dict[str, Any], ticket_id: int) -> Any:
    """Move a ticket to another state (422 for a move that is not allowed)"""
    version, if_match = expected_version()
    ticket = svc.transition(current_ctx(), ticket_id, data["state"], note=data.get("note"),
                            expected_version=version, if_match=if_match)
    return with_etag(ticket, ticket)


@blp.route("/tickets/<int:ticket_id>/messages")
@blp.response(200, TicketMessageSchema(many=True))
def messages(ticket_id: int) -> Any:
    """The ticket's messages, oldest first (internal notes included)"""
    return svc.get_ticket(current_ctx(), ticket_id).messages


@blp.route("/tickets/<int:ticket_id>/messages", methods=["POST"])
@blp.arguments(TicketMessageSchema)
@blp.response(201, TicketMessageSchema)
def reply(data: dict[str, Any], ticket_id: int) -> Any:
    """Answer the customer or add an internal note (``internal: true``)"""
    return svc.add_message(current_ctx(), ticket_id, data)


@blp.route("/tickets/<int:ticket_id>/link", methods=["POST"])
@blp.response(201, StatusLinkSchema)
def link(ticket_id: int) -> Any:
    """Issue a new self-service status link for the customer (earlier links stop working)"""
    token = portal.reissue_link(current_ctx(), ticket_id)
    return {"token": token, "url": url_for("service_portal.status", token=token, _external=True)}
