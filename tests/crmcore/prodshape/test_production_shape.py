"""The production shape on one machine: PostgreSQL, the Procrastinate engine on it, two web processes behind
gunicorn and two ``crm worker`` processes. A worker is killed (SIGKILL) in the middle of a job: the job completes
once, on the other worker; the periodic job ran once per schedule; the outbox delivered each message once."""
from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import create_engine, text

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
BIN = Path(sys.executable).parent
DEADLINE = 90  # seconds any one wait may take on a loaded machine (the test itself takes far less)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], procs: list[subprocess.Popen[bytes]]) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        for p in procs:
            if p.poll() is not None and p.returncode not in (-signal.SIGKILL,):
                pytest.fail(f"{p.args!r} ended with {p.returncode} while waiting for {what}{_logs(procs)}")
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}{_logs(procs)}")


def _logs(procs: list[subprocess.Popen[bytes]]) -> str:
    """The end of each process's output, for the failure message."""
    out = []
    for p in procs:
        log = getattr(p, "log_path", None)
        if log is not None and Path(log).exists():
            out.append(f"\n--- {Path(log).name} ---\n" + Path(log).read_text(errors="replace")[-3000:])
    return "".join(out)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except OSError:  # not listening yet, or its workers still booting
            return 0, None


def test_production_shape(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "deliveries.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_DATABASE_URL=database_url, CRM_JOBS_BACKEND="procrastinate", CRM_PLUGINS="prodshape_plugin",
               CRM_PLUGINS_AUTOLOAD="0", CRM_SECRET_KEY=uuid.uuid4().hex, CRM_INSTANCE_PATH=str(tmp_path / "instance"),
               CRM_JOBS_STALLED_SECONDS="3", CRM_JOBS_SCHEDULE="outbox.deliver=1",
               PRODSHAPE_TRACE=str(trace), PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]))

    def crm(*args: str) -> str:
        done = subprocess.run([str(BIN / "crm"), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    crm("init-db")  # the schema, and the engine's tables
    api = Api("", _admin_token(database_url, tmp_path, monkeypatch))

    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str, *cmd: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        proc = subprocess.Popen(list(cmd), env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.log_path = tmp_path / f"{name}.log"  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    db = create_engine(database_url)
    try:
        web = start("gunicorn", str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
                    f"127.0.0.1:{port}", "--workers", "2", "crmcore.wsgi:app")
        workers = [start(f"worker{i}", str(BIN / "crm"), "worker", "--concurrency", "2") for i in (1, 2)]
        api.base = f"http://127.0.0.1:{port}/api/v1"
        _wait("gunicorn to answer", lambda: api.call("GET", "/users/me")[0] == 200, procs)
        assert len(_children(web.pid)) == 2  # two web processes behind the gunicorn master

        # writes through the web processes: each customer leaves one outbox message for "prodshape"
        for i in range(10):
            status, body = api.call("POST", "/customers", {"name": f"生产形态客户 {i}"})
            assert status == 201, body

        def outbox(*where: str) -> list[Any]:
            with db.connect() as conn:
                sql = "SELECT idempotency_key, status FROM outbox WHERE destination = 'prodshape' " + "".join(  # noqa: S608
                    f" AND {w}" for w in where)  # the test's own conditions, no input
                return list(conn.execute(text(sql)))

        assert len(outbox()) == 10
        _wait("the outbox to drain", lambda: not outbox("status <> 'delivered'"), procs)

        # a slow job, queued through the API; the worker that takes it is killed in the middle
        status, run = api.call("POST", "/jobs", {"name": "prodshape.slow"})
        assert status == 202, run
        started = _wait("the slow job to start", lambda: _audit(db, "prodshape.slow.start"), procs)
        victim = int(started[0]["pid"])
        assert victim in {w.pid for w in workers}
        _wait("progress", lambda: (api.call("GET", f"/jobs/{run['id']}")[1] or {}).get("progress_done", 0) >= 2, procs)
        ticks_before_kill = len(_slots(db))
        os.kill(victim, signal.SIGKILL)
        finished = _wait("the job to complete elsewhere",
                         lambda: (lambda r: r if r.get("status") in ("ok", "failed", "cancelled") else None)(
                             api.call("GET", f"/jobs/{run['id']}")[1] or {}), procs)
        assert finished["status"] == "ok" and finished["attempts"] == 2, finished
        assert (finished["progress_done"], finished["progress_total"]) == (30, 30)
        done = _audit(db, "prodshape.slow.done")
        survivor = ({w.pid for w in workers} - {victim}).pop()
        assert [int(d["pid"]) for d in done] == [survivor]  # completed once, on the other worker

        # the periodic tick: once per schedule slot across both workers, and it kept running after the kill
        _wait("ticks after the kill", lambda: len(_slots(db)) >= ticks_before_kill + 2, procs)
        slots = _slots(db)
        # once per slot; the one exception the engine allows (at least once): a run killed after its work was
        # committed but before the engine heard, run again elsewhere; only the killed worker can cause it
        twice = {slot: pids for slot, pids in slots.items() if len(pids) > 1}
        assert all(len(pids) == 2 and victim in pids for pids in twice.values()) and len(twice) <= 1, slots
        # the outbox: every message delivered, each exactly once
        delivered = collections.Counter(line.split("\t")[0] for line in trace.read_text().splitlines())
        assert set(delivered) == {key for key, _ in outbox()} and set(delivered.values()) == {1}, delivered
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        for log in logs:
            log.close()
        db.dispose()


def _admin_token(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An administrator and an API token, made in this process (a ``crm`` command each would take seconds)."""
    from crmcore.runtime import build_runtime
    from crmcore.services.users import create_token, create_user

    monkeypatch.syspath_prepend(str(HERE))
    rt = build_runtime({"DATABASE_URL": database_url, "PLUGINS": ["prodshape_plugin"], "PLUGINS_AUTOLOAD": False,
                        "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x"})
    ctx = rt.context(session=rt.db.new_session(), source="test")
    try:
        _, token = create_token(ctx, create_user(ctx, "ops", "prodshape-pass", "admin"))
    finally:
        ctx.session.close()
        rt.db.dispose()
    return str(token)


def _audit(db: Any, action: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT data FROM audit_log WHERE action = :a ORDER BY id"), {"a": action})
        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def _slots(db: Any) -> dict[str, list[int]]:
    """Each schedule slot of the periodic tick -> the pids of the workers that ran it."""
    out: dict[str, list[int]] = collections.defaultdict(list)
    with db.connect() as conn:
        for slot, data in conn.execute(text("SELECT entity_id, data FROM audit_log WHERE action = 'prodshape.tick' "
                                            "ORDER BY id")):
            out[slot].append(int((data if isinstance(data, dict) else json.loads(data))["pid"]))
    return dict(out)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out
