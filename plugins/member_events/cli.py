"""``crm events ...``: list events with their answers, invite an audience, check a guest in, show a link."""
from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.errors import CRMError


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


def _fail(exc: CRMError) -> None:
    errors = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (getattr(exc, "errors", None) or {}).items())
    raise click.ClickException(f"{exc.message}{' (' + errors + ')' if errors else ''}")


@click.group("events", cls=AppGroup)
def events() -> None:
    """Member events: invitations, answers, check-in."""


@events.command("list")
def list_cmd() -> None:
    """The events, latest first, with their answers."""
    from .labels import RESPONSE_WORDS
    from .services import events as svc

    ctx = _ctx()
    items, _total = svc.list_events(ctx, page_size=200)
    for event in svc.with_counts(ctx, items):
        answers = ", ".join(f"{RESPONSE_WORDS[k]} {n}" for k, n in event.answers.items())
        click.echo(f"{event.id}\t{event.name}\t{svc.local_start(event):%Y-%m-%d %H:%M} {event.timezone}\t"
                   f"{event.place}\t{answers}\t{event.checked_in}")


@events.command("invite")
@click.argument("event_id", type=int)
@click.option("--audience", "audience_id", type=int, help="An audience's id (default: the event's audience)")
@click.option("--customer", "customer_ids", type=int, multiple=True, help="A customer's id (repeatable)")
def invite_cmd(event_id: int, audience_id: int | None, customer_ids: tuple[int, ...]) -> None:
    """Invite an audience's members and/or customers to an event."""
    from .services import invitations

    try:
        done = invitations.invite(_ctx(), event_id, {"audience_id": audience_id, "customer_ids": list(customer_ids)})
    except CRMError as exc:
        _fail(exc)
    click.echo(f"invited {done['invited']}, already invited {done['already']}")


@events.command("links")
@click.argument("event_id", type=int)
def links_cmd(event_id: int) -> None:
    """Each invitee's own answer page (to send through any channel)."""
    from .services import invitations

    try:
        items, _total = invitations.list_invitations(_ctx(), event_id, page_size=10_000)
    except CRMError as exc:
        _fail(exc)
    for inv in items:
        click.echo(f"{inv.customer_id}\t{inv.customer.name if inv.customer else ''}\t{inv.response}\t{inv.rsvp_url}")


@events.command("checkin")
@click.argument("token")
def checkin_cmd(token: str) -> None:
    """Check a guest in by their QR code's token (or the address it holds)."""
    from .services import invitations

    try:
        invitation, new = invitations.check_in(_ctx(), {"token": token})
    except CRMError as exc:
        _fail(exc)
    name = invitation.customer.name if invitation.customer else invitation.customer_id
    click.echo(f"{name}: {'checked in' if new else 'already checked in'} ({invitation.event.name})")
