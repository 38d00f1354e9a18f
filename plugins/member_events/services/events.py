"""Member events: created and changed through one validation; times stored in UTC, entered and shown in the
event's own time zone."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services.customers import check_version
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load
from crmcore.timezones import zone

from ..models import Invitation, MemberEvent
from ..schemas import EventSchema

FIELDS = ("name", "description", "starts_at", "ends_at", "timezone", "place", "capacity", "audience_id", "cancelled")
INVALID = _("The event is not valid.")
_SCHEMA = EventSchema()


def get_event(ctx: ServiceContext, event_id: int) -> MemberEvent:
    ctx.require("member_events.read")
    event = ctx.session.get(MemberEvent, event_id)
    if event is None:
        raise NotFound(_("Event %(id)s does not exist.", id=event_id))
    return event


def list_events(ctx: ServiceContext, *, upcoming: bool | None = None, page: int = 1,
                page_size: int = 25) -> tuple[list[MemberEvent], int]:
    """Events, the next first (``upcoming``: only those that have not started)."""
    ctx.require("member_events.read")
    stmt = select(MemberEvent)
    if upcoming:
        stmt = stmt.where(MemberEvent.starts_at > utcnow())
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(MemberEvent.starts_at.desc(), MemberEvent.id.desc())
                                .offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def _aware(value: Any, zone_name: str) -> Any:
    """A wall-clock time of the event's zone (no offset) as UTC; a time with an offset as that instant."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(zone_name))
    return value.astimezone(dt.timezone.utc)


def validate_event(ctx: ServiceContext, data: dict[str, Any], existing: MemberEvent | None) -> dict[str, Any]:
    """An event's input checked and converted (the API, the admin and the CLI share it): the schema, then an
    audience that exists, a name no other event has, times as UTC (entered in the event's zone), an end
    after the start, and a capacity not below the guests who said yes already."""
    from plugins.marketing.models import Audience

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("audience_id") is not None and ctx.session.get(Audience, values["audience_id"]) is None:
            errors["audience_id"] = [_("Audience %(id)s does not exist.", id=values["audience_id"])]
        name = values.get("name")
        if name:
            other = ctx.session.scalar(select(MemberEvent.id).where(MemberEvent.name == name))
            if other is not None and (existing is None or other != existing.id):
                errors["name"] = [_("Another event is named '%(name)s'.", name=name)]
        if existing is not None and values.get("capacity") is not None:
            yes = ctx.session.scalar(select(func.count()).select_from(Invitation).where(
                Invitation.event_id == existing.id, Invitation.response == "yes")) or 0
            if values["capacity"] < yes:
                errors["capacity"] = [_("%(n)s guests have said yes already; the capacity cannot be below that.",
                                        n=yes)]
        return errors

    data = load(_SCHEMA, data, partial=existing is not None, message=INVALID, check=check)
    data.pop("version", None)
    zone_name = data.get("timezone") or (existing.timezone if existing else "Asia/Shanghai")
    for key in ("starts_at", "ends_at"):
        if key in data:
            data[key] = _aware(data[key], zone_name)
    start = data.get("starts_at", existing.starts_at if existing else None)
    end = data.get("ends_at", existing.ends_at if existing else None)
    if start is not None and end is not None and end < start:
        raise ValidationError(INVALID, errors={"ends_at": [_("The end comes before the start.")]})
    return data


def save_event(ctx: ServiceContext, data: dict[str, Any], event_id: int | None = None, *,
               expected_version: int | None = None, if_match: bool = False) -> MemberEvent:
    """Create an event, or change ``event_id`` (stale ``expected_version``: 409, or 412 from If-Match)."""
    ctx.require("member_events.manage")
    existing = get_event(ctx, event_id) if event_id is not None else None
    if existing is not None:
        check_version(existing, expected_version, if_match)
    clean = validate_event(ctx, data, existing)
    with unit_of_work(ctx):
        event = existing or MemberEvent()
        changes = apply_changes(event, clean, FIELDS)
        if existing is None:
            ctx.session.add(event)
        elif not changes:
            return event
        ctx.session.flush()
        action = "created" if existing is None else "updated"
        record_change(ctx, "member_event", action, event.id, changes, event_name=f"member_event.{action}",
                      data={"name": event.name})
    return event


def local_start(event: MemberEvent) -> dt.datetime:
    """The event's start on the clocks of its own zone."""
    return event.starts_at.astimezone(zone(event.timezone))


def counts(ctx: ServiceContext, event_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per event: invitations per answer and guests checked in."""
    out: dict[int, dict[str, Any]] = {i: {"answers": {"pending": 0, "yes": 0, "no": 0, "maybe": 0}, "checked_in": 0}
                                      for i in event_ids}
    if not event_ids:
        return out
    for event_id, response, n, came in ctx.session.execute(
            select(Invitation.event_id, Invitation.response, func.count(), func.count(Invitation.checked_in_at))
            .where(Invitation.event_id.in_(event_ids)).group_by(Invitation.event_id, Invitation.response)):
        out[event_id]["answers"][response] = int(n)
        out[event_id]["checked_in"] += int(came)
    return out


def with_counts(ctx: ServiceContext, events: list[MemberEvent]) -> list[MemberEvent]:
    """``events`` with ``answers`` and ``checked_in`` set for showing (not stored)."""
    found = counts(ctx, [e.id for e in events])
    for event in events:
        event.answers, event.checked_in = found[event.id]["answers"], found[event.id]["checked_in"]
    return events
