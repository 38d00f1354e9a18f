"""Ticket states and allowed moves as data: the defaults, seeding, and the move check."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import TicketState, TicketTransition
from ..schemas_settings import TicketStateSchema, TicketTransitionSchema

# key, name, phase (open: SLA clocks run; paused: resolution clock stops; done: clocks stop)
DEFAULT_STATES = [
    ("new", "New", "open"),
    ("assigned", "Assigned", "open"),
    ("in_progress", "In progress", "open"),
    ("waiting_on_customer", "Waiting on customer", "paused"),
    ("resolved", "Resolved", "done"),
    ("closed", "Closed", "done"),
    ("reopened", "Reopened", "open"),
]
# the default names, marked for the catalogue: pages show ``gettext(state.name)``
LABELS = (_("New"), _("Assigned"), _("In progress"), _("Waiting on customer"), _("Resolved"), _("Closed"),
          _("Reopened"))
DEFAULT_TRANSITIONS = [
    ("new", "assigned"), ("new", "in_progress"), ("new", "waiting_on_customer"), ("new", "resolved"),
    ("new", "closed"),
    ("assigned", "in_progress"), ("assigned", "waiting_on_customer"), ("assigned", "resolved"),
    ("assigned", "assigned"),
    ("in_progress", "waiting_on_customer"), ("in_progress", "resolved"), ("in_progress", "assigned"),
    ("waiting_on_customer", "in_progress"), ("waiting_on_customer", "resolved"), ("waiting_on_customer", "closed"),
    ("resolved", "closed"), ("resolved", "reopened"),
    ("closed", "reopened"),
    ("reopened", "assigned"), ("reopened", "in_progress"), ("reopened", "waiting_on_customer"),
    ("reopened", "resolved"),
]


def ensure_states(ctx: ServiceContext) -> None:
    """Create the default states and moves when none are defined (inside the caller's transaction)."""
    if ctx.session.scalar(select(TicketState.id).limit(1)) is not None:
        return
    for pos, (key, name, phase) in enumerate(DEFAULT_STATES):
        ctx.session.add(TicketState(key=key, name=name, phase=phase, position=pos))
    for a, b in DEFAULT_TRANSITIONS:
        ctx.session.add(TicketTransition(from_state=a, to_state=b, roles=[]))
    ctx.session.flush()


def states(ctx: ServiceContext) -> dict[str, TicketState]:
    ensure_states(ctx)
    return {s.key: s for s in ctx.session.scalars(select(TicketState).order_by(TicketState.position))}


def keys_in_phase(ctx: ServiceContext, phase: str) -> list[str]:
    """The keys of the states in ``phase`` (``done``: the states where a ticket counts as finished)."""
    return [k for k, s in states(ctx).items() if s.phase == phase]


def phase_of(ctx: ServiceContext, key: str) -> str:
    state = states(ctx).get(key)
    return state.phase if state is not None else "open"


def allowed_moves(ctx: ServiceContext, current: str) -> list[str]:
    """The states a ticket in ``current`` may move to, for this actor's role."""
    ensure_states(ctx)
    role = getattr(getattr(ctx.actor, "role", None), "name", None)
    out = []
    for t in ctx.session.scalars(select(TicketTransition).where(TicketTransition.from_state == current)
                                 .order_by(TicketTransition.id)):
        if not t.roles or ctx.actor is None or role in t.roles or role == "admin":
            out.append(t.to_state)
    return out


def check_move(ctx: ServiceContext, current: str, target: str) -> None:
    """Raise unless ``current`` -> ``target`` is an allowed move for the actor."""
    known = states(ctx)
    if target not in known:
        raise ValidationError(_("Unknown state '%(state)s'.", state=target),
                              errors={"state": [_("Choose one of: %(choices)s.", choices=", ".join(known))]})
    exists = ctx.session.scalar(select(TicketTransition).where(TicketTransition.from_state == current,
                                                               TicketTransition.to_state == target))
    if exists is None:
        raise ValidationError(_("A ticket cannot move from '%(a)s' to '%(b)s'.", a=current, b=target),
                              errors={"state": [_("Allowed: %(choices)s.",
                                                  choices=", ".join(allowed_moves(ctx, current)) or "-")]})
    if target not in allowed_moves(ctx, current):
        raise PermissionDenied(_("Your role may not move a ticket from '%(a)s' to '%(b)s'.", a=current, b=target))


_STATE, _MOVE = TicketStateSchema(), TicketTransitionSchema()


def validate_state(ctx: ServiceContext, data: dict[str, Any], existing: TicketState | None) -> dict[str, Any]:
    """A state's input checked by ``TicketStateSchema`` (key and name lengths, the phases from the model; all
    fields for a new state, those given for ``existing``, whose key is fixed and not read) and a key no other
    state holds: the one validation of the admin and any other caller."""
    if existing is not None:
        data = {k: v for k, v in data.items() if k != "key"}  # fixed once created: tickets refer to it

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if existing is None and values.get("key") and ctx.session.scalar(
                select(TicketState.id).where(TicketState.key == values["key"])):
            return {"key": [_("This key is taken.")]}
        return {}

    return load(_STATE, data, partial=existing is not None, message=_("The state is not valid."), check=check)


def save_state(ctx: ServiceContext, data: dict[str, Any], state_id: int | None = None) -> TicketState:
    """Create or change a state (its key is fixed once created: tickets refer to it)."""
    ctx.require("service.config.manage")
    ensure_states(ctx)
    state = ctx.session.get(TicketState, state_id) if state_id else TicketState(position=100)
    if state is None:
        raise NotFound(_("No such state."))
    data = validate_state(ctx, data, state if state_id else None)
    key = data.get("key") if state_id is None else state.key
    with unit_of_work(ctx):
        changes = {}
        if state_id is None:
            state.key = key
            changes["key"] = [None, key]
            ctx.session.add(state)
        for field in ("name", "phase", "position"):
            if data.get(field) is not None and getattr(state, field) != data[field]:
                changes[field] = [getattr(state, field), data[field]]
                setattr(state, field, data[field])
        ctx.session.flush()
        record_change(ctx, "service_ticket_state", "updated" if state_id else "created", state.id, changes)
    return state


def validate_move(ctx: ServiceContext, data: dict[str, Any], existing: TicketTransition | None) -> dict[str, Any]:
    """A move's input checked by ``TicketTransitionSchema`` and both ends among the states: the one validation."""
    known = states(ctx)

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        return {f: [_("Must be one of: %(choices)s.", choices=", ".join(known))]
                for f in ("from_state", "to_state") if f in values and values[f] not in known}

    return load(_MOVE, data, partial=existing is not None, message=_("The move is not valid."), check=check)


def save_transition(ctx: ServiceContext, data: dict[str, Any], transition_id: int | None = None) -> TicketTransition:
    """Create or change an allowed move between two existing states, optionally limited to roles."""
    ctx.require("service.config.manage")
    move = ctx.session.get(TicketTransition, transition_id) if transition_id else TicketTransition(roles=[])
    if move is None:
        raise NotFound(_("No such move."))
    data = validate_move(ctx, data, move if transition_id else None)
    with unit_of_work(ctx):
        changes = {}
        for field in ("from_state", "to_state", "roles"):
            if field in data and getattr(move, field) != data[field]:
                changes[field] = [getattr(move, field), data[field]]
                setattr(move, field, data[field])
        if transition_id is None:
            ctx.session.add(move)
        ctx.session.flush()
        record_change(ctx, "service_ticket_transition", "updated" if transition_id else "created", move.id, changes)
    return move


def delete_transition(ctx: ServiceContext, transition_id: int) -> None:
    """Remove an allowed move."""
    ctx.require("service.config.manage")
    move = ctx.session.get(TicketTransition, transition_id)
    if move is None:
        raise NotFound(_("No such move."))
    with unit_of_work(ctx):
        record_change(ctx, "service_ticket_transition", "deleted", move.id,
                      {"from_state": [move.from_state, None], "to_state": [move.to_state, None]})
        ctx.session.delete(move)
