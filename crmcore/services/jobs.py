"""Scheduled jobs: run the ones that are due, remembering each job's last run in the database.

Jobs are plain functions of a ``ServiceContext``; they run in-process (``crm jobs run-due``,
called by cron or the ``crm serve --scheduler`` thread) and can be sent to a queue instead.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from typing import Any, TYPE_CHECKING

from ..db import utcnow
from ..errors import NotFound
from ..models import JobRun
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

log = logging.getLogger(__name__)


def run_job(ctx: ServiceContext, name: str) -> JobRun:
    """Run one job now and record how it ended; a failure is recorded, not raised."""
    job = ctx.registry.jobs.get(name)
    if job is None:
        raise NotFound(_("No job named '%(name)s'. Known: %(known)s.", name=name, known=", ".join(sorted(ctx.registry.jobs)) or "-"))
    state = ctx.session.get(JobRun, name) or JobRun(name=name)
    state.last_started_at = utcnow()
    ctx.session.add(state)
    ctx.session.commit()
    try:
        job.func(ctx)
    except Exception as exc:  # noqa: BLE001
        ctx.session.rollback()
        log.exception("job %s failed", name)
        state = ctx.session.get_one(JobRun, name)
        state.last_status, state.last_error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    else:
        state.last_status, state.last_error = "ok", None
    state.last_finished_at = utcnow()
    ctx.session.commit()
    return state


def due_jobs(ctx: ServiceContext, now: dt.datetime | None = None) -> list[str]:
    now = now or utcnow()
    out = []
    for name, job in sorted(ctx.registry.jobs.items()):
        state = ctx.session.get(JobRun, name)
        if state is None or state.last_started_at is None or now - state.last_started_at >= dt.timedelta(seconds=job.interval):
            out.append(name)
    return out


def run_due(ctx: ServiceContext, now: dt.datetime | None = None) -> dict[str, str]:
    """Run every job whose interval has passed since it last started; return name -> status."""
    return {name: run_job(ctx, name).last_status or "" for name in due_jobs(ctx, now)}


def start_scheduler(runtime: Any, tick: float = 30.0, app: Any = None) -> threading.Event:
    """Run due jobs every ``tick`` seconds in a daemon thread; set the returned event to stop.

    With ``app``, each tick runs inside its app context, as ``crm jobs run-due`` does: jobs may use
    ``current_app``, the translations and ``url_for`` the same way however they are started."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(tick):
            with app.app_context() if app is not None else contextlib.nullcontext():
                ctx = runtime.context(session=runtime.db.new_session(), source="scheduler")
                try:
                    run_due(ctx)
                except Exception:  # noqa: BLE001
                    log.exception("scheduler tick failed")
                finally:
                    ctx.session.close()

    threading.Thread(target=loop, name="crm-scheduler", daemon=True).start()
    return stop
