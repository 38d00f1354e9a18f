"""The pull side of the sync engine: read each stream from its bookmark and store the records.

Each page's records, the ``ExternalRef`` links and the bookmark commit in one transaction, so a
run killed at any moment resumes where the last page ended: nothing lost, nothing doubled.
Records reach the plugin that owns their kind through the ``crm_sync_apply`` hook.
"""
from __future__ import annotations

import datetime as dt
import gc
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.errors import AdapterError, FatalAdapterError, NotFound, RetriableAdapterError, ValidationError
from crmcore.i18n import _
from crmcore.models import ExternalRef
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from .base import STREAM_ORDER, STREAMS, ConnectionRefused, ErpAdapter, ErpUnreachable, Record, SkippableRecordError
from .helper import SyncHelper
from .issues import open_issue, resolve_issues
from .leases import LEASE, _as_key, _key_text, _later, acquire_lease, release_lease, state_of
from .models import ErpConnection, SyncIssue, SyncRun
from .readahead import collector_paused, read_ahead
from .ownership import SOURCE, SYNC_WRITES, sync_writes
from .store import (_ENTITY, RECORD_ERRORS, Counts, _apply_guarded, apply_page, apply_record, known_fingerprints,
                    references)

# Re-exported: what the rest of the plugin, the tests and the docs import from ``adapters.erp.sync``.
__all__ = ["LEASE", "RECORD_ERRORS", "RETRIED_KINDS", "SOURCE", "SYNC_WRITES", "Counts", "Progress", "RunResult",
           "SyncHelper", "acquire_lease", "apply_page", "apply_record", "collector_paused", "detect_deletions",
           "error_kind", "known_fingerprints", "read_ahead", "references", "release_lease", "report_deactivated",
           "retry_issue", "retry_open_issues", "run_connection", "run_stream", "state_of", "streams_to_run",
           "sync_writes"]

log = logging.getLogger(__name__)
RETRIED_KINDS = ("rejected", "unlinked")  # issues whose record each run of the stream applies again


def error_kind(exc: BaseException) -> str:
    """The contract's name for a failure (``RetriableAdapterError``, ``FatalAdapterError``, ...), which the
    status turns into a sentence; an adapter's own subclass is named by the contract class it extends."""
    kinds = (SkippableRecordError, RetriableAdapterError, FatalAdapterError)
    return next((k.__name__ for k in type(exc).__mro__ if k in kinds), type(exc).__name__)


Progress = Callable[[str, int], None]


def run_stream(ctx: ServiceContext, connection: ErpConnection, adapter: ErpAdapter, stream: str,
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


def _store_counts(ctx: ServiceContext, run_id: int, counts: Counts, status: str | None = None, error: str | None = None) -> None:
    run = ctx.session.get(SyncRun, run_id)
    for key, value in counts.as_dict().items():
        setattr(run, key, value)
    if status:
        run.status, run.finished_at, run.error = status, utcnow(), error


def retry_open_issues(ctx: ServiceContext, connection: ErpConnection, stream: str, counts: Counts | None = None,
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


def retry_issue(ctx: ServiceContext, issue_id: int, *, connection: ErpConnection | None = None,
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


def report_deactivated(ctx: ServiceContext, helper: SyncHelper, stream: str, records: list[Record], deactivated: list[str],
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


def detect_deletions(ctx: ServiceContext, connection: ErpConnection, adapter: ErpAdapter, stream: str) -> int:
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


def run_connection(ctx: ServiceContext, connection: ErpConnection, adapter: ErpAdapter, streams: Iterable[str] | None = None,
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
