"""Runs of jobs as people see them: the list, one run, cancel, status labels (``crm jobs``, the API, the admin)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from ..db import changed_rows, utcnow
from ..errors import Conflict, NotFound
from ..i18n import _
from ..models.integration import JobExecution
from .jobs import FINISHED, backend, get_job

if TYPE_CHECKING:
    from ..runtime import ServiceContext

def cancel(ctx: ServiceContext, execution_id: int) -> JobExecution:
    """Cancel a run: a queued one never starts, a running one stops at its next progress report."""
    ctx.require("job.manage")
    execution = ctx.session.get(JobExecution, execution_id, populate_existing=True)
    if execution is None:
        raise NotFound(_("Job run %(id)s does not exist.", id=execution_id))
    if execution.status in FINISHED:
        raise Conflict(_("Job run %(id)s has already ended (%(status)s).", id=execution_id,
                         status=status_label(execution.status)))
    if execution.status == "queued" and _dequeue(ctx, execution):
        execution.status, execution.finished_at = "cancelled", utcnow()
    execution.cancel_requested = True
    ctx.session.commit()
    return execution


def _dequeue(ctx: ServiceContext, execution: JobExecution) -> bool:
    """Take a queued run out of its queue; False when a worker has already started it."""
    if execution.backend == "procrastinate" and execution.engine_job_id is not None:
        from . import jobs_procrastinate

        return jobs_procrastinate.cancel(ctx.runtime, execution.engine_job_id)
    taken = changed_rows(ctx.session.execute(
        update(JobExecution).where(JobExecution.id == execution.id, JobExecution.status == "queued")
        .values(status="cancelled", finished_at=utcnow()).execution_options(synchronize_session=False))) == 1
    ctx.session.refresh(execution)
    return taken


STATUS_LABELS = {"queued": _("queued"), "running": _("running"), "ok": _("done"), "failed": _("failed"),
                 "cancelled": _("cancelled")}


def status_label(status: str | None) -> str:
    """A run's status in the reader's language."""
    return str(STATUS_LABELS.get(status or "", status or ""))


def list_runs(ctx: ServiceContext, *, status: str | None = None, name: str | None = None, limit: int = 50) -> list[JobExecution]:
    """The latest runs, newest first (``job.manage``)."""
    return page_runs(ctx, status=status, name=name, page=1, page_size=limit)[0]


def page_runs(ctx: ServiceContext, *, status: str | None = None, name: str | None = None, page: int = 1,
              page_size: int = 50) -> tuple[list[JobExecution], int]:
    """One page of runs, newest first, and how many match (``job.manage``)."""
    ctx.require("job.manage")
    cond = [c for c in (JobExecution.status == status if status else None,
                        JobExecution.name == name if name else None) if c is not None]
    total = ctx.session.scalar(select(func.count()).select_from(JobExecution).where(*cond)) or 0
    # runs change in other processes (progress, status): read them afresh, not from this session's identity map
    items = list(ctx.session.scalars(select(JobExecution).where(*cond).order_by(JobExecution.id.desc())
                                     .offset((page - 1) * page_size).limit(page_size)
                                     .execution_options(populate_existing=True)))
    return items, int(total)


def get_run(ctx: ServiceContext, execution_id: int) -> JobExecution:
    """One run (``job.manage``)."""
    ctx.require("job.manage")
    execution = ctx.session.get(JobExecution, execution_id, populate_existing=True)
    if execution is None:
        raise NotFound(_("Job run %(id)s does not exist.", id=execution_id))
    return execution


def enqueue(ctx: ServiceContext, name: str, params: dict[str, Any] | None = None) -> JobExecution:
    """Queue one run of job ``name`` with keyword ``params`` on the configured backend; return its row."""
    get_job(ctx, name)
    where = backend(ctx)
    execution = JobExecution(name=name, params=params or {}, backend=where, status="queued", progress_done=0,
                             attempts=0, cancel_requested=False)
    ctx.session.add(execution)
    ctx.session.commit()
    if where == "procrastinate":  # after the commit: a worker may start it at once and must find its row
        from . import jobs_procrastinate

        execution.engine_job_id = jobs_procrastinate.defer(ctx.runtime, execution)
        ctx.session.commit()
    return execution
