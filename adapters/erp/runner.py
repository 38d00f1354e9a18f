"""Running the sync: push the ERP's pending outbox messages, then pull every enabled connection.

Used by ``crm sync run``, the scheduled job and the API; the status of streams is read here too.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from sqlalchemy import func, select

from crmcore.errors import AdapterError, Conflict, FatalAdapterError, ValidationError
from crmcore.i18n import _
from crmcore.models import OutboxMessage, SyncState
from crmcore.runtime import ServiceContext

from .connections import build_adapter, erp_adapters, get_connection, list_connections
from .models import SyncIssue, SyncRun
from .ownership import DESTINATION
from .push import push_pending
from .sync import Progress, RunResult, run_connection

log = logging.getLogger(__name__)


def run_sync(ctx: ServiceContext, *, connection: str | None = None, streams: Iterable[str] | None = None,
             progress: Progress | None = None, push: bool = True, before_stream: Any = None) -> list[RunResult]:
    """Push, then pull each chosen stream of each enabled connection (or the one named)."""
    ctx.require("erp.sync.manage")
    if push:
        push_pending(ctx)
    conns = [get_connection(ctx, connection)] if connection else list_connections(ctx, enabled=True)
    results = []
    for conn in conns:  # each connection fails alone: a broken one never stops the others
        try:
            adapter = build_adapter(ctx, conn)
        except (AdapterError, ValidationError) as exc:
            ctx.session.rollback()
            log.warning("ERP connection %s cannot be used: %s", conn.name, exc)
            results.append(RunResult(conn.name, error=str(exc)))
            continue
        try:
            if before_stream is not None:
                before_stream(conn, adapter)
            results.append(run_connection(ctx, conn, adapter, streams, progress))
        except (AdapterError, Conflict) as exc:  # Conflict: another process runs this connection now
            if isinstance(exc, Conflict) and connection:
                raise  # the one connection asked for is busy: say so (409)
            ctx.session.rollback()
            log.warning("ERP connection %s failed: %s", conn.name, exc)
            results.append(RunResult(conn.name, error=str(exc)))
        finally:
            adapter.close()
    return results


def sync_job(ctx: ServiceContext) -> None:
    """The scheduled run: every enabled connection; a failed stream is logged and recorded. A connection
    that failed as a whole fails the job after every connection ran (its reason is the job's error)."""
    broken = []
    for done, result in enumerate(run_sync(ctx), 1):
        ctx.report_progress(done)  # connections synced so far; a cancelled run stops before the next one
        if result.error:
            log.warning("ERP sync %s: %s", result.connection, result.error)
            broken.append(f"{result.connection}: {result.error}")
        for stream, error in result.errors.items():
            log.warning("ERP sync %s/%s: %s", result.connection, stream, error)
    if broken:
        raise FatalAdapterError(_("ERP connections that failed: %(reasons)s", reasons="; ".join(broken)))


RUN_STATUS = {"ok": _("completed"), "failed": _("failed"), "running": _("running or interrupted")}
_CAUSES = {"RetriableAdapterError": _("the ERP could not be reached or was busy (retried without success)"),
           "FatalAdapterError": _("the ERP refused the request"),
           "SkippableRecordError": _("the ERP refused a record")}


def failure_reason(error: str | None, stored: int = 0) -> str | None:
    """A failed run's stored error as a sentence in the reader's language: the cause, the ERP's own words,
    and that the records stored before it stay stored (the next run goes on after them)."""
    if not error:
        return None
    kind, _sep, detail = error.partition(": ")
    cause = _CAUSES.get(kind, _("an unexpected error"))
    return str(_("Stopped: %(cause)s (%(detail)s). The %(stored)s records stored before stay stored; the next "
                 "run continues after them.", cause=cause, detail=detail or kind, stored=stored))


def status(ctx: ServiceContext) -> dict[str, Any]:
    """Per connection and stream: bookmark, last run and its counts, open issues; pending pushes."""
    ctx.require("erp.sync.read")
    out: dict[str, Any] = {"connections": [], "pending_pushes": 0, "dead_pushes": 0}
    for status_, n in ctx.session.execute(select(OutboxMessage.status, func.count()).where(
            OutboxMessage.destination == DESTINATION).group_by(OutboxMessage.status)):
        if status_ == "pending":
            out["pending_pushes"] = n
        elif status_ == "dead":
            out["dead_pushes"] = n
    for conn in list_connections(ctx):
        streams = []
        adapter_cls = erp_adapters(ctx).get(conn.adapter)
        offered = getattr(adapter_cls, "streams", ()) if adapter_cls else ()
        for stream in offered:
            if conn.streams and stream not in conn.streams:
                continue
            state = ctx.session.scalar(select(SyncState).where(SyncState.connection == conn.name,
                                                               SyncState.stream == stream))
            run = ctx.session.scalar(select(SyncRun).where(SyncRun.connection == conn.name, SyncRun.stream == stream)
                                     .order_by(SyncRun.id.desc()).limit(1))
            issues = ctx.session.scalar(select(func.count()).select_from(SyncIssue).where(
                SyncIssue.connection == conn.name, SyncIssue.stream == stream, SyncIssue.status == "open"))
            streams.append({
                "stream": stream,
                "bookmark": (state.bookmark or {}).get("value") if state else None,
                "interrupted": bool(state and (state.bookmark or {}).get("resume")),
                "last_run": None if run is None else {
                    "status": run.status, "status_label": str(RUN_STATUS.get(run.status, run.status)),
                    "reason": failure_reason(run.error, run.created + run.updated) if run.status == "failed" else None,
                    "started_at": run.started_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "read": run.read, "created": run.created, "updated": run.updated, "skipped": run.skipped,
                    "failed": run.failed, "deleted": run.deleted, "error": run.error},
                "open_issues": int(issues or 0)})
        out["connections"].append({"name": conn.name, "adapter": conn.adapter, "enabled": conn.enabled,
                                   "push_enabled": conn.push_enabled, "last_test": conn.last_test_result,
                                   "streams": streams})
    return out
