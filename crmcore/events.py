"""Change recording: audit entry, outbox rows and the event, in the writer's transaction.

Events reach plugins (``crm_after_commit``, ``crm_event``) only after the transaction
commits; a rollback drops them. Outbox rows commit with the change itself.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import logging
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event as sa_event
from sqlalchemy import String, Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from .contracts import Event
from .db import flush_new, may_write, utcnow
from .models.audit import AuditLog
from .models.integration import OutboxMessage
from .services import stamps  # noqa: F401 - its engine listener: every writer's writes of stamped tables bump them
from .services.outbox import active_handlers
from .services.unit import unit_of_work

if TYPE_CHECKING:
    from .runtime import ServiceContext

log = logging.getLogger(__name__)
_PENDING = "crm_pending_events"


_PLAIN = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """Turn a value into something JSON can hold (Decimal as string, datetimes ISO)."""
    if type(value) in _PLAIN:  # the common case first: most values are plain already
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]  # a change's [before, after]: mostly plain
    return value


def jsonable_dict(value: dict[str, Any]) -> dict[str, Any]:
    """``jsonable`` of a dict, typed as the dict it stays."""
    out: dict[str, Any] = jsonable(value)
    return out


_AUDIT = cast(Table, AuditLog.__table__)
_INSERT_AUDIT = insert(_AUDIT).inline()  # built once; inline: no RETURNING of the entry's id, which nobody reads
_CUT = {key: length for key in ("actor_label", "source", "action", "entity", "entity_id")
        if (length := cast(String, _AUDIT.c[key].type).length)}


def audit_values(ctx: ServiceContext, action: str, entity: str, entity_id: Any, changes: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, event_id: str | None = None) -> dict[str, Any]:
    """An audit entry's values: names longer than their columns cut, never refused."""
    values: dict[str, Any] = {"actor_label": ctx.actor_label, "source": ctx.source, "action": action,
                              "entity": entity, "entity_id": str(entity_id)}
    for key, length in _CUT.items():
        if values[key] is not None and len(values[key]) > length:
            values[key] = values[key][:length]
    return {**values, "actor_id": getattr(ctx.actor, "id", None), "changes": jsonable(changes or {}),
            "data": jsonable(data or {}), "event_id": event_id}


def audit(ctx: ServiceContext, action: str, entity: str, entity_id: Any, changes: dict[str, Any] | None = None,
          data: dict[str, Any] | None = None, event_id: str | None = None) -> None:
    """Write an audit entry in the current transaction (one Core INSERT: the ORM's flush of an entry cost a fifth
    of a write). Names longer than their columns are cut, never refused."""
    ctx.session.execute(_INSERT_AUDIT, audit_values(ctx, action, entity, entity_id, changes, data, event_id))


def emit(ctx: ServiceContext, event: Event, *, lifecycle: tuple[str, str, Any, dict[str, Any]] | None = None) -> Event:
    """Write outbox rows for the event's subscribers and queue it for after commit."""
    if event.actor_id is None and ctx.actor is not None:
        event.actor_id = ctx.actor.id
    payload = jsonable(event.to_dict())
    for handler in active_handlers(ctx):
        if handler.wants(event.name, ctx.source):
            ctx.session.add(OutboxMessage(
                event_id=event.id, topic=event.name, destination=handler.name, payload=payload,
                idempotency_key=f"{event.id}:{handler.name}",
            ))
    ctx.session.info.setdefault(_PENDING, []).append((ctx, event, lifecycle))
    return event


def record_change(ctx: ServiceContext, entity: str, action: str, entity_id: Any, changes: dict[str, Any] | None = None,
                  data: dict[str, Any] | None = None, event_name: str | None = None) -> Event:
    """Audit a change and emit its event (``<entity>.<action>``) in the current transaction."""
    changes = changes or {}
    ev = Event(name=event_name or f"{entity}.{action}", entity=entity, entity_id=entity_id,
               data=jsonable({"changes": changes, **(data or {})}))
    audit(ctx, action, entity, entity_id, changes, data, ev.id)
    return emit(ctx, ev, lifecycle=(entity, action, entity_id, changes))


def record_new(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any] | None = None,
               data: dict[str, Any] | None = None, event_name: str | None = None) -> Event:
    """Write the session's one new record ``obj`` (``db.flush_new``) and record its creation (``record_change``
    with ``created``): its audit entry goes in the record's own INSERT on PostgreSQL (a round trip less for an API
    write), just after it elsewhere."""
    changes = changes or {}
    ev = Event(name=event_name or f"{entity}.created", entity=entity, data=jsonable({"changes": changes, **(data or {})}))
    values = {**audit_values(ctx, "created", entity, None, changes, data, ev.id), "at": utcnow()}
    del values["entity_id"]  # the record's key, once it has one
    flush_new(ctx.session, obj, also=(_AUDIT, values, "entity_id"))
    ev.entity_id = obj.id
    return emit(ctx, ev, lifecycle=(entity, "created", obj.id, changes))


def record_changes(ctx: ServiceContext, entries: list[tuple[Any, ...]], *, audit: bool = True) -> list[Event]:
    """``record_change`` for many changes at once, each ``(entity, action, entity_id, changes, data)``
    or with a sixth item, the event's name (default ``<entity>.<action>``):
    the same audit entries, outbox rows and events after commit, written with one bulk INSERT per
    table instead of one ORM object per row (for imports and syncs storing many records at once).
    ``audit=False``: no audit entry per change (a bulk import audited by one entry per batch)."""
    audits: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    pending = []
    handlers = active_handlers(ctx)
    actor_id = getattr(ctx.actor, "id", None)
    label = ctx.actor_label
    for entity, action, entity_id, changes, data, *name in entries:
        changes = changes or {}
        plain_data = jsonable(data) if data else {}  # once: the event's data and the audit entry's
        ev = Event(name=name[0] if name and name[0] else f"{entity}.{action}", entity=entity, entity_id=entity_id,
                   data={"changes": jsonable(changes), **plain_data}, actor_id=actor_id)
        audits.append({"actor_id": actor_id, "actor_label": label, "source": ctx.source, "action": action,
                       "entity": entity, "entity_id": str(entity_id), "changes": ev.data["changes"],
                       "data": plain_data, "event_id": ev.id})
        payload = None
        for handler in handlers:
            if handler.wants(ev.name, ctx.source):
                payload = payload or ev.to_dict()  # its data is JSON-able already
                messages.append({"event_id": ev.id, "topic": ev.name, "destination": handler.name,
                                 "payload": payload, "idempotency_key": f"{ev.id}:{handler.name}"})
        pending.append((ctx, ev, (entity, action, entity_id, changes)))
    if audits and audit:  # Core inserts of the tables: the ORM's bulk path costs more and adds nothing here
        ctx.session.execute(insert(cast(Table, AuditLog.__table__)), audits)
    if messages:
        ctx.session.execute(insert(cast(Table, OutboxMessage.__table__)), messages)
    ctx.session.info.setdefault(_PENDING, []).extend(pending)
    return [ev for _ctx, ev, _lifecycle in pending]


def pending_mark(session: Session) -> int:
    """How many events the session holds for after commit: pass it to :func:`discard_pending_since`."""
    return len(session.info.get(_PENDING) or ())


def discard_pending_since(session: Session, mark: int) -> None:
    """Drop the events queued since ``mark`` (:func:`pending_mark`): call it after rolling back a
    savepoint, whose writes' events must not be dispatched when the outer transaction commits."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        del pending[mark:]


def _wanted(impl: Any, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls of ``impl`` that its :func:`crmcore.listens_to` asks for (all of them when it has none): each
    ``crm_event`` whose event it names, each ``crm_events`` with its events filtered (dropped when none is left),
    each ``crm_after_commit`` of an entity it names."""
    names: frozenset[str] | None = getattr(impl.function, "crm_listens_to", None)
    if names is None:
        return calls
    prefixes = tuple(n for n in names if n.endswith("."))

    def named(name: str) -> bool:
        return name in names or bool(prefixes) and name.startswith(prefixes)

    out = []
    for kwargs in calls:
        if "events" in kwargs:
            events = [ev for ev in kwargs["events"] if named(ev.name)]
            if events:
                out.append({**kwargs, "events": events})
        elif "event" in kwargs:
            if named(kwargs["event"].name):
                out.append(kwargs)
        elif kwargs.get("entity") in names:
            out.append(kwargs)
    return out


def _call_each(hook: Any, calls: list[dict[str, Any]]) -> None:
    """Call every implementation with each of ``calls`` (keyword arguments, ``ctx`` the same session in all);
    one failing listener is logged and does not stop the rest.

    Each listener runs in a savepoint of the dispatch's unit of work: what it wrote is kept when it
    returns and undone (with the events it queued) when it raises, so a failing listener neither leaves
    half its work behind nor a broken session for the next one. One savepoint holds a listener's calls
    for all of a commit's events (a bulk load's thousand, not a thousand savepoints); when one call
    raises, that savepoint is undone and the listener called again for the events before it, each in a
    savepoint of its own, and then on with the events after it."""
    if not calls:
        return
    session = calls[0]["ctx"].session
    for impl in reversed(hook.get_hookimpls()):
        mine = _wanted(impl, calls)  # what a listener with ``listens_to`` does not ask for costs no savepoint
        start = 0
        while start < len(mine):
            failed = _in_savepoint(session, hook, impl, mine[start:])
            if failed is None:
                break
            for kwargs in mine[start:start + failed]:  # their writes went with the savepoint: again, one by one
                _in_savepoint(session, hook, impl, [kwargs])
            start += failed + 1


def _in_savepoint(session: Session, hook: Any, impl: Any, calls: list[dict[str, Any]]) -> int | None:
    """``impl`` called with each of ``calls`` in one savepoint: None when all returned and it is kept, else
    the position of the call that raised (logged; the savepoint and the events queued in it undone). When the
    savepoint of several calls fails at its end, the position after the last call (all of them go again one by one).

    The savepoint is taken only when the transaction holds writes a failure must not take with it (earlier
    listeners'). Before the first write a failing listener's transaction is rolled back whole, which undoes
    exactly its own work: most listeners only look something up (a journey waiting for the event, a kept
    forecast), and a savepoint each cost two round trips on every write."""
    mark = pending_mark(session)
    savepoint = None
    if _holds_writes(session):
        _begin(session)
        savepoint = session.begin_nested()
    done = 0
    try:
        for kwargs in calls:
            impl.function(*[kwargs[a] for a in impl.argnames])
            done += 1
        if savepoint is None:
            session.flush()  # its writes' errors are its own, not the next listener's or the final commit's
        elif savepoint.is_active:
            savepoint.commit()
        return None
    except Exception:  # noqa: BLE001 - after commit nothing can be undone; log it
        if savepoint is not None and _undo(savepoint):
            discard_pending_since(session, mark)
        else:  # no savepoint: the transaction held nothing before this listener, all of it was its own
            session.rollback()
        if done == len(calls) and done > 1:
            return done  # the writes of several calls failed together at the savepoint's end: each again alone
        log.exception("plugin %r failed in %s", impl.plugin_name, hook.name)
        return min(done, len(calls) - 1)


def _undo(savepoint: Any) -> bool:
    """Roll the savepoint back, also when a failed flush at its end left it inactive (the earlier listeners'
    work, before it, stays); False when it is gone (the listener ended it itself)."""
    try:
        savepoint.rollback()
    except InvalidRequestError:
        return False
    return True


_WROTE = "crm_wrote"  # in a connection's info: it sent a statement that may write since its transaction began


@sa_event.listens_for(Engine, "begin")
def _began(conn: Any) -> None:
    conn.info[_WROTE] = False


@sa_event.listens_for(Engine, "after_cursor_execute")
def _note_write(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if may_write(context):  # plain SQL, DML, DDL, a savepoint: counted as a write (when unsure, a savepoint)
        conn.info[_WROTE] = True


def _holds_writes(session: Session) -> bool:
    """Whether the session's transaction holds writes: sent (any statement but a SELECT since it began), waiting
    to be flushed, or with events queued."""
    if session.new or session.dirty or session.deleted or pending_mark(session):
        return True
    return session.in_transaction() and bool(session.connection().info.get(_WROTE))


@sa_event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    """The committed transaction's events to the listeners: all of one writer's events in ONE unit of work on a
    fresh session, committed once at the end (a bulk load of thousands of records is not thousands of commits:
    a listener's ``unit_of_work`` joins it): ``crm_after_commit`` with each write, then ``crm_event`` with each
    event, then ``crm_events`` with all of them. The events the listeners' own writes queue are dispatched after it."""
    if session.in_nested_transaction():  # a SAVEPOINT released (SQLAlchemy calls this then too): not committed yet
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    contexts: dict[int, Any] = {}  # one fresh context per writer's context, for all its events (a bulk load has many)
    batches: dict[int, tuple[Any, list[Event], list[dict[str, Any]]]] = {}
    with contextlib.ExitStack() as stack:
        for ctx, ev, lifecycle in pending:
            fresh = contexts.get(id(ctx))
            if fresh is None:
                fresh = contexts[id(ctx)] = ctx.fresh()
                batches[id(ctx)] = (ctx, [], [])
                stack.callback(fresh.session.close)
                stack.enter_context(unit_of_work(fresh))  # committed when the events are dispatched (a listener
                # may write when its session commits: the loyalty example's awards, at ``before_commit``)
            if lifecycle is not None:
                entity, action, entity_id, changes = lifecycle
                batches[id(ctx)][2].append({"ctx": fresh, "entity": entity, "action": action,
                                            "entity_id": entity_id, "changes": changes})
            batches[id(ctx)][1].append(ev)
        for key, (ctx, events, writes) in batches.items():
            fresh = contexts[key]
            _call_each(ctx.hook.crm_after_commit, writes)
            _call_each(ctx.hook.crm_event, [{"ctx": fresh, "event": ev} for ev in events])
            _call_each(ctx.hook.crm_events, [{"ctx": fresh, "events": events}])  # the transaction's events at once


def _begin(session: Session) -> None:
    """Open the session's transaction for real before a savepoint. SQLite's driver begins one only at the first
    write: a savepoint taken before it would BE the transaction, and releasing it a commit (a disk sync per
    listener). A dispatch whose listeners only read (most: a journey waiting for the event, a kept forecast, each
    kept by the process under a change stamp) begins none at all."""
    connection = session.connection()
    raw: Any = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN")


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
