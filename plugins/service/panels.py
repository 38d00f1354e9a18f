"""The customer 360 panel of the service plugin (open tickets, recent satisfaction) and the agent's
home-page panel (my tickets near their SLA)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.contracts import Panel
from crmcore.i18n import gettext
from crmcore.runtime import ServiceContext

from .models import PRIORITY_LABELS, Survey, Ticket
from .services.states import keys_in_phase, states
from .services.tickets import scope_tickets


def state_label(ctx: ServiceContext, key: str) -> str:
    """A ticket state's name in the reader's language (a default name through the catalogue)."""
    state = states(ctx).get(key)
    return gettext(state.name) if state is not None else key


def customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    if not ctx.can("service.ticket.read"):
        return []
    done = keys_in_phase(ctx, "done")
    stmt = scope_tickets(ctx, select(Ticket).where(Ticket.customer_id == customer.id, Ticket.state.not_in(done)))
    open_count = ctx.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    open_tickets = list(ctx.session.scalars(stmt.order_by(Ticket.id.desc()).limit(10)))  # the 10 newest listed
    scores = [s for (s,) in ctx.session.execute(select(Survey.score).where(
        Survey.customer_id == customer.id, Survey.kind == "csat", Survey.score.is_not(None))
        .order_by(Survey.answered_at.desc()).limit(5))]
    panel = Panel(key="service", title=gettext("Service"), order=40,
                  rows=[(gettext("Open tickets"), int(open_count or 0)),
                        (gettext("Recent CSAT"), ", ".join(str(s) for s in scores) or "-")],
                  items=[{"number": t.number, "subject": t.subject, "state": t.state, "priority": t.priority,
                          "state_label": state_label(ctx, t.state), "priority_label": str(PRIORITY_LABELS.get(t.priority, t.priority))}
                         for t in open_tickets])
    return [panel]


NEAR_SLA_MINUTES = 240  # business minutes left under which a ticket is "near its SLA" on the home page
HOME_ITEMS = 8


def home_panels(ctx: ServiceContext) -> list[Panel]:
    """The agent's tickets near their SLA (or late), most urgent first, for the admin home page."""
    if ctx.actor is None or not ctx.can("service.ticket.read"):
        return []
    from flask import url_for

    from .services.sla import timer

    done = keys_in_phase(ctx, "done")
    mine = ctx.session.scalars(select(Ticket).where(Ticket.assignee_id == ctx.actor.id, Ticket.state.not_in(done))
                               .order_by(Ticket.id).limit(500)).unique().all()
    near = []
    for ticket in mine:
        left = timer(ticket)["minutes_left"]
        if left is not None and left < NEAR_SLA_MINUTES:
            near.append((left, ticket))
    near.sort(key=lambda pair: (pair[0], pair[1].id))
    items = [{"text": f"{t.number} {t.subject}", "url": url_for("service_queue.ticket", ticket_id=t.id),
              "note": (gettext("late %(time)s", time=_span(left)) if left < 0
                       else gettext("%(time)s left", time=_span(left))), "warn": left < 0}
             for left, t in near[:HOME_ITEMS]]
    return [Panel("service_sla", gettext("My tickets near their SLA (%(count)s)", count=len(near)), items=items,
                  order=40)]


def _span(minutes: int) -> str:
    return f"{abs(minutes) // 60}:{abs(minutes) % 60:02d}"  # hours:minutes, as the queue shows them
