"""The job engine (Procrastinate, ``crm worker``) against a bare PostgreSQL queue: enqueue→start latency, worker memory.

``python bench/run.py jobs_engine --pg URL [--jobs N] [--repeat R]`` makes a throw-away database on the server of
URL, starts one ``crm worker`` and queues N runs of a no-op job, one at a time. Latency is the run's start minus
its queuing (both stamped by the database). The baseline, measured in the same run and interleaved: a hand-written
queue on the same server (INSERT + NOTIFY; a LISTEN loop takes the row with ``FOR UPDATE SKIP LOCKED`` and stamps
its start). Memory: the worker's RSS against a process that builds the same CRM app without the engine.
Without ``--pg`` (or ``CRM_TEST_DATABASE_URL``) it says so and does nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOOP = "jobs.prune"  # a registered job that does next to nothing on an empty database


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _bare_queue(conninfo: str, n: int) -> list[float]:
    """Latencies (ms) of the hand-written queue: INSERT + NOTIFY, a LISTEN loop that takes and stamps the row."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS bench_q (id serial PRIMARY KEY, created_at timestamptz, "
                      "started_at timestamptz)")
        setup.execute("TRUNCATE bench_q")
    ready, stop = threading.Event(), threading.Event()

    def consumer() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("LISTEN bench_q")
            ready.set()
            while not stop.is_set():
                for _ in list(conn.notifies(timeout=0.2, stop_after=1)):  # no query while the generator runs
                    conn.execute("UPDATE bench_q SET started_at = clock_timestamp() WHERE id = (SELECT id FROM bench_q "
                                 "WHERE started_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)")

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    ready.wait(10)
    with psycopg.connect(conninfo) as producer:
        for _ in range(n):
            producer.execute("INSERT INTO bench_q (created_at) VALUES (clock_timestamp())")
            producer.execute("NOTIFY bench_q")
            producer.commit()
            time.sleep(0.05)
        time.sleep(0.5)
        rows = producer.execute("SELECT extract(epoch FROM started_at - created_at) * 1000 FROM bench_q "
                                "WHERE started_at IS NOT NULL").fetchall()
    stop.set()
    thread.join(5)
    return [float(r[0]) for r in rows]


def _engine(rt: Any, n: int) -> list[float]:
    """Latencies (ms) of runs queued through ``crmcore.services.jobs.enqueue`` and started by the worker."""
    from crmcore.models import JobExecution
    from crmcore.services import jobs

    ids = []
    ctx = rt.context(session=rt.db.new_session(), source="bench")
    try:
        for _ in range(n):
            ids.append(jobs.enqueue(ctx, NOOP).id)
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [ctx.session.get(JobExecution, i, populate_existing=True) for i in ids]
            ctx.session.commit()
            if all(r.started_at for r in runs):
                return [(r.started_at - r.created_at).total_seconds() * 1000 for r in runs]
            time.sleep(0.2)
        raise SystemExit("the worker did not start the queued runs within a minute")
    finally:
        ctx.session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs_engine")
    parser.add_argument("--pg", default=os.environ.get("CRM_TEST_DATABASE_URL"), help="a PostgreSQL server URL")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.pg:
        print("jobs_engine: needs --pg postgresql+psycopg://... (the engine is PostgreSQL only); nothing measured")
        return 0
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crmcore.runtime import build_runtime
    from crmcore.services.jobs_procrastinate import conninfo

    name = f"crm_bench_jobs_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    instance = Path(tempfile.gettempdir()) / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_DATABASE_URL=url, CRM_JOBS_BACKEND="procrastinate", CRM_PLUGINS_AUTOLOAD="0",
               CRM_SECRET_KEY="bench", CRM_INSTANCE_PATH=str(instance))
    worker = None
    try:
        subprocess.run([str(BIN / "crm"), "init-db"], env=env, check=True, capture_output=True)
        worker = subprocess.Popen([str(BIN / "crm"), "worker"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        rt = build_runtime({"DATABASE_URL": url, "JOBS_BACKEND": "procrastinate", "PLUGINS_AUTOLOAD": False,
                            "SECRET_KEY": "bench", "INSTANCE_PATH": str(instance)})
        _engine(rt, 3)  # warm up: the worker has loaded and answered
        engine_best, bare_best = [], []
        for _ in range(args.repeat):  # interleaved
            engine_best.append(statistics.median(_engine(rt, args.jobs)))
            bare_best.append(statistics.median(_bare_queue(conninfo(url), args.jobs)))
        worker_kib = _rss_kib(worker.pid)
        app_only = subprocess.run([sys.executable, "-c", "from crmcore.app import create_app; create_app(); "
                                   "import pathlib; print([l.split()[1] for l in pathlib.Path('/proc/self/status')"
                                   ".read_text().splitlines() if l.startswith('VmRSS:')][0])"],
                                  env=env, check=True, capture_output=True, text=True)
        app_kib = int(app_only.stdout.strip().splitlines()[-1])
        e, b = min(engine_best), min(bare_best)
        print(f"enqueue→start, median of {args.jobs}, best of {args.repeat}: engine {e:.1f} ms, bare queue {b:.1f} ms, "
              f"ratio {e / b:.1f}x (engine runs: {', '.join(f'{x:.1f}' for x in engine_best)} ms; "
              f"bare: {', '.join(f'{x:.1f}' for x in bare_best)} ms)")
        print(f"worker RSS {worker_kib / 1024:.0f} MiB vs the same app without the engine {app_kib / 1024:.0f} MiB: "
              f"ratio {worker_kib / max(app_kib, 1):.2f}x")
        rt.db.dispose()
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
