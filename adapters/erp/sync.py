"""The pull side of the sync engine: read each stream from its bookmark and store the records.

Each page's records, the ``ExternalRef`` links and the bookmark commit in one transaction, so a
run killed at any moment resumes where the last page ended: nothing lost, nothing doubled.
Records reach the plugin that owns their kind through the ``crm_sync_apply`` hook.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DataError

from crmcore.db import utcnow
from crmcore.errors import (AdapterError, Conflict, CRMError, FatalAdapterError, NotFound, RetriableAdapterError,
                            SkippableRecordError, ValidationError)
from crmcore.i18n import _
from crmcore.models import ExternalRef, SyncState
from crmcore.services.unit import unit_of_work

from .base import STREAM_ORDER, STREAMS, ConnectionRefused, ErpAdapter, ErpUnreachable, Page, Record
from .issues import open_issue, resolve_issues
from .models import DEFAULT_OWNERSHIP, ErpConnection, SyncIssue, SyncRun

log = logging.getLogger(__name__)
SOURCE = "erp-sync"  # ctx.source of every write the sync makes (the push skips these: no echo)
SYNC_WRITES = "erp_sync_writes"  # session.info flag while the sync stores records
_PENDING_EVENTS = "crm_pending_events"  # crmcore.events keeps events to dispatch after commit here
# What refuses one record (it becomes a sync issue); DataError: a value the database refuses (PostgreSQL),
# e.g. a number too large for its column, rolled back with the record's savepoint.
RECORD_ERRORS = (SkippableRecordError, ValidationError, NotFound, Conflict, DataError)
RETRIED_KINDS = ("rejected", "unlinked")  # issues whose record each run of the stream applies again


def error_kind(exc: BaseException) -> str:
    """The contract's name for a failure (``RetriableAdapterError``, ``FatalAdapterError``, ...), which the
    status turns into a sentence; an adapter's own subclass is named by the contract class it extends."""
    kinds = (SkippableRecordError, RetriableAdapterError, FatalAdapterError)
    return next((k.__name__ for k in type(exc).__mro__ if k in kinds), type(exc).__name__)


@dataclass
class Counts:
    """What one stream's run did."""

    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0

    def add(self, action: str) -> None:
        setattr(self, action, getattr(self, action) + 1)

    def copy(self) -> "Counts":
        return dataclasses.replace(self)

    def restore(self, other: "Counts") -> None:
        """Take ``other``'s numbers (what was committed, after a failure undid the rest)."""
        for key, value in other.as_dict().items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class SyncHelper:
    """What ``crm_sync_apply`` / ``crm_sync_export`` implementations receive as ``sync``.

    ``system`` names the connection; ``resolve(entity, external_id)`` gives the CRM id linked to
    an ERP id (or None); ``erp_wins(entity, field)`` reads the field ownership;
    ``conflict(...)`` records a conflict the admin sees in the sync issues; ``pulls(stream)`` says
    whether the connection pulls that stream, ``payments_pulled`` whether payments come as records.
    """

    def __init__(self, ctx: Any, connection: ErpConnection, stream: str | None = None) -> None:
        self.ctx = ctx
        self.system = connection.name
        self.stream = stream
        self.ownership = {k: {**v, **(connection.ownership or {}).get(k, {})} for k, v in DEFAULT_OWNERSHIP.items()}
        for entity, rules in (connection.ownership or {}).items():
            self.ownership.setdefault(entity, dict(rules))
        self._adapter, self._chosen = connection.adapter, tuple(connection.streams or ())
        self._pulls: frozenset[str] | None = None
        self._owner_name = (connection.settings or {}).get("default_owner")
        self._owner_id: int | None = None
        # ExternalRefs of the current page, read in one query per entity (``prefetch``); None: not linked.
        # Valid inside one transaction only: ``forget()`` after a commit or a rollback.
        self._refs: dict[tuple[str, str], ExternalRef | _Linked | None] = {}
        # The highest CRM id linked per entity (one query per page): a CRM id above it has no link yet.
        self._max_linked: dict[str, int] = {}
        self._waiting: dict[str, str] = {}  # what the record being stored points to and is not synced yet
        self._unlinked: set[str] | None = None  # ERP ids of the stream's open ``unlinked`` issues (read once)

    def pulls(self, stream: str) -> bool:
        """Whether this connection pulls ``stream``: its adapter offers it and the connection's choice of
        streams, if any, has it."""
        if self._pulls is None:
            self._pulls = frozenset(s for s in getattr(self._adapter_class, "streams", ())
                                    if not self._chosen or s in self._chosen)
        return stream in self._pulls

    @property
    def payments_pulled(self) -> bool:
        """True when the ``payments`` stream brings every payment of the invoices (the adapter says
        ``reads_payments``, e.g. Tryton's payment lines) and this connection pulls it; otherwise the
        owner of invoices derives the paid share from the invoice's amount due."""
        return bool(getattr(self._adapter_class, "reads_payments", False)) and self.pulls("payments")

    @property
    def _adapter_class(self) -> Any:
        return getattr(getattr(self.ctx, "registry", None), "erp_adapters", {}).get(self._adapter)

    def prefetch(self, entity: str, external_ids: Iterable[Any]) -> None:
        """Read the links of many ERP ids in one query, so ``resolve`` and ``link`` need none for them."""
        wanted = list(dict.fromkeys(str(i) for i in external_ids if i not in (None, "")
                                    and (entity, str(i)) not in self._refs))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for key in chunk:
                self._refs[(entity, key)] = None
            for ref in self.ctx.session.scalars(select(ExternalRef).where(
                    ExternalRef.system == self.system, ExternalRef.entity == entity,
                    ExternalRef.external_id.in_(chunk))):
                self._refs[(entity, ref.external_id)] = ref

    def _unlink_cached(self, ref: ExternalRef) -> None:
        for key, cached in self._refs.items():
            if cached is ref:
                self._refs[key] = None

    def forget(self) -> None:
        """Drop the prefetched links (after the page's commit, or a rollback that may have undone some)."""
        self._refs.clear()
        self._max_linked.clear()

    def _may_be_linked(self, entity: str, entity_id: int) -> bool:
        """Whether a link of this CRM id may exist: not when the id is above every linked one (a record
        created in this run), so linking new records needs no query each."""
        if entity not in self._max_linked:
            self._max_linked[entity] = self.ctx.session.scalar(select(func.max(ExternalRef.entity_id)).where(
                ExternalRef.system == self.system, ExternalRef.entity == entity)) or 0
        return entity_id <= self._max_linked[entity]

    def _linked(self, entity: str, entity_id: int) -> None:
        if entity in self._max_linked:
            self._max_linked[entity] = max(self._max_linked[entity], entity_id)

    @property
    def default_owner_id(self) -> int | None:
        """The user (setting ``default_owner``, a username) who owns customers the ERP brings in."""
        if self._owner_name and self._owner_id is None:
            from crmcore.models import User

            self._owner_id = self.ctx.session.scalar(select(User.id).where(User.username == self._owner_name))
        return self._owner_id

    def resolve(self, entity: str, external_id: Any) -> int | None:
        if external_id in (None, ""):
            return None
        key = (entity, str(external_id))
        if key in self._refs:
            ref = self._refs[key]
            return ref.entity_id if ref is not None else None
        return self.ctx.session.scalar(select(ExternalRef.entity_id).where(
            ExternalRef.system == self.system, ExternalRef.entity == entity,
            ExternalRef.external_id == str(external_id)))

    def external_id(self, entity: str, entity_id: int) -> str | None:
        return self.ctx.session.scalar(select(ExternalRef.external_id).where(
            ExternalRef.system == self.system, ExternalRef.entity == entity, ExternalRef.entity_id == entity_id))

    def erp_wins(self, entity: str, field_name: str) -> bool:
        rules = self.ownership.get(entity, {})
        return rules.get(field_name, rules.get("*", "erp")) == "erp"

    def conflict(self, entity: str, entity_id: int, field_name: str, crm_value: Any, erp_value: Any,
                 external_id: str | None = None, owner: str = "crm") -> None:
        """Record that the two sides disagree on a field; ``owner`` (``crm`` or ``erp``) is the side whose
        value was kept, the other one is in the issue (a person settles it)."""
        kept = ("the CRM owns it and keeps its value" if owner == "crm"
                else "the ERP owns it: the CRM's value was replaced by the ERP's")
        stream = self.stream or entity
        line = f"{entity}.{field_name}: the CRM has {crm_value!r}, the ERP {erp_value!r}; {kept}"
        earlier = self.ctx.session.scalar(select(SyncIssue).where(
            SyncIssue.connection == self.system, SyncIssue.stream == stream, SyncIssue.external_id == external_id,
            SyncIssue.kind == "conflict", SyncIssue.status == "open"))
        fields = dict((earlier.payload or {}).get("fields") or {}) if earlier is not None else {}
        fields[field_name] = {"crm": _text(crm_value), "erp": _text(erp_value), "kept": owner, "reason": line}
        # one open issue per record: the fields in conflict are kept side by side, none replaces another
        open_issue(self.ctx, self.system, stream, external_id, "conflict",
                   "\n".join(f["reason"] for f in fields.values()),
                   {"field": field_name, "crm": _text(crm_value), "erp": _text(erp_value), "kept": owner,
                    "fields": fields}, entity_id=entity_id)

    def waiting_for(self, entity: str, external_id: Any) -> None:
        """Say that the record being stored points to an ERP record not synced yet (an invoice's order): it is
        stored without that link, kept as an open ``unlinked`` issue and applied again at the end of each
        run of its stream until the link resolves (then the issue is resolved)."""
        self._waiting[entity] = str(external_id)

    def settle_links(self, stream: str, record: Record, entity_id: int) -> bool:
        """After ``record`` was stored: open its ``unlinked`` issue when it waits for a record, else resolve
        an earlier one; True when it waits (its link then keeps no fingerprint, so a re-read applies it)."""
        waiting, self._waiting = self._waiting, {}
        if waiting:
            what = ", ".join(f"{entity} {ext}" for entity, ext in waiting.items())
            open_issue(self.ctx, self.system, stream, record.external_id, "unlinked",
                       f"stored without its link to {what}, which is not synced yet; linked when it is",
                       record.to_dict(), entity_id=entity_id)
            return True
        if self._unlinked is None:
            self._unlinked = set(self.ctx.session.scalars(select(SyncIssue.external_id).where(
                SyncIssue.connection == self.system, SyncIssue.stream == stream, SyncIssue.kind == "unlinked",
                SyncIssue.status == "open")))
        if record.external_id in self._unlinked:
            resolve_issues(self.ctx, self.system, stream, record.external_id, kind="unlinked")
        return False

    def invalid(self, entity: str, entity_id: int | None, external_id: str, values: dict[str, Any]) -> None:
        """Record the ERP values the CRM cannot take (``{field: value}``, e.g. a phone that is no number) as
        one open ``invalid`` issue of the record, which is stored without them; none left: the issue of an
        earlier run is resolved (the ERP fixed them)."""
        if not values:
            resolve_issues(self.ctx, self.system, self.stream or entity, external_id, kind="invalid")
            return
        fields = "; ".join(f"{name} {value!r}" for name, value in values.items())
        open_issue(self.ctx, self.system, self.stream or entity, external_id, "invalid",
                   f"{entity} {external_id}: not valid, stored without it: {fields}",
                   {"fields": {k: _text(v) for k, v in values.items()}}, entity_id=entity_id)

    def link(self, entity: str, entity_id: int, external_id: str, fingerprint: str | None = None) -> ExternalRef:
        """Link a CRM record to its ERP id (insert or update the ``ExternalRef``)."""
        session = self.ctx.session
        key = (entity, str(external_id))
        if key in self._refs and not isinstance(self._refs[key], _Linked):
            ref = self._refs[key]
        else:
            ref = session.scalar(select(ExternalRef).where(ExternalRef.system == self.system,
                                                           ExternalRef.entity == entity,
                                                           ExternalRef.external_id == str(external_id)))
        if ref is None and self._may_be_linked(entity, entity_id):
            ref = session.scalar(select(ExternalRef).where(ExternalRef.system == self.system,
                                                           ExternalRef.entity == entity,
                                                           ExternalRef.entity_id == entity_id))
            if ref is not None:
                self._unlink_cached(ref)  # re-pointed below: its old ERP id is linked no more
        if ref is None:
            ref = ExternalRef(system=self.system, entity=entity, entity_id=entity_id, external_id=str(external_id))
            session.add(ref)
        ref.entity_id, ref.external_id = entity_id, str(external_id)
        ref.fingerprint = fingerprint
        ref.last_synced_at = utcnow()
        self._refs[key] = ref
        self._linked(entity, entity_id)
        return ref

    def link_new(self, entity: str, links: list[tuple[int, str, str | None]]) -> None:
        """Link records created in this transaction: ``(entity_id, external_id, fingerprint)`` each; two
        queries in all (links of those ERP ids, and stale links of those CRM ids, e.g. of a reused id)."""
        if not links:
            return
        self.prefetch(entity, [ext for _id, ext, _fp in links])
        by_local: dict[int, ExternalRef] = {}
        ids = [local for local, _ext, _fp in links]
        for start in range(0, len(ids), 500):
            for ref in self.ctx.session.scalars(select(ExternalRef).where(
                    ExternalRef.system == self.system, ExternalRef.entity == entity,
                    ExternalRef.entity_id.in_(ids[start:start + 500]))):
                by_local[ref.entity_id] = ref
        now = utcnow()
        rows = []
        for local, ext, fingerprint in links:
            ref = self._refs.get((entity, str(ext))) or by_local.get(local)
            if ref is None:  # the usual case: inserted in bulk below
                rows.append({"system": self.system, "entity": entity, "entity_id": local, "external_id": str(ext),
                             "fingerprint": fingerprint, "last_synced_at": now})
                self._refs[(entity, str(ext))] = _Linked(local)
                continue
            if ref.external_id != str(ext):
                self._unlink_cached(ref)
            ref.entity_id, ref.external_id = local, str(ext)
            ref.fingerprint, ref.last_synced_at = fingerprint, now
            self._refs[(entity, str(ext))] = ref
        if rows:
            self.ctx.session.execute(insert(ExternalRef), rows)
        for local, _ext, _fp in links:
            self._linked(entity, local)


@dataclass(frozen=True)
class _Linked:
    """A link inserted in bulk in this transaction (no ORM object): its CRM id is all ``resolve`` needs."""

    entity_id: int


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


# ---------------------------------------------------------------------------------------------
# Bookmarks
# ---------------------------------------------------------------------------------------------


def _as_key(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return value


def _key_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def state_of(ctx: Any, connection: str, stream: str) -> SyncState:
    state = ctx.session.scalar(select(SyncState).where(SyncState.connection == connection, SyncState.stream == stream))
    if state is None:
        state = SyncState(connection=connection, stream=stream, bookmark={})
        ctx.session.add(state)
        ctx.session.flush()
    return state


# ---------------------------------------------------------------------------------------------
# Applying records
# ---------------------------------------------------------------------------------------------


def known_fingerprints(ctx: Any, system: str, stream: str, external_ids: list[str]) -> dict[str, str | None]:
    """The fingerprints stored for a page's records, in one query (unchanged records are skipped)."""
    if not external_ids:
        return {}
    rows = ctx.session.execute(select(ExternalRef.external_id, ExternalRef.fingerprint).where(
        ExternalRef.system == system, ExternalRef.entity == _ENTITY[stream], ExternalRef.external_id.in_(external_ids)))
    return dict(rows.all())


def apply_record(ctx: Any, helper: SyncHelper, stream: str, record: Record, fingerprint: str | None = None) -> str:
    """Store one record through the hook; return created, updated or skipped.

    Runs inside the caller's transaction; a record the owning plugin refuses raises one of
    ``RECORD_ERRORS`` and leaves nothing behind (the caller wraps it in a savepoint).
    """
    if fingerprint is None:  # a retry: the page loop compared the fingerprints already
        fingerprint = record.fingerprint()
        if known_fingerprints(ctx, helper.system, stream, [record.external_id]).get(record.external_id) == fingerprint:
            return "skipped"
    mirrored = "unchanged"
    if stream == "invoices":
        from .customers import mirror_invoice

        mirrored = mirror_invoice(ctx, helper, record)
    result = ctx.hook.crm_sync_apply(ctx=ctx, stream=stream, record=record, sync=helper)
    if result is None:
        return "skipped" if mirrored == "unchanged" else mirrored  # no loaded plugin stores this kind of record
    entity, entity_id, action = result
    if action == "unchanged" and mirrored != "unchanged":
        action = "updated"  # the finance panel's copy changed (amount due, state): an update, not a skip
    if helper.settle_links(stream, record, entity_id):
        fingerprint = None
    helper.link(entity, entity_id, record.external_id, fingerprint)
    return "skipped" if action == "unchanged" else action


# The entity name under which each stream's records are linked (what its owner returns).
_ENTITY = {"customers": "customer", "products": "product", "prices": "price", "orders": "order",
           "invoices": "invoice", "payments": "payment", "credit_limits": "credit_limit"}


def _apply_guarded(ctx: Any, helper: SyncHelper, stream: str, record: Record, counts: Counts,
                   fingerprint: str | None = None) -> None:
    """Apply one record in a savepoint; a refused record becomes an open sync issue."""
    pending = ctx.session.info.get(_PENDING_EVENTS)
    mark = len(pending) if pending is not None else 0
    savepoint = ctx.session.begin_nested()
    try:
        action = apply_record(ctx, helper, stream, record, fingerprint)
        savepoint.commit()
    except RECORD_ERRORS as exc:
        _undo(ctx, helper, savepoint, mark)
        reason = str(exc)
        if isinstance(exc, CRMError) and exc.errors:
            reason += " " + "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                      for k, v in exc.errors.items())
        open_issue(ctx, helper.system, stream, record.external_id, "rejected", reason, record.to_dict())
        counts.add("failed")
        return
    counts.add(action)
    if action in ("created", "updated"):
        resolve_issues(ctx, helper.system, stream, record.external_id)


def _undo(ctx: Any, helper: SyncHelper, savepoint: Any, mark: int) -> None:
    """Roll a savepoint back with everything it queued: its events and the links it cached."""
    savepoint.rollback()
    pending = ctx.session.info.get(_PENDING_EVENTS)
    if pending is not None:
        del pending[mark:]  # the events of the undone writes must not be dispatched
    helper.forget()


def _batch_applier(stream: str) -> Callable[..., tuple[list[str], list[Record]]] | None:
    """The erp plugin's own page-at-once store for a stream it owns (new customers), or None."""
    if stream == "customers":
        from .customers import create_new_customers

        return create_new_customers
    return None


@functools.lru_cache(maxsize=None)
def _link_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A record class's ``<entity>_ref`` fields and its list fields (lines), read once per class."""
    names = [f.name for f in dataclasses.fields(cls)]
    return (tuple(n for n in names if n.endswith("_ref") and n != "crm_ref"),
            tuple(n for n in names if not n.endswith("_ref")))


def references(records: Iterable[Any]) -> dict[str, list[str]]:
    """The ERP ids the records point to, per entity: each ``<entity>_ref`` field of the records and of
    their lines (``crm_ref`` is the CRM's own number, not a link). Read in one query per entity."""
    out: dict[str, list[str]] = {}

    def visit(obj: Any) -> None:
        refs, others = _link_fields(type(obj))
        for name in refs:
            value = getattr(obj, name)
            if value not in (None, ""):
                out.setdefault(name[:-4], []).append(str(value))
        for name in others:
            value = getattr(obj, name)
            if isinstance(value, list):
                for item in value:
                    if dataclasses.is_dataclass(item):
                        visit(item)

    for record in records:
        visit(record)
    return out


def apply_page(ctx: Any, helper: SyncHelper, stream: str, changed: list[tuple[Record, str]], counts: Counts) -> None:
    """Store a page's new and changed records (inside the page's transaction).

    Records the stream's batch store takes (new customers) are created together in one savepoint,
    with one flush; if it refuses any of them, the savepoint is undone and every record is applied
    one by one in its own savepoint as usual, so a bad record is still kept alone as a sync issue.
    """
    helper.prefetch(_ENTITY[stream], [r.external_id for r, _fp in changed])
    for entity, external_ids in references([r for r, _fp in changed]).items():
        helper.prefetch(entity, external_ids)  # the customers, products, orders the records point to
    batch = _batch_applier(stream)
    rest = changed
    if batch is not None:
        fingerprints = {r.external_id: fp for r, fp in changed}
        pending = ctx.session.info.get(_PENDING_EVENTS)
        mark = len(pending) if pending is not None else 0
        savepoint = ctx.session.begin_nested()
        try:
            done, left = batch(ctx, helper, [r for r, _fp in changed], fingerprints)
            savepoint.commit()
        except RECORD_ERRORS as exc:
            _undo(ctx, helper, savepoint, mark)
            log.info("stream %s: storing the page at once failed (%s); one record at a time", stream, exc)
        else:
            counts.created += len(done)
            resolve_issues(ctx, helper.system, stream, done)
            rest = [(r, fingerprints[r.external_id]) for r in left]
    for record, fingerprint in rest:
        _apply_guarded(ctx, helper, stream, record, counts, fingerprint)


# ---------------------------------------------------------------------------------------------
# Running streams
# ---------------------------------------------------------------------------------------------

Progress = Callable[[str, int], None]
_END = object()


def read_ahead(pages: Iterable[Page]) -> Iterator[Page]:
    """Yield ``pages`` while a thread already reads the next one, so the ERP's work on page n+1 overlaps
    the CRM's on page n. At most one page waits (memory stays flat); the adapter's errors are raised
    here, in order; leaving the loop early stops the reader after its current request."""
    box: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((None, exc))
            return
        put((_END, None))

    reader = threading.Thread(target=produce, name="erp-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            page, error = box.get()
            if error is not None:
                raise error
            if page is _END:
                return
            yield page
    finally:
        stop.set()
        reader.join()
        close = getattr(pages, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def sync_writes(session: Any) -> Iterator[None]:
    """Mark the session's writes as the sync's own (``session.info[SYNC_WRITES]``: the ownership lock lets
    them through, whatever the context's source). Values that do not fit their columns are refused by the
    core's check before every flush (``crmcore.columnsizes``): the record becomes a sync issue."""
    before = session.info.get(SYNC_WRITES)
    session.info[SYNC_WRITES] = True
    try:
        yield
    finally:
        session.info[SYNC_WRITES] = before


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's automatic cycle collector while a page is stored (the caller collects once after).

    A page makes thousands of objects that all live until its commit; the collector's automatic passes
    kept scanning them, alive, while they were being made: about a sixth of the time of a first import.
    The garbage of one page waits for the page's end, so memory stays flat."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_stream(ctx: Any, connection: ErpConnection, adapter: ErpAdapter, stream: str,
               progress: Progress | None = None, counts: Counts | None = None) -> Counts:
    """Pull one stream from its bookmark; commit each page with the resume position.

    ``counts`` (optional) is filled as the run goes; when the stream fails it holds what was committed
    before the failure (the pages stored), which the run's row keeps too, and the error is raised."""
    spec = STREAMS[stream]
    helper = SyncHelper(ctx, connection, stream)
    counts = counts if counts is not None else Counts()
    committed = counts.copy()
    with unit_of_work(ctx):
        state = state_of(ctx, connection.name, stream)
        run = SyncRun(connection=connection.name, stream=stream, started_at=utcnow())
        ctx.session.add(run)
    bookmark = dict(state.bookmark or {})
    resume = bookmark.get("resume") or {}
    if resume:  # a run was interrupted: continue it with the same lower bound
        since = _as_key(resume.get("since"), spec.key_kind)
        cursor = resume.get("cursor")
        seen = _as_key(resume.get("max"), spec.key_kind)
    else:
        since = _as_key(bookmark.get("value"), spec.key_kind)
        if since is not None and spec.key_kind == "timestamp":
            since -= dt.timedelta(seconds=connection.overlap_seconds or 0)
        cursor, seen = None, None
    try:
        for page in read_ahead(adapter.read(stream, since, cursor)):
            with collector_paused(), sync_writes(ctx.session), unit_of_work(ctx):
                state = state_of(ctx, connection.name, stream)
                # the first write of the page opens the transaction before any savepoint (SQLite)
                state.bookmark = {**state.bookmark, "resume": {"since": _key_text(since), "cursor": page.cursor,
                                                               "max": _key_text(_later(seen, _as_key(page.max_key, spec.key_kind)))}}
                ctx.session.flush()
                stored = known_fingerprints(ctx, connection.name, stream, [r.external_id for r in page.records])
                changed, deactivated = [], []
                for record in page.records:
                    counts.read += 1
                    fingerprint = record.fingerprint()
                    if stored.get(record.external_id) == fingerprint:
                        counts.add("skipped")  # unchanged since it was stored: no savepoint, no hook
                        continue
                    if getattr(record, "active", True) is False:
                        if record.external_id not in stored:
                            counts.add("skipped")  # archived before the CRM ever had it: not brought in
                            continue
                        deactivated.append(record.external_id)
                    changed.append((record, fingerprint))
                try:
                    if changed:
                        apply_page(ctx, helper, stream, changed, counts)
                        report_deactivated(ctx, helper, stream, [r for r, _fp in changed], deactivated, counts)
                finally:
                    helper.forget()
                seen = _later(seen, _as_key(page.max_key, spec.key_kind))
                _store_counts(ctx, run.id, counts)
            committed = counts.copy()  # the page is stored: these numbers are true whatever happens next
            if changed:  # the page's new rows (customers, their contacts and addresses) refer to each other: only
                del changed  # the cycle collector frees them; doing it per page keeps the memory flat (and is
                gc.collect()  # quick: run_connection froze everything older than the run)
            if progress:
                progress(stream, len(page.records))
        retried = retry_open_issues(ctx, connection, stream, counts, before=run.started_at)
        committed = counts.copy()  # each retry commits alone
        deleted = detect_deletions(ctx, connection, adapter, stream) if stream in adapter.detects_deletions else 0
        counts.deleted += deleted
        committed = counts.copy()
        with unit_of_work(ctx):
            state = state_of(ctx, connection.name, stream)
            value = _later(_as_key(state.bookmark.get("value"), spec.key_kind), seen)
            state.bookmark = {"replication_key": spec.replication_key, "value": _key_text(value)}
            _store_counts(ctx, run.id, counts, status="ok")
        if retried:
            log.info("stream %s: %s earlier issues fixed", stream, retried)
    except Exception as exc:
        ctx.session.rollback()
        counts.restore(committed)  # the failed page was rolled back: count only what is stored
        with unit_of_work(ctx):
            _store_counts(ctx, run.id, counts, status="failed", error=f"{error_kind(exc)}: {exc}"[:2000])
        raise
    return counts


def _store_counts(ctx: Any, run_id: int, counts: Counts, status: str | None = None, error: str | None = None) -> None:
    run = ctx.session.get(SyncRun, run_id)
    for key, value in counts.as_dict().items():
        setattr(run, key, value)
    if status:
        run.status, run.finished_at, run.error = status, utcnow(), error


def retry_open_issues(ctx: Any, connection: ErpConnection, stream: str, counts: Counts | None = None,
                      before: dt.datetime | None = None) -> int:
    """Apply again the records of open ``rejected`` and ``unlinked`` issues (a customer, an order may have
    arrived since).

    ``before``: only issues not already tried since then (a run does not retry what it just refused).
    """
    stmt = select(SyncIssue.id).where(SyncIssue.connection == connection.name, SyncIssue.stream == stream,
                                      SyncIssue.kind.in_(RETRIED_KINDS), SyncIssue.status == "open")
    if before is not None:
        stmt = stmt.where(SyncIssue.updated_at < before)
    fixed = 0
    for issue_id in list(ctx.session.scalars(stmt.order_by(SyncIssue.id))):
        if retry_issue(ctx, issue_id, connection=connection, counts=counts):
            fixed += 1
    return fixed


def retry_issue(ctx: Any, issue_id: int, *, connection: ErpConnection | None = None,
                counts: Counts | None = None) -> bool:
    """Apply a rejected record again from its stored payload; True when it is stored now (the issue
    is then resolved); a refused one stays open with the new reason and one more attempt."""
    issue = ctx.session.get(SyncIssue, issue_id)
    if issue is None:
        raise NotFound(_("Sync issue %(id)s does not exist.", id=issue_id))
    if issue.kind not in RETRIED_KINDS or issue.status != "open" or issue.stream not in STREAMS:
        return False
    connection = connection or ctx.session.scalar(select(ErpConnection).where(ErpConnection.name == issue.connection))
    if connection is None:
        raise NotFound(_("No ERP connection named '%(name)s'.", name=issue.connection))
    record = STREAMS[issue.stream].record.from_dict(issue.payload or {})
    local = Counts()
    with sync_writes(ctx.session), unit_of_work(ctx):
        state_of(ctx, connection.name, issue.stream).updated_at = utcnow()  # opens the transaction (SQLite)
        ctx.session.flush()
        _apply_guarded(ctx, SyncHelper(ctx, connection, issue.stream), issue.stream, record, local)
        if not local.failed:
            resolve_issues(ctx, connection.name, issue.stream, issue.external_id)
    if counts is not None:
        counts.created += local.created
        counts.updated += local.updated
    return not local.failed


def report_deactivated(ctx: Any, helper: SyncHelper, stream: str, records: list[Record], deactivated: list[str],
                       counts: Counts) -> None:
    """Report linked records the ERP deactivated (archived: ``active`` false) as deletions are reported:
    a ``deleted`` sync issue each (the CRM keeps the record; a person decides), counted once. The record
    itself was applied as usual (an owner that keeps ``active``, like the sales catalogue, archives it).
    A record that is active again closes its open ``deleted`` issue."""
    entity = _ENTITY[stream]
    back = [r.external_id for r in records if r.external_id not in deactivated]
    if back:
        resolve_issues(ctx, helper.system, stream, back, kind="deleted")
    if not deactivated:
        return
    reported = set(ctx.session.scalars(select(SyncIssue.external_id).where(
        SyncIssue.connection == helper.system, SyncIssue.stream == stream, SyncIssue.kind == "deleted",
        SyncIssue.status == "open", SyncIssue.external_id.in_(deactivated))))
    for ext in deactivated:
        if ext in reported:
            continue
        local = helper.resolve(entity, ext)
        open_issue(ctx, helper.system, stream, ext, "deleted",
                   f"{entity} {local} is linked to {ext}, which the ERP deactivated (archived)", {}, entity_id=local)
        counts.deleted += 1


def detect_deletions(ctx: Any, connection: ErpConnection, adapter: ErpAdapter, stream: str) -> int:
    """Open a ``deleted`` issue for each linked record the ERP no longer has; return how many.

    First the cheap question: does the ERP still have every linked record not already reported
    deleted (``adapter.all_exist``, a count)? Only when it does not, or cannot tell, is the full list
    of the ERP's ids read (``adapter.existing_ids``: slow for many records) to find which are gone."""
    entity = _ENTITY[stream]
    refs = ctx.session.execute(select(ExternalRef.external_id, ExternalRef.entity_id).where(
        ExternalRef.system == connection.name, ExternalRef.entity == entity)).all()
    if not refs:
        return 0
    reported = set(ctx.session.scalars(select(SyncIssue.external_id).where(
        SyncIssue.connection == connection.name, SyncIssue.stream == stream, SyncIssue.kind == "deleted",
        SyncIssue.status == "open")))
    if adapter.all_exist(stream, [ext for ext, _local in refs if ext not in reported]) is True:
        return 0
    existing = adapter.existing_ids(stream)
    if existing is None:
        return 0
    gone = [(ext, local) for ext, local in refs if ext not in existing]
    with unit_of_work(ctx):
        for ext, local in gone:
            open_issue(ctx, connection.name, stream, ext, "deleted",
                       f"{entity} {local} is linked to {ext}, which the ERP no longer has", {}, entity_id=local)
    return len(gone)


def streams_to_run(connection: ErpConnection, adapter: ErpAdapter, wanted: Iterable[str] | None = None) -> list[str]:
    """The streams of a run, in dependency order: the connection's choice, the adapter's offer."""
    offered = [s for s in STREAM_ORDER if s in adapter.streams]
    chosen = [s for s in offered if not connection.streams or s in connection.streams]
    if wanted:
        unknown = [s for s in wanted if s not in STREAMS]
        if unknown:
            raise ValidationError(_("Unknown stream(s): %(names)s. Known: %(known)s.", names=", ".join(unknown),
                                    known=", ".join(STREAM_ORDER)))
        chosen = [s for s in chosen if s in wanted]
    return chosen


@dataclass
class RunResult:
    """What one connection's run did: counts per stream, the error of each failed stream, and ``error``
    when the connection itself failed (wrong password, unknown database, server down)."""

    connection: str
    streams: dict[str, Counts] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def total(self) -> Counts:
        out = Counts()
        for c in self.streams.values():
            for k, v in c.as_dict().items():
                setattr(out, k, getattr(out, k) + v)
        return out


LEASE = "__run__"  # a sync_state row per connection: which process runs its sync now


def _alive(owner: str) -> bool:
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's run: trust its lease until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lease(ctx: Any, connection: str, minutes: int = 30) -> str:
    """Make this process the only one syncing ``connection`` (a scheduled run and a manual one must not
    overlap); a lease whose process died (SIGKILL) or expired is taken over. Raise Conflict if busy."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    with unit_of_work(ctx):
        state = state_of(ctx, connection, LEASE)
    lease = dict(state.bookmark or {})
    until = _as_key(lease.get("until"), "timestamp")
    if lease.get("owner") not in (None, me) and until is not None and until > utcnow() and _alive(lease["owner"]):
        raise Conflict(_("A sync of %(name)s is already running (%(owner)s).", name=connection, owner=lease["owner"]))
    taken = ctx.session.execute(update(SyncState).where(SyncState.id == state.id,
                                                        SyncState.updated_at == state.updated_at).values(
        bookmark={"owner": me, "until": (utcnow() + dt.timedelta(minutes=minutes)).isoformat()}, updated_at=utcnow()))
    ctx.session.commit()
    if taken.rowcount != 1:
        raise Conflict(_("A sync of %(name)s is already running (%(owner)s).", name=connection, owner="?"))
    return me


def release_lease(ctx: Any, connection: str, owner: str) -> None:
    state = state_of(ctx, connection, LEASE)
    if (state.bookmark or {}).get("owner") == owner:
        state.bookmark = {}
    ctx.session.commit()


def run_connection(ctx: Any, connection: ErpConnection, adapter: ErpAdapter, streams: Iterable[str] | None = None,
                   progress: Progress | None = None) -> RunResult:
    """Pull every chosen stream of one connection; a failing stream is recorded and the rest still run,
    except those that depend on it. Only one process syncs a connection at a time."""
    result = RunResult(connection.name)
    owner = acquire_lease(ctx, connection.name)
    gc.freeze()  # what lives before the run is no garbage of it: the per-page collections scan the run's objects only
    try:
        for stream in streams_to_run(connection, adapter, streams):
            if result.error is not None:  # the connection failed: its other streams would fail the same way
                result.errors[stream] = str(_("skipped: %(reason)s", reason=result.error))
                continue
            if any(dep in result.errors for dep in STREAMS[stream].depends_on):
                result.errors[stream] = "skipped: a stream it depends on failed"
                continue
            counts = result.streams[stream] = Counts()  # on failure: what was stored before it
            try:
                run_stream(ctx, connection, adapter, stream, progress, counts)
            except AdapterError as exc:
                log.warning("stream %s of %s failed: %s", stream, connection.name, exc)
                result.errors[stream] = str(exc)
                if isinstance(exc, (ConnectionRefused, ErpUnreachable)):
                    result.error = str(exc)
                if counts == Counts():  # it stored nothing: there is nothing to count
                    del result.streams[stream]
    finally:
        gc.unfreeze()
        ctx.session.rollback()
        release_lease(ctx, connection.name, owner)
    return result
