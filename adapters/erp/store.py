"""Storing one page of records in its transaction: savepoints, the batch store, counts, refused records."""
from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.exc import DataError

from crmcore.errors import Conflict, CRMError, NotFound, ValidationError
from crmcore.events import discard_pending_since, pending_mark
from crmcore.models import ExternalRef
from crmcore.runtime import ServiceContext

from .base import Record, SkippableRecordError
from .helper import SyncHelper
from .issues import open_issue, resolve_issues

log = logging.getLogger(__name__)
# What refuses one record (it becomes a sync issue); DataError: a value the database refuses (PostgreSQL),
# e.g. a number too large for its column, rolled back with the record's savepoint.
RECORD_ERRORS = (SkippableRecordError, ValidationError, NotFound, Conflict, DataError)


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


def known_fingerprints(ctx: ServiceContext, system: str, stream: str, external_ids: list[str]) -> dict[str, str | None]:
    """The fingerprints stored for a page's records, in one query (unchanged records are skipped)."""
    if not external_ids:
        return {}
    rows = ctx.session.execute(select(ExternalRef.external_id, ExternalRef.fingerprint).where(
        ExternalRef.system == system, ExternalRef.entity == _ENTITY[stream], ExternalRef.external_id.in_(external_ids)))
    return dict(rows.all())


def apply_record(ctx: ServiceContext, helper: SyncHelper, stream: str, record: Record, fingerprint: str | None = None) -> str:
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


def _apply_guarded(ctx: ServiceContext, helper: SyncHelper, stream: str, record: Record, counts: Counts,
                   fingerprint: str | None = None) -> None:
    """Apply one record in a savepoint; a refused record becomes an open sync issue."""
    mark = pending_mark(ctx.session)
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


def _undo(ctx: ServiceContext, helper: SyncHelper, savepoint: Any, mark: int) -> None:
    """Roll a savepoint back with everything it queued: its events and the links it cached."""
    savepoint.rollback()
    discard_pending_since(ctx.session, mark)  # the events of the undone writes must not be dispatched
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


def apply_page(ctx: ServiceContext, helper: SyncHelper, stream: str, changed: list[tuple[Record, str]], counts: Counts) -> None:
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
        mark = pending_mark(ctx.session)
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
