"""Background jobs, in-process backend: claims across schedulers, queued runs, progress, cancel, failures,
the CLI, the API and the admin page; the settings of both backends."""
from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from sqlalchemy import update

from crmcore import hookimpl
from crmcore.config import load_settings
from crmcore.contracts import Job
from crmcore.db import utcnow
from crmcore.errors import ConfigError
from crmcore.models import JobExecution, JobRun
from crmcore.services import job_runs, jobs

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class Recorder:
    """A plugin with a counting periodic job, a failing one and a slow one that waits for the test between chunks."""

    def __init__(self) -> None:
        self.ticks: list[str] = []
        self.lock = threading.Lock()
        self.chunks = 0
        self.reached = threading.Event()
        self.go = threading.Event()

    def tick(self, ctx: Any) -> None:
        with self.lock:
            self.ticks.append(threading.current_thread().name)

    def boom(self, ctx: Any) -> None:
        raise RuntimeError("the ERP is down")

    def slow(self, ctx: Any, chunks: int = 10) -> None:
        for done in range(1, chunks + 1):
            self.chunks = done
            ctx.report_progress(done, chunks)
            if done == 3:
                self.reached.set()
                assert self.go.wait(20)

    @hookimpl
    def crm_register_jobs(self) -> list[Job]:
        return [Job("jobtest.tick", self.tick, 60, "Count"), Job("jobtest.boom", self.boom, 3600, "Fail"),
                Job("jobtest.slow", self.slow, 0, "Ten chunks")]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def app(make_app: Any, rec: Recorder) -> Any:
    return make_app(plugins=[("jobtest", rec)])


def _run_in_thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_two_schedulers_on_one_database_run_each_due_job_once(rt: Any, rec: Recorder) -> None:
    """Two ``crm serve`` schedulers tick at the same moment, round after round: each due run happens once."""
    rounds, start = 6, utcnow()
    for n in range(rounds):
        now = start + dt.timedelta(seconds=61 * n)
        barrier = threading.Barrier(2)
        results: list[dict[str, str]] = []

        def scheduler(now: Any = now, barrier: threading.Barrier = barrier, results: list[Any] = results) -> None:
            ctx = rt.context(session=rt.db.new_session(), source="scheduler")
            try:
                barrier.wait(10)
                results.append(jobs.run_due(ctx, now=now))
            finally:
                ctx.session.close()

        threads = [threading.Thread(target=scheduler, name=f"serve-{i}") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum("jobtest.tick" in r for r in results) == 1, results
        assert sum("jobtest.boom" in r for r in results) == (1 if n == 0 else 0), results
    assert len(rec.ticks) == rounds


def test_a_run_left_running_is_not_started_again_until_it_is_stale(ctx: Any, rec: Recorder) -> None:
    now = utcnow()
    assert jobs.claim(ctx, "jobtest.tick", 60, now)
    later = now + dt.timedelta(seconds=61)  # due again, but the first run never finished (its process died)
    assert not jobs.claim(ctx, "jobtest.tick", 60, later)
    assert jobs.claim(ctx, "jobtest.tick", 60, later + dt.timedelta(seconds=jobs.RUNNING_GRACE))


def test_queued_runs_are_taken_once_and_a_failure_does_not_block_the_others(rt: Any, ctx: Any, rec: Recorder) -> None:
    failing = job_runs.enqueue(ctx, "jobtest.boom")
    counted = [job_runs.enqueue(ctx, "jobtest.tick") for _ in range(3)]
    results: list[dict[str, str]] = []

    def worker() -> None:
        own = rt.context(session=rt.db.new_session(), source="scheduler")
        try:
            results.append(jobs.run_queued(own))
        finally:
            own.session.close()

    threads = [_run_in_thread(worker) for _ in range(2)]
    for t in threads:
        t.join(30)
    assert len(rec.ticks) == 3
    ctx.session.expire_all()
    boom = ctx.session.get(JobExecution, failing.id)
    assert boom.status == "failed" and "the ERP is down" in boom.error and boom.attempts == 1
    assert [ctx.session.get(JobExecution, r.id).status for r in counted] == ["ok"] * 3
    assert sum(len(r) for r in results) == 4  # four runs, each by one of the two workers


def test_progress_is_visible_and_a_running_job_stops_when_cancelled(rt: Any, ctx: Any, rec: Recorder, client: Any,
                                                                    admin_headers: dict[str, str]) -> None:
    run = job_runs.enqueue(ctx, "jobtest.slow")
    thread = _run_in_thread(jobs.run_tick, rt)
    assert rec.reached.wait(20)
    listed = client.get("/api/v1/jobs?status=running", headers=admin_headers)
    assert listed.status_code == 200, listed.text
    item = listed.json["items"][0]
    assert (item["id"], item["progress_done"], item["progress_total"]) == (run.id, 3, 10)
    assert item["status_label"] == "running" and item["description"] == "Ten chunks"

    cancelled = client.post(f"/api/v1/jobs/{run.id}/cancel", headers=admin_headers)
    assert cancelled.status_code == 200 and cancelled.json["cancel_requested"] is True
    assert cancelled.json["status"] == "running"  # it stops at its next report
    rec.go.set()
    thread.join(30)
    assert rec.chunks == 4  # the chunk after the cancel reported, saw it, and stopped
    ctx.session.expire_all()
    done = ctx.session.get(JobExecution, run.id)
    assert (done.status, done.progress_done, done.progress_total) == ("cancelled", 4, 10)
    assert ctx.session.get(JobRun, "jobtest.slow").last_status == "cancelled"
    again = client.post(f"/api/v1/jobs/{run.id}/cancel", headers=admin_headers)
    assert again.status_code == 409 and "has already ended" in again.json["message"]


def test_a_run_whose_process_died_runs_again_and_a_live_one_does_not(ctx: Any, rec: Recorder) -> None:
    long_ago = utcnow() - dt.timedelta(seconds=jobs.STALE + 60)

    def running(heartbeat: Any) -> JobExecution:
        run = JobExecution(name="jobtest.tick", status="running", backend="inprocess", params={}, progress_done=0,
                           attempts=1, cancel_requested=False, started_at=heartbeat, heartbeat_at=heartbeat)
        ctx.session.add(run)
        ctx.session.commit()
        return run

    dead, alive = running(long_ago), running(utcnow())
    assert jobs.run_queued(ctx) == {f"jobtest.tick#{dead.id}": "ok"} and len(rec.ticks) == 1
    assert (job_runs.get_run(ctx, dead.id).status, job_runs.get_run(ctx, dead.id).attempts) == ("ok", 2)
    assert job_runs.get_run(ctx, alive.id).status == "running"


def test_a_running_job_stamps_a_heartbeat(ctx: Any, rec: Recorder, rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "HEARTBEAT", 0.05)
    run = job_runs.enqueue(ctx, "jobtest.slow")
    thread = _run_in_thread(jobs.run_tick, rt)
    assert rec.reached.wait(20)  # the job now waits inside a chunk, reporting nothing
    first = job_runs.get_run(ctx, run.id).heartbeat_at
    ctx.session.commit()
    beats = [first]
    for _ in range(200):
        beats.append(job_runs.get_run(ctx, run.id).heartbeat_at)
        ctx.session.commit()
        if beats[-1] > first:
            break
        rec.go.wait(0.05)
    rec.go.set()
    thread.join(30)
    assert beats[-1] > first  # stamped by the runner while the job said nothing


def test_a_queued_run_gets_its_parameters(ctx: Any, rec: Recorder) -> None:
    run = job_runs.enqueue(ctx, "jobtest.slow", {"chunks": 2})
    assert jobs.run_queued(ctx) == {f"jobtest.slow#{run.id}": "ok"}
    done = job_runs.get_run(ctx, run.id)
    assert (done.status, done.progress_done, done.progress_total, done.params) == ("ok", 2, 2, {"chunks": 2})


def test_a_queued_run_cancelled_from_the_cli_never_starts(runner: Any, ctx: Any, rec: Recorder) -> None:
    from crmcore.cli import cli

    r = runner.invoke(cli, ["jobs", "enqueue", "jobtest.tick"])
    assert r.exit_code == 0 and "is queued" in r.output, r.output
    run_id = int(re.search(r"Run (\d+)", r.output).group(1))
    r = runner.invoke(cli, ["jobs", "cancel", str(run_id)])
    assert r.exit_code == 0 and f"Run {run_id} is cancelled." in r.output
    assert jobs.run_queued(ctx) == {} and rec.ticks == []
    r = runner.invoke(cli, ["jobs", "list"])
    assert r.exit_code == 0 and re.search(rf"^{run_id}\tjobtest.tick\tcancelled", r.output, re.M), r.output
    assert "jobtest.slow\ton demand" in r.output
    assert runner.invoke(cli, ["jobs", "cancel", "99999"]).exit_code != 0


def test_jobs_api_is_for_admins_only(client: Any, make_user: Any, admin_headers: dict[str, str]) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    _, manager = make_user("manager")
    assert client.get("/api/v1/jobs", headers=manager).status_code == 403
    assert client.post("/api/v1/jobs", json={"name": "jobtest.tick"}, headers=manager).status_code == 403
    queued = client.post("/api/v1/jobs", json={"name": "jobtest.tick"}, headers=admin_headers)
    assert queued.status_code == 202 and queued.json["status"] == "queued"
    assert client.post(f"/api/v1/jobs/{queued.json['id']}/cancel", headers=manager).status_code == 403
    unknown = client.post("/api/v1/jobs", json={"name": "nope"}, headers=admin_headers)
    assert unknown.status_code == 404 and "No job named 'nope'" in unknown.json["message"]


def test_admin_job_page_shows_progress_and_cancels_with_csrf(client: Any, make_user: Any, ctx: Any) -> None:
    make_user("admin", username="boss")
    page = client.get("/admin/auth/login")
    token = CSRF.search(page.text).group(1)
    assert client.post("/admin/auth/login", data={"csrf_token": token, "username": "boss",
                                                  "password": "password123"}).status_code == 302
    run = job_runs.enqueue(ctx, "jobtest.slow")
    ctx.session.execute(update(JobExecution).where(JobExecution.id == run.id)
                        .values(status="running", progress_done=4, progress_total=10))
    ctx.session.commit()
    listing = client.get("/admin/job_run/")
    assert listing.status_code == 200
    assert "4/10" in listing.text and "Ten chunks" in listing.text and "Running" in listing.text
    details = client.get(f"/admin/job_run/details/?id={run.id}")
    assert details.status_code == 200 and "4/10" in details.text
    assert client.post("/admin/job_run/cancel/", data={"target": run.id}).status_code == 400  # no CSRF token
    token = CSRF.search(listing.text).group(1)
    done = client.post("/admin/job_run/cancel/", data={"csrf_token": token, "target": run.id})
    assert done.status_code == 302
    ctx.session.expire_all()
    assert ctx.session.get(JobExecution, run.id).cancel_requested is True


def test_schedule_setting_overrides_intervals_and_zero_turns_a_job_off(make_app: Any, rec: Recorder) -> None:
    app = make_app(plugins=[("jobtest", rec)], JOBS_SCHEDULE="jobtest.tick=0, jobtest.boom=5")
    ctx = app.extensions["crm"].context(source="scheduler")
    statuses = jobs.run_due(ctx)
    assert "jobtest.tick" not in statuses and statuses["jobtest.boom"] == "failed"
    assert "jobtest.boom" in jobs.run_due(ctx, now=utcnow() + dt.timedelta(seconds=6))
    ctx.session.close()


@pytest.mark.parametrize("env, message", [
    ({"CRM_JOBS_BACKEND": "celery"}, "CRM_JOBS_BACKEND must be one of inprocess, procrastinate"),
    ({"CRM_JOBS_BACKEND": "procrastinate", "CRM_DATABASE_URL": "sqlite:///x.sqlite"}, "needs PostgreSQL"),
    ({"CRM_JOBS_SCHEDULE": "outbox.deliver"}, "job=seconds pairs"),
    ({"CRM_JOBS_SCHEDULE": "outbox.deliver=soon"}, "must be a whole number"),
    ({"CRM_JOBS_STALLED_SECONDS": "lots"}, "CRM_JOBS_STALLED_SECONDS must be a whole number"),
])
def test_job_settings_are_checked_at_start_up(env: dict[str, str], message: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env)


def test_job_settings_defaults(tmp_path: Any) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={"CRM_JOBS_SCHEDULE": "a=5,b=0"})
    assert settings["JOBS_BACKEND"] == "inprocess" and settings["JOBS_SCHEDULE"] == {"a": 5, "b": 0}
    assert settings["JOBS_STALLED_SECONDS"] == 30


def test_periodic_intervals_become_cron_schedules() -> None:
    from crmcore.services.jobs_procrastinate import cron_for

    assert [cron_for("j", s) for s in (2, 60, 300, 900, 3600, 6 * 3600, 86400)] == [
        "* * * * * */2", "*/1 * * * *", "*/5 * * * *", "*/15 * * * *", "0 */1 * * *", "0 */6 * * *", "0 0 * * *"]
    with pytest.raises(ConfigError, match="Job j runs every 7 s"):
        cron_for("j", 7)


def test_serve_runs_the_scheduler_on_the_inprocess_backend(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import werkzeug.serving

    from crmcore.cli import cli

    started: list[Any] = []
    monkeypatch.setattr(jobs, "start_scheduler", lambda rt, **kw: started.append(rt))
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *a, **kw: None)
    r = app.test_cli_runner().invoke(cli, ["serve", "--port", "5999"])
    assert r.exit_code == 0, r.output
    assert started == [app.extensions["crm"]] and "crm worker" not in r.output
