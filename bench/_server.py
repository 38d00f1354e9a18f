"""Helpers of the API benchmarks: a seeded database, the CRM and the bare app under gunicorn, HTTP load, worker RSS."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def prepare(url: str, instance: str, customers: int) -> tuple[str, list[int]]:
    """Create the tables on ``url`` (those missing), a user with an API token and ``customers`` customers with a
    contact, an address and a tag each; return the token and the customers' ids."""
    from crmcore.runtime import build_runtime
    from crmcore.services import contacts, customers as svc, users

    from crmcore.app import create_app

    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench"})
    rt.db.create_all()  # the tables of every model, as the tests make them (Alembic: crm init-db)
    from crmcore.models.custom_field import seed_stamps

    with rt.db.engine.begin() as conn:  # the change stamps' rows, as ``crm init-db`` gives them (a database kept
        seed_stamps(conn)  # from before a plugin with a stamp was installed has its tables, not its stamp's row)
    create_app(runtime=rt, admin=False)  # as `crm init-db` before a deployment's workers start: catalogues compiled
    ctx = rt.context(source="cli")
    users.seed_roles(ctx)
    name = f"bench{os.getpid()}{int(time.time())}"
    user = users.create_user(ctx, name, "bench-password", "admin")
    _, token = users.create_token(ctx, user, "bench")
    ids = []
    for i in range(customers):
        c = svc.create_customer(ctx, {"name": f"杭州西湖茶业 {name} {i}", "phone": f"0571-8765 {i % 10000:04d}",
                                      "email": f"b{i}@{name}.example", "tags": ["VIP" if i % 2 else "bench"]})
        contacts.create_contact(ctx, c.id, {"name": f"张三 {i}", "mobile": "13800138000", "email": f"c{i}@{name}.example"})
        contacts.add_address(ctx, c.id, {"line1": f"西湖区 {i} 号", "city": "杭州"})
        ids.append(c.id)
    ctx.session.close()
    rt.db.dispose()
    return token, ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """``gunicorn _wsgi:<which>()`` with ``workers`` sync workers on a free port, stopped on exit."""

    def __init__(self, which: str, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--pythonpath", str(HERE), "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--log-level", "warning",
             "--no-control-socket",  # else every gunicorn on the machine shares one control socket path
             f"_wsgi:{which}()"], env=env, stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gunicorn {which} exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        while len(self.worker_pids()) < workers and time.time() < deadline:
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def rss_mib(self) -> list[float]:
        """Each worker's resident memory (VmRSS), MiB."""
        out = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        return out

    def cpu_seconds(self) -> float:
        """The CPU time (user + system) the workers have used so far: per request, the app's own cost, which the
        machine's other load changes less than it changes requests per second."""
        total = 0
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (after the state field)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "Gunicorn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def request(port: int, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def load(port: int, token: str | None, calls: list[tuple[str, str, Any]], clients: int) -> float:
    """Send ``calls`` (method, path, body) from ``clients`` threads; return requests per second. Any answer but
    2xx stops the bench (a benchmark of error pages measures nothing)."""
    lock = threading.Lock()
    todo = list(reversed(calls))
    failure: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not todo or failure:
                    return
                method, path, body = todo.pop()
            try:
                status, data = request(port, method, path, token, body)
            except OSError as exc:
                status, data = 599, str(exc).encode()
            if status >= 300:
                with lock:
                    failure.append(f"{method} {path}: {status} {data[:300]!r}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failure:
        raise RuntimeError(failure[0])
    return len(calls) / elapsed
