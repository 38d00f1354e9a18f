"""The embedded default (SQLite) under load: 8 writers through the WSGI app while the nightly jobs run
(analysis, KPIs, SLA, tags, outbox) answer no 5xx, every write lands and every job ends ok."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import random
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

PROCESSES = 4  # web worker processes, as under gunicorn
THREADS = 2  # writers in each: 8 writers
WRITERS = PROCESSES * THREADS
WRITES = 25
JOBS = ("analysis.nightly", "sales.kpis", "service.sla_check", "analysis.tags", "outbox.deliver")


def _config(folder: Path) -> dict[str, Any]:
    return {"DATABASE_URL": f"sqlite:///{folder / 'crm.sqlite'}", "INSTANCE_PATH": str(folder),
            "PLUGINS_AUTOLOAD": False, "SECRET_KEY": "test-secret", "TESTING": True,
            "PLUGINS": ["plugins.sales", "plugins.service", "plugins.analysis"]}


@pytest.fixture
def embedded(tmp_path: Any) -> Any:
    """The app as ``make run`` builds it: its own SQLite file with the engine settings of production."""
    from crmcore.app import create_app
    from crmcore.db import Base
    from crmcore.runtime import build_runtime
    from crmcore.services import users as user_svc

    config = _config(tmp_path)
    rt = build_runtime(config)
    app = create_app(config, runtime=rt)
    Base.metadata.create_all(rt.db.engine)
    user_svc.seed_roles(rt.context())
    yield app
    rt.db.dispose()


def web_process(folder: str, token: str, process: int) -> list[tuple[int, str]]:
    """One web worker process (as gunicorn runs several): its own app on the same SQLite file, with
    ``THREADS`` writer threads; returns every answer's status and the start of its body."""
    from crmcore.app import create_app

    app = create_app(_config(Path(folder)))
    headers = {"Authorization": f"Bearer {token}"}
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client = app.test_client()
        for i in range(WRITES):
            r = client.post("/api/v1/customers", headers=headers,
                            json={"name": f"Writer {n} customer {i}", "phone": f"138{n:02d}{i:06d}", "tags": ["load"]})
            with lock:
                answers.append((r.status_code, r.get_data(as_text=True)[:300]))
            if r.status_code == 201:
                cid = r.json["id"]
                r = client.patch(f"/api/v1/customers/{cid}", headers=headers,
                                 json={"industry": "Tea", "version": r.json["version"]})
                with lock:
                    answers.append((r.status_code, r.get_data(as_text=True)[:300]))

    threads = [threading.Thread(target=writer, args=(process * THREADS + n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.extensions["crm"].db.dispose()
    return answers


def _seed(rt: Any, customers: int = 400, orders: int = 4000) -> None:
    """History for the jobs to chew on: customers, confirmed orders with lines, open tickets."""
    from crmcore.models import Customer
    from plugins.sales.models import Order, OrderLine
    from plugins.service.services import tickets

    rng = random.Random(7)
    now = dt.datetime.now(dt.timezone.utc)
    with rt.db.engine.begin() as conn:
        conn.execute(insert(Customer.__table__), [{"code": f"S{i:05d}", "name": f"Seed {i}", "stage": "customer",
                                                   "created_at": now, "updated_at": now}
                                                  for i in range(1, customers + 1)])
        rows = []
        for i in range(orders):
            rows.append({"number": f"SO{i:06d}", "customer_id": rng.randint(1, customers),
                         "order_date": dt.date.today() - dt.timedelta(days=rng.randint(0, 700)), "currency": "CNY",
                         "status": "confirmed", "total": Decimal(rng.randint(500, 50_000)) / 100, "source": "erp",
                         "version": 1, "created_at": now, "updated_at": now})
        conn.execute(insert(Order.__table__), rows)
        ids = list(conn.scalars(select(Order.id)))
        conn.execute(insert(OrderLine.__table__), [
            {"order_id": oid, "description": rng.choice(["tea", "cups", "pot", "box"]),
             "quantity": Decimal(1), "unit_price": Decimal(10), "line_total": Decimal(10)} for oid in ids])
    ctx = rt.context(source="test")
    for i in range(30):
        tickets.create_ticket(ctx, {"subject": f"seed ticket {i}", "requester_email": f"t{i}@seed.example"})
    ctx.session.close()


def test_eight_writers_while_the_nightly_jobs_run_get_no_5xx(embedded: Any, tmp_path: Path) -> None:
    from crmcore.services import jobs
    from crmcore.services import users as user_svc

    rt = embedded.extensions["crm"]
    assert rt.db.engine.dialect.name == "sqlite"
    _seed(rt)
    system = rt.context(source="test")
    admin = user_svc.create_user(system, "loadadmin", "password123", "admin")
    token = user_svc.create_token(system, admin)[1]
    system.session.close()
    folder = tmp_path

    done = threading.Event()
    job_results: list[tuple[str, str | None, str | None]] = []

    def run_jobs() -> None:
        rounds = 0
        while not done.is_set() or rounds < 1:  # over and over while the writers write, at least once
            for name in JOBS:
                with embedded.app_context():
                    session = rt.db.new_session()
                    try:
                        state = jobs.run_job(rt.context(source="scheduler", session=session), name)
                        job_results.append((name, state.last_status, state.last_error))
                    finally:
                        session.close()
            rounds += 1

    runner = threading.Thread(target=run_jobs)
    runner.start()
    try:
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            results = pool.starmap(web_process, [(str(folder), token, p) for p in range(PROCESSES)])
    finally:
        done.set()
        runner.join()
    answers = [a for result in results for a in result]

    errors = [a for a in answers if a[0] >= 500]
    assert errors == []
    assert sorted({code for code, _body in answers}) == [200, 201]
    assert len(answers) == 2 * WRITERS * WRITES
    failed = [r for r in job_results if r[1] != "ok"]
    assert failed == []
    assert {name for name, _s, _e in job_results} == set(JOBS)
    from crmcore.models import Customer

    session = rt.db.new_session()
    try:
        written = session.scalar(select(func.count()).select_from(Customer).where(Customer.name.like("Writer %")))
        tea = session.scalar(select(func.count()).select_from(Customer).where(Customer.industry == "Tea"))
    finally:
        session.close()
    assert written == WRITERS * WRITES and tea == WRITERS * WRITES
