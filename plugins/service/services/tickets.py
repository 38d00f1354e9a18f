"""Tickets: record rules, create, change, move between states, messages, and the customer timeline.

Every write goes through ``unit_of_work`` and ``record_change`` (audit entry plus a
``service.ticket.*`` event). A rep (scope own) sees tickets assigned to them and those of the
customers they own; a manager (scope team) the team's; service agents (scope all) every ticket.
"""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.sql import Select

from crmcore.db import utcnow
from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _, title_data
from crmcore.models import Contact, Customer, User
from crmcore.normalize import LIKE_ESCAPE, escape_like, normalize_email, normalize_phone
from crmcore.services.access import team_ids
from crmcore.services.customers import check_version, live_customer
from crmcore.services.interactions import log_interaction
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import CHANNELS, Category, Ticket, TicketMessage
from ..schemas import MAX_DESCRIPTION, TicketSchema, TicketUpdateSchema
from . import sla
from .states import check_move, keys_in_phase, phase_of, states

EDITABLE = ("subject", "description", "kind", "priority", "category_id", "customer_id", "contact_id", "order_number",
            "product_code", "requester_name", "requester_email", "requester_phone", "requester_wechat")
TIMELINE_CHANNELS = {"email": "email", "web": "web", "phone": "phone", "wechat": "wechat", "wecom": "wecom", "sms": "sms",
                     "qq": "qq", "weibo": "weibo", "visit": "visit"}
MAX_BODY = MAX_DESCRIPTION
_SCHEMA = TicketSchema()
_UPDATE = TicketUpdateSchema()


# ---- record rules ---------------------------------------------------------------------------

def scope_tickets(ctx: ServiceContext, stmt: Select) -> Select:
    """Restrict a select over ``Ticket`` to what the actor may see."""
    scope = ctx.scope
    if scope == "all":
        return stmt
    me = ctx.actor.id
    if scope == "team":
        teams = team_ids(ctx)
        people = select(User.id).where(or_(User.team_id.in_(teams), User.id == me)) if teams else select(User.id).where(
            User.id == me)
    else:
        people = select(User.id).where(User.id == me)
    owned = select(Customer.id).where(Customer.owner_id.in_(people))
    return stmt.where(or_(Ticket.assignee_id.in_(people), Ticket.customer_id.in_(owned)))


def get_ticket(ctx: ServiceContext, ticket_id: int, permission: str = "service.ticket.read") -> Ticket:
    """A ticket the actor may see (404 when it does not exist or is outside their scope)."""
    ctx.require(permission)
    ticket = ctx.session.scalar(scope_tickets(ctx, select(Ticket).where(Ticket.id == ticket_id)))
    if ticket is None:
        raise NotFound(_("No such ticket."))
    return ticket


def get_by_number(ctx: ServiceContext, number: str) -> Ticket | None:
    return ctx.session.scalar(scope_tickets(ctx, select(Ticket).where(Ticket.number == number)))


def list_tickets(ctx: ServiceContext, *, state: str | None = None, assignee_id: int | None = None, customer_id: int | None = None,
                 priority: str | None = None, kind: str | None = None, open_only: bool = False,
                 breached: bool | None = None, q: str | None = None, page: int = 1,
                 page_size: int = 50) -> tuple[list[Ticket], int]:
    """Tickets in scope, most urgent first (earliest resolution due, then newest)."""
    ctx.require("service.ticket.read")
    stmt = scope_tickets(ctx, select(Ticket))
    if state:
        stmt = stmt.where(Ticket.state == state)
    if open_only:
        done = keys_in_phase(ctx, "done")
        stmt = stmt.where(Ticket.state.not_in(done))
    if assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == assignee_id)
    if customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == customer_id)
    if priority:
        stmt = stmt.where(Ticket.priority == priority)
    if kind:
        stmt = stmt.where(Ticket.kind == kind)
    if breached is not None:
        cond = or_(Ticket.first_response_breached_at.is_not(None), Ticket.resolution_breached_at.is_not(None))
        stmt = stmt.where(cond if breached else ~cond)
    if q:
        like = f"%{escape_like(q.strip())}%"  # what is typed matches literally: % and _ are no wildcards
        stmt = stmt.where(or_(*[col.ilike(like, escape=LIKE_ESCAPE)
                                for col in (Ticket.subject, Ticket.number, Ticket.requester_email,
                                            Ticket.requester_phone, Ticket.requester_wechat)]))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    stmt = stmt.order_by(Ticket.resolution_due_at.is_(None), Ticket.resolution_due_at, Ticket.id.desc())
    items = list(ctx.session.scalars(stmt.offset((page - 1) * page_size).limit(page_size)))
    return items, total


# ---- validation -------------------------------------------------------------------------------

def validate_ticket(ctx: ServiceContext, data: dict[str, Any], ticket: Ticket | None) -> dict[str, Any]:
    """A ticket's input checked and converted, the one validation every path shares (API, admin, portal,
    mail intake): the fields by ``TicketSchema`` (lengths and choices from the model; all of them for a
    new ticket, those given for ``ticket``), then the records they name: a category (whose kind a new
    ticket takes), a live customer, a contact of that customer. Returns the editable fields (and
    ``assignee_id`` when given); the requester's e-mail is stored normalised."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("category_id") is not None:
            category = ctx.session.get(Category, values["category_id"])
            if category is None:
                errors["category_id"] = [_("No such category.")]
            elif "kind" not in data and ticket is None:
                values["kind"] = category.kind
        if values.get("requester_phone") and normalize_phone(values["requester_phone"],
                                                             ctx.settings["DEFAULT_REGION"]) is None:
            errors["requester_phone"] = [_("Not a valid phone number.")]
        if values.get("customer_id") is not None:
            live_customer(ctx, values["customer_id"])  # 422 when deleted or merged away; 403 outside the scope
        customer_id = values.get("customer_id", ticket.customer_id if ticket else None)
        if values.get("contact_id") is not None:
            contact = ctx.session.get(Contact, values["contact_id"])
            if contact is None or contact.customer_id != customer_id:
                errors["contact_id"] = [_("This contact does not belong to the customer.")]
        return errors

    loaded = load(_SCHEMA if ticket is None else _UPDATE, data, partial=ticket is not None,
                  message=_("The ticket is not valid."), check=check)
    out = {k: loaded[k] for k in (*EDITABLE, "assignee_id") if k in loaded}
    if out.get("requester_email"):
        out["requester_email"] = normalize_email(out["requester_email"])
    return out


def _check_assignee(ctx: ServiceContext, user_id: int | None) -> None:
    if user_id is None:
        return
    user = ctx.session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationError(_("The ticket is not valid."), errors={"assignee_id": [_("No such active user.")]})
    if ctx.scope == "own" and user_id != ctx.actor.id:
        raise PermissionDenied(_("You can only assign tickets to yourself."))
    if ctx.scope == "team" and user_id != ctx.actor.id and user.team_id not in team_ids(ctx):
        raise PermissionDenied(_("You can only assign tickets to members of your team."))


# ---- writes -----------------------------------------------------------------------------------

def create_ticket(ctx: ServiceContext, data: dict[str, Any], *, channel: str = "api", first_message: dict[str, Any] | None = None,
                  now: dt.datetime | None = None) -> Ticket:
    """Open a ticket: SLA due times, assignment by rules (unless ``assignee_id`` is given), the first
    message when it came from a customer, and an interaction on the customer's timeline."""
    ctx.require("service.ticket.write")
    if channel not in CHANNELS:
        raise ValidationError(_("The ticket is not valid."), errors={"channel": [
            _("Unknown channel '%(channel)s'.", channel=channel)]})
    clean = validate_ticket(ctx, data, None)
    assignee_id = clean.pop("assignee_id", None)
    _check_assignee(ctx, assignee_id)
    now = now or utcnow()
    with unit_of_work(ctx):
        states(ctx)
        ticket = Ticket(number=f"TMP-{uuid.uuid4().hex[:24]}", channel=channel, state="new",
                        created_at=now, **{"priority": "normal", "kind": "request", **clean})
        if ticket.customer_id is not None:
            ticket.customer = ctx.session.get(Customer, ticket.customer_id)
        ctx.session.add(ticket)
        if assignee_id is None:
            from .assignment import choose_assignee

            assignee_id = choose_assignee(ctx, ticket)
        if assignee_id is not None:
            ticket.assignee_id = assignee_id
            ticket.state = "assigned"
        sla.apply_policy(ctx, ticket, now)
        ctx.hook.crm_before_save(ctx=ctx, entity="service_ticket", obj=ticket, changes={}, created=True)
        ctx.session.flush()
        ticket.number = f"SR-{ticket.id:06d}"
        if first_message:
            _add_message(ctx, ticket, {**first_message, "channel": channel})
        ctx.session.flush()
        changes = {k: [None, getattr(ticket, k)] for k in ("subject", "state", "priority", "assignee_id",
                                                             "customer_id")}
        record_change(ctx, "service_ticket", "created", ticket.id, changes,
                      data=event_data(ticket), event_name="service.ticket.created")
        _timeline(ctx, ticket, _("Ticket %(number)s opened: %(subject)s", number=ticket.number,
                                 subject=ticket.subject), ticket.description, "inbound" if channel != "api" else "internal")
    return ticket


def update_ticket(ctx: ServiceContext, ticket_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                  if_match: bool = False) -> Ticket:
    """Change a ticket's fields or assignee (a new priority or customer recomputes the SLA due times)."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.write")
    check_version(ticket, expected_version, if_match)
    clean = validate_ticket(ctx, data, ticket)
    assigned = "assignee_id" in clean
    assignee_id = clean.pop("assignee_id", None)
    with unit_of_work(ctx):
        changes: dict[str, list[Any]] = {}
        for key, value in clean.items():
            if getattr(ticket, key) != value:
                changes[key] = [getattr(ticket, key), value]
                setattr(ticket, key, value)
        if assigned and assignee_id != ticket.assignee_id:
            _check_assignee(ctx, assignee_id)
            changes["assignee_id"] = [ticket.assignee_id, assignee_id]
            ticket.assignee_id = assignee_id
            if ticket.state == "new" and assignee_id is not None:
                changes["state"] = [ticket.state, "assigned"]
                ticket.state = "assigned"
        if not changes:
            return ticket
        if "customer_id" in changes:
            ticket.customer = ctx.session.get(Customer, ticket.customer_id) if ticket.customer_id else None
        if {"priority", "customer_id"} & changes.keys() and ticket.resolved_at is None:
            sla.apply_policy(ctx, ticket, ticket.created_at)
        ticket.__dict__[OWN_WRITE] = True  # an assignment's new -> assigned is no engine move
        try:
            ctx.hook.crm_before_save(ctx=ctx, entity="service_ticket", obj=ticket, changes=changes, created=False)
        finally:
            ticket.__dict__.pop(OWN_WRITE, None)
        ctx.session.flush()
        record_change(ctx, "service_ticket", "updated", ticket.id, changes, data=event_data(ticket),
                      event_name="service.ticket.updated")
    return ticket


def delete_ticket(ctx: ServiceContext, ticket_id: int, *, expected_version: int | None = None, if_match: bool = False) -> None:
    """Delete a ticket with its messages and visits (managers; e.g. spam or a test). The audit entry
    keeps its number, subject and customer; follow-ups, quality records and surveys stay, unlinked."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.delete")
    check_version(ticket, expected_version, if_match)
    with unit_of_work(ctx):
        ctx.hook.crm_before_delete(ctx=ctx, entity="service_ticket", obj=ticket)
        data = event_data(ticket)
        record_change(ctx, "service_ticket", "deleted", ticket.id, {"subject": [ticket.subject, None]}, data=data,
                      event_name="service.ticket.deleted")
        ctx.session.delete(ticket)


def transition(ctx: ServiceContext, ticket_id: int, target: str, *, note: str | None = None, now: dt.datetime | None = None,
               expected_version: int | None = None, if_match: bool = False, check_role: bool = True) -> Ticket:
    """Move a ticket to another state along an allowed move; SLA clocks pause, resume and stop with
    the state's phase. Emits ``service.ticket.<state>`` (e.g. ``service.ticket.resolved``)."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.write")
    check_version(ticket, expected_version, if_match)
    with unit_of_work(ctx):
        _move(ctx, ticket, target, now or utcnow(), note=note, check_role=check_role)
    return ticket


def _move(ctx: ServiceContext, ticket: Ticket, target: str, now: dt.datetime, *, note: str | None = None,
          check_role: bool = True) -> None:
    before = ticket.state
    if check_role:
        check_move(ctx, before, target)
    ticket.state = target
    changes: dict[str, list[Any]] = {"state": [before, target]}
    state_effects(ctx, ticket, before, target, now, by_agent=check_role, changes=changes)
    if note:
        _add_message(ctx, ticket, {"body": note, "author": "agent" if ctx.actor else "system", "internal": True})
    ticket.__dict__[EFFECTS_DONE] = True  # our crm_before_save listener must not apply them twice
    try:
        ctx.hook.crm_before_save(ctx=ctx, entity="service_ticket", obj=ticket, changes=changes, created=False)
    finally:
        ticket.__dict__.pop(EFFECTS_DONE, None)
    ctx.session.flush()
    record_change(ctx, "service_ticket", "state_changed", ticket.id, changes, data=event_data(ticket),
                  event_name=f"service.ticket.{target}")
    after_state(ctx, ticket, target, now)


EFFECTS_DONE = "_service_state_effects_done"
OWN_WRITE = "_service_own_write"


def state_effects(ctx: ServiceContext, ticket: Ticket, before: str, target: str, now: dt.datetime, *, by_agent: bool = True,
                  changes: dict[str, list[Any]] | None = None) -> None:
    """What entering ``target`` from ``before`` does to the SLA clocks and timestamps, by the
    states' phases: pause, resume, first response, resolved, closed, reopened."""
    changes = changes if changes is not None else {}
    old_phase, new_phase = phase_of(ctx, before), phase_of(ctx, target)
    if new_phase == "paused":
        sla.pause(ticket, now)
    elif old_phase == "paused":
        sla.resume(ticket, now)
    if new_phase in ("paused", "done") and ticket.first_responded_at is None and by_agent:
        ticket.first_responded_at = now
        sla.record_late(ticket, now)
    if new_phase == "done" and old_phase != "done":
        if target == "closed":
            ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
        changes["resolved_at"] = [None, ticket.resolved_at]
        sla.record_late(ticket, now)
    elif new_phase == "done" and target == "closed":
        ticket.closed_at = now
    elif old_phase == "done" and new_phase != "done":  # reopened: a new resolution target from now
        ticket.resolved_at = ticket.closed_at = None
        sla.restart(ticket, now)
        ticket.paused_since = now if new_phase == "paused" else None


def after_state(ctx: ServiceContext, ticket: Ticket, target: str, now: dt.datetime) -> None:
    """Work that follows a resolution: the CSAT survey and the ``ticket`` follow-ups (once each)."""
    if phase_of(ctx, target) == "done" and target != "closed":
        from .followups import schedule_for_ticket
        from .surveys import create_csat

        create_csat(ctx, ticket, now)
        schedule_for_ticket(ctx, ticket, now)


def add_message(ctx: ServiceContext, ticket_id: int, data: dict[str, Any], *, now: dt.datetime | None = None) -> TicketMessage:
    """An agent's reply or internal note (``internal``); the first public reply is the first response."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.write")
    body = (data.get("body") or "").strip()
    if not body:
        raise ValidationError(_("The message is empty."), errors={"body": [_("Write something.")]})
    now = now or utcnow()
    with unit_of_work(ctx):
        msg = _add_message(ctx, ticket, {"body": body, "author": "agent", "internal": bool(data.get("internal")),
                                         "channel": data.get("channel") or "api"}, now=now)
        if not msg.internal:
            ctx.session.flush()
            domain = str(ctx.settings.get("SERVICE_MAIL_DOMAIN") or "crm.invalid")
            # replies to this id thread here, so it is not guessable: number, row id and 48 random bits
            msg.message_id = f"<{ticket.number.lower()}.{msg.id}.{secrets.token_hex(6)}@{domain}>"
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
                sla.record_late(ticket, now)
            if ticket.state in ("new", "reopened") and ticket.assignee_id is None and ctx.actor is not None:
                ticket.assignee_id = ctx.actor.id
        ctx.session.flush()
        record_change(ctx, "service_ticket_message", "created", msg.id,
                      {"internal": [None, msg.internal]}, data={"ticket_id": ticket.id, "author": "agent"},
                      event_name="service.ticket.noted" if msg.internal else "service.ticket.replied")
    return msg


def customer_message(ctx: ServiceContext, ticket: Ticket, data: dict[str, Any], *, now: dt.datetime | None = None) -> TicketMessage:
    """A message from the customer (e-mail, portal): a ticket waiting on them goes back to work, a
    resolved or closed one is reopened. Called by trusted channels with a system context."""
    now = now or utcnow()
    with unit_of_work(ctx):
        msg = _add_message(ctx, ticket, {**data, "author": "customer", "internal": False}, now=now)
        ctx.session.flush()
        record_change(ctx, "service_ticket_message", "created", msg.id, {"channel": [None, msg.channel]},
                      data={"ticket_id": ticket.id, "author": "customer"}, event_name="service.ticket.customer_replied")
        if ticket.state == "waiting_on_customer":
            _move(ctx, ticket, "in_progress", now, check_role=False)
        elif ticket.state in ("resolved", "closed"):
            _move(ctx, ticket, "reopened", now, check_role=False)
        _timeline(ctx, ticket, _("Reply on ticket %(number)s", number=ticket.number), msg.body, "inbound",
                  channel=msg.channel)
    return msg


def _add_message(ctx: ServiceContext, ticket: Ticket, data: dict[str, Any], now: dt.datetime | None = None) -> TicketMessage:
    body = str(data.get("body") or "")[:MAX_BODY]
    msg = TicketMessage(ticket=ticket, author=data.get("author", "customer"), body=body,
                        user_id=getattr(ctx.actor, "id", None) if data.get("author") == "agent" else None,
                        from_name=data.get("from_name"), from_email=data.get("from_email"),
                        channel=data.get("channel") or "api", internal=bool(data.get("internal")),
                        message_id=data.get("message_id"), attachments=data.get("attachments") or [],
                        created_at=now or utcnow())
    ctx.session.add(msg)
    return msg


def _timeline(ctx: ServiceContext, ticket: Ticket, subject: Any, body: str | None, direction: str, channel: str | None = None) -> None:
    """Log the touchpoint on the customer's timeline (as the system when the actor may not log)."""
    if ticket.customer_id is None:
        return
    actor_ctx = ctx if ctx.can("interaction.write") else ctx.runtime.context(session=ctx.session, source="plugin:service")
    log_interaction(actor_ctx, ticket.customer_id, {
        "channel": TIMELINE_CHANNELS.get(channel or ticket.channel, "other"), "direction": direction,
        "subject": str(subject)[:255], "body": (body or "")[:4000], "contact_id": ticket.contact_id,
        "entity_type": "service_ticket", "entity_id": str(ticket.id), "source": "service",
        "data": title_data(subject)})  # the title in each reader's language


def event_data(ticket: Ticket) -> dict[str, Any]:
    """The data every ``service.ticket.*`` event carries."""
    return {"number": ticket.number, "customer_id": ticket.customer_id, "assignee_id": ticket.assignee_id,
            "state": ticket.state, "priority": ticket.priority, "kind": ticket.kind}


def count_complaints(ctx: ServiceContext, customer_ids: Any, start: dt.datetime, end: dt.datetime) -> int:
    """Complaint tickets (kind ``complaint``) opened by these customers in [start, end)."""
    return int(ctx.session.scalar(select(func.count(Ticket.id)).where(
        Ticket.kind == "complaint", Ticket.customer_id.in_(customer_ids),
        Ticket.created_at >= start, Ticket.created_at < end)) or 0)
