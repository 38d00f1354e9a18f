"""Procrastinate backend: the jobs of a dead worker (no heartbeat) are queued again; a periodic one whose next
run is already queued behind its lock is marked failed instead, so the lock is freed and the job goes on."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from crmcore import migrate
from crmcore.models import JobExecution
from crmcore.runtime import build_runtime
from crmcore.services import jobs_procrastinate

HERE = Path(__file__).parent


def test_a_dead_workers_jobs_run_again_and_a_periodic_one_frees_its_lock(database_url: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    rt = build_runtime({"DATABASE_URL": database_url, "JOBS_BACKEND": "procrastinate", "PLUGINS": ["prodshape_plugin"],
                        "PLUGINS_AUTOLOAD": False, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    migrate.upgrade(rt)
    assert jobs_procrastinate.upgrade_schema(rt)[0] and jobs_procrastinate.upgrade_schema(rt) == (False, [])  # once
    app = jobs_procrastinate.engine(rt)
    tick = app.tasks["crm.periodic.prodshape.tick"]
    with rt.db.engine.begin() as conn:
        dead = conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) "
                                 "VALUES (now() - interval '1 hour') RETURNING id")).scalar()
    jobs_procrastinate._opened(rt)
    running_tick = tick.configure(lock="prodshape.tick", queueing_lock="prodshape.tick").defer(timestamp=1)
    queued_run = app.configure_task(jobs_procrastinate.RUN_TASK, queue=jobs_procrastinate.QUEUE).defer(
        name="prodshape.slow")
    with rt.db.engine.begin() as conn:  # both were taken by the worker that died
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id IN (:a, :b)"),
                     {"w": dead, "a": running_tick, "b": queued_run})
    next_tick = tick.configure(lock="prodshape.tick", queueing_lock="prodshape.tick").defer(timestamp=3)
    ctx = rt.context(session=rt.db.new_session())
    ctx.session.add(JobExecution(name="prodshape.tick", engine_job_id=running_tick, status="running", params={},
                                 backend="procrastinate", progress_done=0, attempts=1, cancel_requested=False))
    ctx.session.commit()

    async def retry() -> list[int]:
        async with app.open_async():
            return await jobs_procrastinate.retry_stalled_jobs(rt, app, 30)

    assert asyncio.run(retry()) == [queued_run]
    with rt.db.engine.connect() as conn:
        status = dict(conn.execute(text("SELECT id, status FROM procrastinate_jobs")).all())
    assert (status[running_tick], status[queued_run], status[next_tick]) == ("failed", "todo", "todo")
    run = ctx.session.get(JobExecution, 1, populate_existing=True)
    assert run.status == "failed" and "next scheduled run took over" in run.error
    ctx.session.close()
    app.close()
    rt.db.dispose()
