"""One broken connection fails alone: a wrong password, an unknown database and a dead server beside a
healthy Tryton connection, through the engine, the job, the CLI, the API and the outbox."""
from __future__ import annotations

from sqlalchemy import func, select

from adapters.erp.cli import sync
from adapters.erp.models import SyncIssue
from adapters.erp.push import push_pending
from adapters.erp.runner import run_sync
from crmcore.models import Customer, JobExecution, OutboxMessage
from crmcore.services import customers as customer_svc
from crmcore.services import jobs

from .conftest import connect
from .tryton.server import free_port

WRONG_PASSWORD = "wrong user or password"


def broken(ctx, tryton):
    """Three broken connections named to sort before the healthy one (``z-good``)."""
    connect(ctx, tryton, "a-password", secret="not-the-password")
    connect(ctx, tryton, "b-database", settings={"database": "no_such_db"})
    connect(ctx, tryton, "c-dead", settings={"url": f"http://127.0.0.1:{free_port()}"})  # nothing listens there
    connect(ctx, tryton, "z-good")


def test_each_connection_fails_alone_with_a_clear_reason(ctx, tryton, seed):
    seed.party("健康客户有限公司", email="ok@healthy.example")
    broken(ctx, tryton)
    results = {r.connection: r for r in run_sync(ctx)}
    assert set(results) == {"a-password", "b-database", "c-dead", "z-good"}
    good = results["z-good"]
    assert good.error is None and good.errors == {} and good.streams["customers"].created == 1
    assert ctx.session.scalar(select(Customer.name)) == "健康客户有限公司"

    assert WRONG_PASSWORD in results["a-password"].error and "HTTP" not in results["a-password"].error
    assert "no database named 'no_such_db'" in results["b-database"].error
    assert "did not answer" in results["c-dead"].error
    for name in ("a-password", "b-database", "c-dead"):
        errors = list(results[name].errors.values())
        # the first stream found the connection broken; the others were not tried (no retry budget each)
        assert len(errors) == 7 and all(e.startswith("skipped: ") for e in errors[1:]), errors
        assert results[name].streams == {}

    # the scheduled job runs every connection too and does not stop at the first broken one; it ends
    # failed, naming each broken connection and why
    seed.party("第二个客户")
    state = jobs.run_job(ctx, "erp.sync")
    assert state.last_status == "failed" and "a-password: " in state.last_error and "c-dead: " in state.last_error
    assert WRONG_PASSWORD in state.last_error and "no_such_db" in state.last_error
    run = ctx.session.scalars(select(JobExecution).where(JobExecution.name == "erp.sync")).one()
    assert run.progress_done == len(results)  # one progress report per connection, the broken ones too
    assert ctx.session.scalar(select(func.count()).select_from(Customer).where(Customer.name == "第二个客户")) == 1


def test_cli_and_api_say_what_is_wrong(ctx, tryton, runner, client, admin_headers):
    broken(ctx, tryton)
    result = runner.invoke(sync, ["test", "a-password"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert WRONG_PASSWORD in result.output and "Traceback" not in result.output
    result = runner.invoke(sync, ["test", "b-database"])
    assert result.exit_code == 1 and "no database named 'no_such_db'" in result.output
    assert "HTTP 404" not in result.output
    assert runner.invoke(sync, ["test", "z-good"]).exit_code == 0
    for args in (["test", "nobody"], ["run", "--connection", "nobody"]):
        result = runner.invoke(sync, args)
        assert result.exit_code == 1 and "No ERP connection named 'nobody'" in result.output

    result = runner.invoke(sync, ["run", "--connection", "a-password"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert WRONG_PASSWORD in result.output
    result = runner.invoke(sync, ["run"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "z-good:" in result.output and "Traceback" not in result.output

    r = client.post("/api/v1/sync/connections/a-password/test", headers=admin_headers)
    assert r.status_code == 200 and r.json["ok"] is False and WRONG_PASSWORD in r.json["message"]
    r = client.post("/api/v1/sync/run", json={"connection": "b-database"}, headers=admin_headers)
    assert r.status_code == 200
    [body] = r.json["results"]
    assert "no_such_db" in body["error"]
    r = client.post("/api/v1/sync/run", json={}, headers=admin_headers)
    assert r.status_code == 200
    good = next(x for x in r.json["results"] if x["connection"] == "z-good")
    assert good["error"] is None and good["errors"] == {}


def test_pushes_to_a_healthy_connection_are_not_held_back(ctx, tryton, seed):
    broken(ctx, tryton)
    customers = [customer_svc.create_customer(ctx, {"name": f"推送客户 {i}", "email": f"p{i}@push.example"})
                 for i in range(3)]
    counts = push_pending(ctx)
    assert counts["delivered"] == 0 and counts["retry"] == 3  # the broken connections keep the messages
    for customer in customers:  # ... but the healthy one has every customer
        found = seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")], ["id"])
        assert len(found) == 1
    messages = ctx.session.scalars(select(OutboxMessage).where(OutboxMessage.destination == "erp")).all()
    assert all(m.payload["delivered_to"] == ["z-good"] for m in messages)
    assert all("did not answer" in m.last_error or WRONG_PASSWORD in m.last_error or "no_such_db" in m.last_error
               for m in messages)
    issues = ctx.session.scalars(select(SyncIssue).where(SyncIssue.kind == "push_failed")).all()
    assert {i.connection for i in issues} == {"a-password", "b-database"}

    # retried later: the healthy connection is not pushed twice
    for m in messages:
        m.next_attempt_at = m.created_at
    ctx.session.commit()
    push_pending(ctx)
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 3
    for customer in customers:
        found = seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")], ["id"])
        assert len(found) == 1


def test_the_admin_sync_now_says_which_connection_failed_and_why(ctx, tryton, seed, client, make_user):
    from .test_interfaces import CSRF, login

    seed.party("管理页客户")
    broken(ctx, tryton)
    no_url = connect(ctx, tryton, "d-no-url")  # saved before the url rule, or edited in the database:
    no_url.settings = {**no_url.settings, "url": ""}  # its adapter cannot even be built (the service refuses it)
    ctx.session.commit()
    make_user("admin", username="boss")
    login(client, "boss")
    status = client.get("/admin/erp/status/")
    r = client.post("/admin/erp/status/run", data={"csrf_token": CSRF.search(status.text).group(1)},
                    follow_redirects=True)
    assert r.status_code == 200
    assert "z-good: read 2, created 1" in r.text  # the party, read by customers and by credit limits
    assert f"a-password: Tryton refused the login of user &#39;{tryton.login}&#39;" in r.text
    assert WRONG_PASSWORD in r.text and "b-database: Tryton at" in r.text and "no_such_db" in r.text
    assert "c-dead: Tryton at" in r.text and "products: skipped" not in r.text
    assert "d-no-url: the Tryton connection needs &#39;url&#39;" in r.text
