"""The Procrastinate backend (``CRM_JOBS_BACKEND=procrastinate``): the registry's jobs as engine tasks on PostgreSQL.

One engine task (``crm.run``) runs any queued run; each periodic job is an engine periodic task, deferred
once per schedule across every worker (the engine's ``procrastinate_periodic_defers``), with the job's
name as its lock so two runs of one job never overlap. Workers send heartbeats; ``crm.retry_stalled``
puts the jobs of a worker silent for ``CRM_JOBS_STALLED_SECONDS`` back in the queue for another one.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, cast

import procrastinate
from sqlalchemy.engine import make_url

from ..errors import ConfigError, CRMError
from ..i18n import _

log = logging.getLogger(__name__)
QUEUE = "crm"
RUN_TASK = "crm.run"
_KEY = "_crm_procrastinate"
_OPEN = "_crm_procrastinate_open"
_FLASK = "_crm_procrastinate_flask"


def conninfo(database_url: str) -> str:
    """The libpq URL of the SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def cron_for(name: str, seconds: int) -> str:
    """A cron schedule (seconds as the 6th field) for "every ``seconds``"; it must divide a minute, an hour or a day."""
    if seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    if seconds % 60 == 0 and seconds < 3600 and 3600 % seconds == 0:
        return f"*/{seconds // 60} * * * *"
    if seconds % 3600 == 0 and seconds < 86400 and 86400 % seconds == 0:
        return f"0 */{seconds // 3600} * * *"
    if seconds % 86400 == 0:
        return "0 0 * * *" if seconds == 86400 else f"0 0 */{seconds // 86400} * *"
    raise ConfigError(f"Job {name} runs every {seconds} s, which is no cron schedule: give it (or CRM_JOBS_SCHEDULE) "
                      "a number of seconds that divides a minute, an hour or a day")


class JobFailed(CRMError):
    """The job failed; its error is recorded on its run."""


def engine(runtime: Any) -> procrastinate.App:
    """The engine app of ``runtime`` (built once): tasks and periodic tasks from ``runtime.registry.jobs``."""
    cached = runtime.__dict__.get(_KEY)
    if cached is not None:
        return cast("procrastinate.App", cached)
    from . import jobs as job_svc

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(runtime.settings["DATABASE_URL"]), min_size=1, max_size=8))

    def run(name: str, execution_id: int | None = None, engine_job_id: int | None = None,
            scheduled_for: dt.datetime | None = None) -> None:
        from contextlib import nullcontext

        flask_app = runtime.__dict__.get(_FLASK)
        with flask_app.app_context() if flask_app is not None else nullcontext():
            ctx = runtime.context(session=runtime.db.new_session(), source="scheduler")
            try:
                state = job_svc.run_job(ctx, name, execution_id=execution_id, engine_job_id=engine_job_id,
                                        scheduled_for=scheduled_for)
                if state.last_status == "failed":
                    raise JobFailed(state.last_error or name)  # the engine records the failure too
            finally:
                ctx.session.close()

    @app.task(name=RUN_TASK, queue=QUEUE, pass_context=True)
    def run_queued(context: Any, name: str, execution_id: int | None = None) -> None:
        run(name, execution_id=execution_id, engine_job_id=context.job.id)

    for name, job in sorted(runtime.registry.jobs.items()):
        seconds = job_svc.interval_of(runtime.settings, job)
        if seconds > 0:
            _periodic(app, name, cron_for(name, seconds), run)

    stalled = max(int(runtime.settings.get("JOBS_STALLED_SECONDS") or 30), 2)

    @app.periodic(cron=cron_for("crm.retry_stalled", _divisor_at_most(max(stalled // 2, 1))),
                  periodic_id="crm.retry_stalled")
    @app.task(name="crm.retry_stalled", queue=QUEUE, queueing_lock="crm.retry_stalled", pass_context=True)
    async def retry_stalled(context: Any, timestamp: int) -> None:
        await retry_stalled_jobs(runtime, app, stalled)

    runtime.__dict__[_KEY] = app
    return app


async def retry_stalled_jobs(runtime: Any, app: procrastinate.App, stalled: int) -> list[int]:
    """Queue again the jobs of workers silent for ``stalled`` seconds; return their ids.

    A periodic job whose next run is already queued (its queueing lock is taken) is not queued twice: the
    stalled run is marked failed, which frees the job's lock, and the queued run does the work."""
    import asyncio

    from procrastinate.exceptions import UniqueViolation
    from procrastinate.jobs import Status

    retried = []
    for stuck in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled):
        job_id = int(stuck.id or 0)
        try:
            await app.job_manager.retry_job(stuck)
        except UniqueViolation:
            await app.job_manager.finish_job(stuck, status=Status.FAILED, delete_job=False)
            await asyncio.to_thread(_abandon, runtime, job_id)
            log.warning("job %s (%s) was running on a worker silent for %s s; its next run is queued already",
                        stuck.id, stuck.task_name, stalled)
            continue
        retried.append(job_id)
        log.warning("job %s (%s) was running on a worker silent for %s s: queued again", stuck.id, stuck.task_name,
                    stalled)
    return retried


def _abandon(runtime: Any, engine_job_id: int) -> None:
    """Record on our run that its worker died and a later run of the same job took over."""
    from sqlalchemy import update

    from ..db import utcnow
    from ..models import JobExecution

    with runtime.db.engine.begin() as conn:
        conn.execute(update(JobExecution).where(JobExecution.engine_job_id == engine_job_id,
                                                JobExecution.status.in_(("queued", "running")))
                     .values(status="failed", finished_at=utcnow(),
                             error="its worker stopped answering; the next scheduled run took over"))


def _divisor_at_most(seconds: int) -> int:
    """The largest divisor of 60 not above ``seconds`` (so it is a cron schedule)."""
    return max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) if d <= max(seconds, 1))


def _periodic(app: procrastinate.App, name: str, cron: str, run: Any) -> None:
    def periodic(context: Any, timestamp: int) -> None:
        run(name, engine_job_id=context.job.id, scheduled_for=dt.datetime.fromtimestamp(timestamp, dt.timezone.utc))

    task = app.task(name=f"crm.periodic.{name}", queue=QUEUE, pass_context=True, lock=name, queueing_lock=name)(periodic)
    app.periodic(cron=cron, periodic_id=name)(task)


def _opened(runtime: Any) -> procrastinate.App:
    """The engine app with its synchronous connection pool open (once per process; web processes defer with it)."""
    app = engine(runtime)
    if not runtime.__dict__.get(_OPEN):
        app.open()
        runtime.__dict__[_OPEN] = True
    return app


def defer(runtime: Any, execution: Any) -> int:
    """Queue a run on the engine; return the engine's job id."""
    app = _opened(runtime)
    return int(app.configure_task(RUN_TASK, queue=QUEUE).defer(name=execution.name, execution_id=execution.id))


def cancel(runtime: Any, engine_job_id: int) -> bool:
    """Take a job out of the engine's queue; False when a worker has already started it."""
    return bool(_opened(runtime).job_manager.cancel_job_by_id(engine_job_id, abort=True))


# The engine's schema version of a database created before its migrations were tracked: the CRM has shipped
# only procrastinate 3.10.0, whose schema.sql contains every migration up to 3.10.0.
UNTRACKED_SCHEMA_VERSION = (3, 10, 0)
MIGRATIONS_TABLE = "crm_procrastinate_migrations"


def _version(text: str) -> tuple[int, ...]:
    """``03.04.00_01_pre_x.sql`` or ``3.10.0`` -> (3, 4, 0)."""
    return tuple(int(part) for part in text.split("_", 1)[0].split(".")[:3])


def migration_files(folder: str | None = None) -> list[Path]:
    """The engine's migrations (``sql/migrations/*.sql`` of the installed procrastinate), in order."""
    from procrastinate.schema import SchemaManager

    return sorted(Path(folder or SchemaManager.get_migrations_path()).glob("*.sql"), key=lambda p: (_version(p.name), p.name))


def upgrade_schema(runtime: Any, migrations: str | None = None) -> tuple[bool, list[str]]:
    """Create the engine's tables, or bring them up to the installed procrastinate (``crm init-db``): each of its
    migrations not yet applied runs once, in its own transaction with its record in ``crm_procrastinate_migrations``.
    Return (tables created, migrations applied); a second call does nothing."""
    from sqlalchemy import inspect, text

    files = migration_files(migrations)
    with runtime.db.engine.begin() as conn:
        created = not inspect(conn).has_table("procrastinate_jobs")
        tracked = inspect(conn).has_table(MIGRATIONS_TABLE)
    if created:
        _opened(runtime).schema_manager.apply_schema()  # schema.sql: every migration of the installed version
    installed = _version(procrastinate.__version__) if created else UNTRACKED_SCHEMA_VERSION
    record = text("INSERT INTO crm_procrastinate_migrations (name) VALUES (:name) ON CONFLICT DO NOTHING")
    if created or not tracked:
        with runtime.db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS crm_procrastinate_migrations (name varchar(255) PRIMARY KEY, "
                              "applied_at timestamptz NOT NULL DEFAULT now())"))
            for path in files:
                if _version(path.name) <= installed:  # in the schema already
                    conn.execute(record, {"name": path.name})
    applied = []
    for path in files:
        with runtime.db.engine.begin() as conn:
            # the lock makes a second init-db running at the same time wait, then skip what this one applied
            conn.execute(text("LOCK TABLE crm_procrastinate_migrations IN EXCLUSIVE MODE"))
            done = conn.execute(text("SELECT 1 FROM crm_procrastinate_migrations WHERE name = :name"), {"name": path.name})
            if done.first() is not None:
                continue
            with conn.connection.driver_connection.cursor() as cursor:  # the file as it is (several statements)
                cursor.execute(path.read_text(encoding="utf-8"))
            conn.execute(record, {"name": path.name})
            applied.append(path.name)
    return created, applied


def check(runtime: Any) -> None:
    """Raise ``ConfigError`` unless the engine's tables are reachable (for ``crm check``)."""
    try:
        ok = _opened(runtime).check_connection()
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported the same way
        raise ConfigError(_("The job engine cannot reach its tables: %(error)s", error=str(exc))) from exc
    if not ok:
        raise ConfigError(_("The job engine's tables are missing: run `crm init-db`."))


def run_worker(runtime: Any, flask_app: Any, concurrency: int = 1) -> None:
    """Run an engine worker in the foreground until SIGINT/SIGTERM (``crm worker``)."""
    stalled = max(int(runtime.settings.get("JOBS_STALLED_SECONDS") or 30), 2)
    runtime.__dict__[_FLASK] = flask_app
    app = engine(runtime)
    app.run_worker(queues=[QUEUE], concurrency=concurrency, update_heartbeat_interval=max(stalled / 4, 0.5),
                   stalled_worker_timeout=stalled, install_signal_handlers=True)
