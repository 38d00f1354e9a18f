"""Tickets from messaging channels: an inbound message of a known customer opens a ticket or joins theirs."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.runtime import ServiceContext

from ..models import Ticket
from .tickets import create_ticket, customer_message


def ticket_for_message(ctx: ServiceContext, message: Any, customer: Any) -> int:
    """The customer's newest ticket on the message's channel that is not closed gets the message (a resolved
    one is reopened); without one, a new ticket on that channel with the message as its first one."""
    body = message.text or ""
    ticket = ctx.session.scalar(select(Ticket).where(
        Ticket.customer_id == customer.id, Ticket.channel == message.platform, Ticket.state != "closed")
        .order_by(Ticket.id.desc()).limit(1))
    if ticket is not None:
        customer_message(ctx, ticket, {"body": body, "channel": message.platform})
        return ticket.id
    subject = (body.strip().splitlines() or [""])[0][:200] or message.kind
    ticket = create_ticket(ctx, {"subject": subject, "description": body, "customer_id": customer.id},
                           channel=message.platform, first_message={"body": body, "author": "customer"})
    return ticket.id
