"""/api/v1/events: member events, their invitations and answers, and the check-in of a scanned QR code."""
from __future__ import annotations

from typing import Any

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag

from ..schemas import (CheckInSchema, EventListArgs, EventPage, EventSchema, InvitationListArgs, InvitationPage,
                       InvitationSchema, InviteSchema)
from ..services import events as svc
from ..services import invitations

blp = Blueprint("member_events", __name__, url_prefix="/api/v1/events",
                description="Member events: invitations to an audience, answers, check-in by QR code")


@blp.route("/")
@blp.arguments(EventListArgs, location="query")
@blp.response(200, EventPage)
def list_events(args: dict[str, Any]) -> Any:
    """List events, the latest first, with their answers"""
    items, total = svc.list_events(current_ctx(), **args)
    return page(svc.with_counts(current_ctx(), items), total, args)


@blp.route("/", methods=["POST"])
@json_body(blp, EventSchema)
@blp.response(201, EventSchema)
def create_event(data: dict[str, Any]) -> Any:
    """Create an event (a start without an offset is on the clocks of its ``timezone``)"""
    event = svc.save_event(current_ctx(), data)
    return with_etag(event, svc.with_counts(current_ctx(), [event])[0], 201)


@blp.route("/<int:event_id>")
@blp.response(200, EventSchema)
def get_event(event_id: int) -> Any:
    """Get an event with its answers"""
    event = svc.get_event(current_ctx(), event_id)
    return with_etag(event, svc.with_counts(current_ctx(), [event])[0])


@blp.route("/<int:event_id>", methods=["PATCH"])
@json_body(blp, EventSchema(partial=True))
@blp.response(200, EventSchema)
def patch_event(data: dict[str, Any], event_id: int) -> Any:
    """Change an event (If-Match: the ETag read, or ``version``)"""
    version, if_match = expected_version()
    data.pop("version", None)
    event = svc.save_event(current_ctx(), data, event_id, expected_version=version, if_match=if_match)
    return with_etag(event, svc.with_counts(current_ctx(), [event])[0])


@blp.route("/<int:event_id>/invitations")
@blp.arguments(InvitationListArgs, location="query")
@blp.response(200, InvitationPage)
def list_invitations(args: dict[str, Any], event_id: int) -> Any:
    """List an event's invitations with each invitee's answer page (``rsvp_url``)"""
    items, total = invitations.list_invitations(current_ctx(), event_id, **args)
    return page(items, total, args)


@blp.route("/<int:event_id>/invitations", methods=["POST"])
@json_body(blp, InviteSchema)
@blp.response(200, InviteSchema)
def invite(data: dict[str, Any], event_id: int) -> Any:
    """Invite an audience's members (``audience_id``, default the event's) and/or ``customer_ids``"""
    return invitations.invite(current_ctx(), event_id, data)


@blp.route("/checkin", methods=["POST"])
@json_body(blp, CheckInSchema)
@blp.response(200, InvitationSchema)
def check_in(data: dict[str, Any]) -> Any:
    """Check a guest in by their QR code's token (again: nothing changes)"""
    invitation, _new = invitations.check_in(current_ctx(), data)
    return invitation
