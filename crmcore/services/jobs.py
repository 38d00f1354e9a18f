"""Jobs: plain functions of a ``ServiceContext`` registered by the core and plugins, run in-process or on Procrastinate.

One registry (``ctx.registry.jobs``) serves both backends (``CRM_JOBS_BACKEND``). Periodic jobs run
every ``interval`` seconds (``CRM_JOBS_SCHEDULE`` overrides it); in-process, a due job is claimed with
a conditional UPDATE of its ``job_runs`` row, so two ``crm serve`` processes on one database never run
it twice; on Procrastinate the engine defers each schedule once across all workers. Every run is a
``job_executions`` row: progress (``ctx.report_progress``), cancel request and outcome.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError

from ..db import changed_rows, utcnow
from ..errors import JobCancelled, NotFound
from ..i18n import _
from ..models.integration import JobExecution, JobRun

if TYPE_CHECKING:
    from ..runtime import ServiceContext

log = logging.getLogger(__name__)
RUNNING_GRACE = 600  # seconds: an in-process run still "running" this long after its interval is taken as crashed
HEARTBEAT = 30.0  # seconds between two "still running" stamps a process puts on each run it is running
STALE = 120.0  # seconds: a queued in-process run "running" without a stamp this long lost its process; taken again
FINISHED = ("ok", "failed", "cancelled")


@dataclass
class JobHandle:
    """The run a context works for: ``ctx.report_progress`` writes to it."""

    execution_id: int
    name: str
    scheduled_for: dt.datetime | None = None


def worker_name() -> str:
    """``host:pid`` of this process, recorded on each run it takes."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def backend(ctx: ServiceContext) -> str:
    """The configured backend: ``inprocess`` or ``procrastinate``."""
    return str(ctx.settings.get("JOBS_BACKEND") or "inprocess")


def interval_of(settings: dict[str, Any], job: Any) -> int:
    """Seconds between runs of ``job``: ``CRM_JOBS_SCHEDULE`` if it names the job, else its own interval; 0: never."""
    return int((settings.get("JOBS_SCHEDULE") or {}).get(job.name, job.interval) or 0)


def get_job(ctx: ServiceContext, name: str) -> Any:
    job = ctx.registry.jobs.get(name)
    if job is None:
        raise NotFound(_("No job named '%(name)s'. Known: %(known)s.", name=name, known=", ".join(sorted(ctx.registry.jobs)) or "-"))
    return job


def _ensure_state_rows(ctx: ServiceContext, names: list[str]) -> None:
    """A ``job_runs`` row per job, so claims are a conditional UPDATE (inserted once; a concurrent insert is fine)."""
    have = set(ctx.session.scalars(select(JobRun.name).where(JobRun.name.in_(names))))
    missing = [n for n in names if n not in have]
    if not missing:
        return
    dialect = ctx.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    ctx.session.execute(insert(JobRun).values([{"name": n} for n in missing]).on_conflict_do_nothing())
    ctx.session.commit()


def claim(ctx: ServiceContext, name: str, interval: int, now: dt.datetime) -> bool:
    """Take the run of ``name`` due at ``now``: True for exactly one caller however many processes ask.

    Due when it never started or started ``interval`` seconds ago or more, and it is not still running
    (a run left "running" by a killed process is taken again ``RUNNING_GRACE`` seconds after it was due)."""
    _ensure_state_rows(ctx, [name])
    due = now - dt.timedelta(seconds=interval)
    stale = now - dt.timedelta(seconds=interval + RUNNING_GRACE)
    stmt = (update(JobRun)
            .where(JobRun.name == name,
                   or_(JobRun.last_started_at.is_(None), JobRun.last_started_at <= due),
                   or_(JobRun.last_status.is_(None), JobRun.last_status != "running", JobRun.last_started_at <= stale))
            .values(last_started_at=now, last_status="running", last_error=None)
            .execution_options(synchronize_session=False))
    taken = changed_rows(ctx.session.execute(stmt)) == 1
    ctx.session.commit()
    return taken


def run_job(ctx: ServiceContext, name: str, *, execution_id: int | None = None, params: dict[str, Any] | None = None,
            scheduled_for: dt.datetime | None = None, engine_job_id: int | None = None,
            claimed: bool = False) -> JobRun:
    """Run one job now in this process and record how it ended; a failure is recorded, not raised.

    :param execution_id: the queued run to carry out (else one is made, or found by ``engine_job_id``:
        a run retried by the engine after its worker died keeps its row and counts a second attempt).
    :param claimed: the caller already marked the job started (``claim``).
    """
    job = get_job(ctx, name)
    _ensure_state_rows(ctx, [name])
    execution = _execution_for(ctx, name, execution_id, engine_job_id, params, scheduled_for)
    state = ctx.session.get_one(JobRun, name)
    if not claimed:
        state.last_started_at, state.last_status, state.last_error = utcnow(), "running", None
    if execution.cancel_requested and execution.status in ("queued", "running"):
        return _finish(ctx, name, execution.id, "cancelled", None)
    execution.status, execution.started_at, execution.heartbeat_at = "running", utcnow(), utcnow()
    execution.attempts += 1
    execution.worker = worker_name()
    ctx.session.commit()
    handle = JobHandle(execution.id, name, execution.scheduled_for)
    run_params = dict(execution.params or {})
    previous, ctx.job = getattr(ctx, "job", None), handle
    try:
        with _heartbeat(ctx.runtime, handle.execution_id):
            job.func(ctx, **run_params)
    except JobCancelled:
        ctx.session.rollback()
        log.info("job %s (run %s) cancelled", name, handle.execution_id)
        return _finish(ctx, name, handle.execution_id, "cancelled", None)
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded and does not stop the others
        ctx.session.rollback()
        log.exception("job %s failed", name)
        return _finish(ctx, name, handle.execution_id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        ctx.job = previous
    return _finish(ctx, name, handle.execution_id, "ok", None)


def _execution_for(ctx: ServiceContext, name: str, execution_id: int | None, engine_job_id: int | None,
                   params: dict[str, Any] | None, scheduled_for: dt.datetime | None) -> JobExecution:
    execution = None
    if execution_id is not None:
        execution = ctx.session.get(JobExecution, execution_id, populate_existing=True)
        if execution is None or execution.name != name:
            raise NotFound(_("Job run %(id)s does not exist.", id=execution_id))
    elif engine_job_id is not None:
        execution = ctx.session.scalars(select(JobExecution).where(JobExecution.engine_job_id == engine_job_id)
                                        .order_by(JobExecution.id.desc()).limit(1)).first()
    if execution is None:
        execution = JobExecution(name=name, params=params or {}, backend=backend(ctx), engine_job_id=engine_job_id,
                                 scheduled_for=scheduled_for, status="running", progress_done=0, attempts=0,
                                 cancel_requested=False)
        ctx.session.add(execution)
        ctx.session.flush()
    return execution


def _finish(ctx: ServiceContext, name: str, execution_id: int, status: str, error: str | None) -> JobRun:
    now = utcnow()
    execution = ctx.session.get_one(JobExecution, execution_id)
    execution.status, execution.error, execution.finished_at = status, error, now
    state = ctx.session.get_one(JobRun, name)
    state.last_status, state.last_error, state.last_finished_at = status, error, now
    ctx.session.commit()
    return state


def report_progress(ctx: ServiceContext, done: int, total: int | None = None) -> None:
    """Record how far the current run is (shown by ``crm jobs list``, the API and the admin) and stop it
    with ``JobCancelled`` if someone asked to cancel it. Call it between chunks, after committing one.

    Written in a short transaction of its own, so it is seen at once; outside a job it does nothing."""
    handle: JobHandle | None = getattr(ctx, "job", None)
    if handle is None:
        return
    _stamp(ctx.runtime, handle.execution_id, progress_done=int(done),
           progress_total=None if total is None else int(total), heartbeat_at=utcnow())
    check_cancelled(ctx)


def _stamp(runtime: Any, execution_id: int, **values: Any) -> None:
    """Write ``values`` on a run in a short transaction of its own; on SQLite, skipped if the write lock is taken
    (by the job itself, maybe): the next stamp writes it."""
    try:
        with runtime.db.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout=200")
            try:
                conn.execute(update(JobExecution).where(JobExecution.id == execution_id).values(**values))
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA busy_timeout=10000")
                    conn.commit()
    except OperationalError as exc:
        log.debug("job run %s not stamped now: %s", execution_id, exc)


@contextlib.contextmanager
def _heartbeat(runtime: Any, execution_id: int) -> Iterator[None]:
    """Stamp ``heartbeat_at`` every ``HEARTBEAT`` seconds while the block runs (so a dead process is noticed)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            _stamp(runtime, execution_id, heartbeat_at=utcnow())

    thread = threading.Thread(target=beat, name="crm-job-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def check_cancelled(ctx: ServiceContext) -> None:
    """Raise ``JobCancelled`` if the current run was asked to stop; outside a job it does nothing."""
    handle: JobHandle | None = getattr(ctx, "job", None)
    if handle is None:
        return
    with ctx.runtime.db.engine.connect() as conn:
        wanted = conn.execute(select(JobExecution.cancel_requested).where(JobExecution.id == handle.execution_id)).scalar()
    if wanted:
        raise JobCancelled(_("Job run %(id)s was cancelled.", id=handle.execution_id))


def due_jobs(ctx: ServiceContext, now: dt.datetime | None = None) -> list[str]:
    """Periodic jobs whose interval has passed since they last started (a preview; ``run_due`` claims them)."""
    now = now or utcnow()
    out = []
    for name, job in sorted(ctx.registry.jobs.items()):
        interval = interval_of(ctx.settings, job)
        if interval <= 0:
            continue
        state = ctx.session.get(JobRun, name)
        if state is None or state.last_started_at is None or now - state.last_started_at >= dt.timedelta(seconds=interval):
            out.append(name)
    return out


def run_due(ctx: ServiceContext, now: dt.datetime | None = None) -> dict[str, str]:
    """Run every periodic job this process claims (interval passed since it last started) and the queued runs
    of the in-process backend; return name -> status. Safe to call from any number of processes at once."""
    now = now or utcnow()
    out: dict[str, str] = {}
    for name in due_jobs(ctx, now):
        if claim(ctx, name, interval_of(ctx.settings, ctx.registry.jobs[name]), now):
            out[name] = run_job(ctx, name, claimed=True, scheduled_for=now).last_status or ""
    out.update(run_queued(ctx))
    return out


def run_queued(ctx: ServiceContext, limit: int = 20) -> dict[str, str]:
    """Run queued in-process runs, and runs whose process died (no heartbeat for ``STALE`` seconds: they run
    again, a second attempt), each taken by a conditional UPDATE (one process gets each)."""
    out: dict[str, str] = {}

    def takeable() -> Any:
        stale = utcnow() - dt.timedelta(seconds=STALE)
        return and_(JobExecution.backend == "inprocess",
                    or_(JobExecution.status == "queued",
                        and_(JobExecution.status == "running", JobExecution.heartbeat_at < stale)))

    ids = list(ctx.session.scalars(select(JobExecution.id).where(takeable()).order_by(JobExecution.id).limit(limit)))
    ctx.session.commit()
    for execution_id in ids:
        taken = changed_rows(ctx.session.execute(update(JobExecution)
                                                 .where(JobExecution.id == execution_id, takeable())
                                                 .values(status="running", worker=worker_name(), heartbeat_at=utcnow())
                                                 .execution_options(synchronize_session=False))) == 1
        ctx.session.commit()
        if not taken:
            continue
        execution = ctx.session.get_one(JobExecution, execution_id)
        ctx.session.refresh(execution)
        if execution.name not in ctx.registry.jobs:
            _finish_unknown(ctx, execution)
            continue
        out[f"{execution.name}#{execution_id}"] = run_job(ctx, execution.name, execution_id=execution_id).last_status or ""
    return out


def _finish_unknown(ctx: ServiceContext, execution: JobExecution) -> None:
    execution.status, execution.finished_at = "failed", utcnow()
    execution.error = f"no job named {execution.name!r} is registered in this process"
    ctx.session.commit()


def prune_history(ctx: ServiceContext) -> int:
    """Delete finished runs older than ``CRM_JOBS_HISTORY_DAYS``; return how many."""
    days = int(ctx.settings.get("JOBS_HISTORY_DAYS") or 0)
    if days <= 0:
        return 0
    from sqlalchemy import delete

    cutoff = utcnow() - dt.timedelta(days=days)
    gone = changed_rows(ctx.session.execute(delete(JobExecution).where(JobExecution.status.in_(FINISHED),
                                                                       JobExecution.finished_at < cutoff)))
    ctx.session.commit()
    return int(gone or 0)


def start_scheduler(runtime: Any, tick: float = 30.0, app: Any = None) -> threading.Event:
    """Run due jobs every ``tick`` seconds in a daemon thread; set the returned event to stop.

    With ``app``, each tick runs inside its app context, as ``crm jobs run-due`` does: jobs may use
    ``current_app``, the translations and ``url_for`` the same way however they are started."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(tick):
            run_tick(runtime, app)

    threading.Thread(target=loop, name="crm-scheduler", daemon=True).start()
    return stop


def run_tick(runtime: Any, app: Any = None) -> dict[str, str]:
    """One scheduler tick in a session of its own: what ``run_due`` ran (a failure is logged, not raised)."""
    with app.app_context() if app is not None else contextlib.nullcontext():
        ctx = runtime.context(session=runtime.db.new_session(), source="scheduler")
        try:
            return run_due(ctx)
        except Exception:  # noqa: BLE001
            log.exception("scheduler tick failed")
            return {}
        finally:
            ctx.session.close()
