"""The sync's interfaces without an ERP server: a CSV file drop as the ERP, the REST API (status,
issues, retry, connections with a write-only secret), the admin pages, the CLI and the finance panel."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

from sqlalchemy import select

from adapters.erp.connections import save_connection
from adapters.erp.models import ErpInvoice, SyncIssue
from adapters.erp.runner import run_sync
from crmcore.models import Customer
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def drop(folder, name: str, text: str, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))


CUSTOMERS = ("external_id,name,phone,email,credit_limit,updated_at\n"
             "K1,北京甲公司,010-6555-1234,a@jia.cn,,2026-11-01T08:00:00+00:00\n")
INVOICES = ("external_id,number,customer_ref,invoice_date,due_date,currency,amount_total,amount_due,state\n"
            "I1,INV-1,K1,2026-10-01,2026-10-31,CNY,1000.00,600.00,open\n"
            "I2,INV-2,K9,2026-10-01,2026-10-31,CNY,50.00,50.00,open\n")


def test_issues_api_retry_and_finance_panel(ctx, tmp_path, make_user, client):
    folder = tmp_path / "drop"
    drop(folder, "customers.csv", CUSTOMERS)
    drop(folder, "invoices.csv", INVOICES)
    drop(folder, "credit_limits.csv", "external_id,customer_ref,credit_limit,currency\nK1,K1,2000.00,CNY\n")
    owner = make_user("manager", username="key_accounts")[0]
    save_connection(ctx, {"name": "files", "adapter": "csv", "secret": "not-needed-but-hidden",
                          "settings": {"directory": str(folder), "default_owner": "key_accounts"}})
    [result] = run_sync(ctx)
    assert result.streams["invoices"].created == 1 and result.streams["invoices"].failed == 1
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "北京甲公司"))
    assert customer.credit_limit == Decimal("2000.00")  # the ERP owns credit limits
    assert customer.owner_id == owner.id  # the connection's default owner

    from adapters.erp.panels import finance

    data = finance(ctx, customer, today=dt.date(2026, 12, 1))
    assert data["amount_due"] == {"CNY": Decimal("600.00")} and data["overdue"] == {"CNY": Decimal("600.00")}
    assert data["credit_used_percent"] == Decimal("30.0") and data["credit_available"] == Decimal("1400.00")

    admin = make_user("admin", username="root")[1]
    rep = make_user("sales", username="rep")[1]
    status = client.get("/api/v1/sync/status", headers=admin)
    assert status.status_code == 200
    [conn] = status.json["connections"]
    invoices = next(s for s in conn["streams"] if s["stream"] == "invoices")
    assert invoices["open_issues"] == 1 and invoices["last_run"]["failed"] == 1 and invoices["bookmark"] is None
    assert client.get("/api/v1/sync/status", headers=rep).status_code == 403
    assert client.get("/api/v1/sync/issues").status_code == 401

    issues = client.get("/api/v1/sync/issues", headers=admin).json
    [issue] = issues["items"]
    assert issue["external_id"] == "I2" and "K9 of invoice INV-2 is not synced yet" in issue["reason"]
    still = client.post(f"/api/v1/sync/issues/{issue['id']}/retry", headers=admin).json
    assert still["fixed"] is False and still["status"] == "open"

    # the missing customer arrives; the retry now stores the invoice and closes the issue
    drop(folder, "customers.csv", CUSTOMERS + "K9,Late Customer,,,,2026-11-02T08:00:00+00:00\n")
    run_sync(ctx, streams=["customers"])
    fixed = client.post(f"/api/v1/sync/issues/{issue['id']}/retry", headers=admin).json
    assert fixed["fixed"] is True and fixed["status"] == "resolved"
    assert ctx.session.scalar(select(ErpInvoice.number).where(ErpInvoice.external_id == "I2")) == "INV-2"
    assert client.post(f"/api/v1/sync/issues/{issue['id']}/retry", headers=rep).status_code == 403

    panels = client.get(f"/api/v1/customers/{customer.id}/panels", headers=admin).json
    panel = next(p for p in panels if p["key"] == "erp_finance")
    assert ["Credit used", "30.0%"] in panel["rows"] and panel["items"][0]["number"] == "INV-1"

    listed = client.get("/api/v1/sync/connections", headers=admin).json
    assert listed[0]["has_secret"] is True and "secret" not in listed[0]
    assert "not-needed-but-hidden" not in client.get("/api/v1/sync/connections", headers=admin).text



def login(client: Any, username: str) -> None:
    admin_login(client, username, lang="en")


def test_admin_pages_connections_secret_write_only_and_issue_retry(ctx, client, make_user, tmp_path):
    folder = tmp_path / "drop"
    drop(folder, "invoices.csv", INVOICES)
    make_user("admin", username="boss")
    make_user("sales", username="rep")
    login(client, "boss")
    for url in ("/admin/erp/status/", "/admin/erp/connection/", "/admin/erp/issue/", "/admin/erp/connection/new/"):
        assert client.get(url).status_code == 200, url
    page = client.get("/admin/erp/connection/new/")
    r = client.post("/admin/erp/connection/new/", data={
        "csrf_token": CSRF.search(page.text).group(1), "name": "files", "adapter": "csv",
        "set__csv__directory": str(folder), "secret": "s3cret-value", "streams__csv": ["customers", "invoices"],
        "own__customer__email": "erp",
        "overlap_seconds": "60", "timeout_seconds": "5", "page_size": "100", "push_enabled": "y", "enabled": "y"})
    assert r.status_code == 302, r.text[:500]
    conn = ctx.session.scalar(select(__import__("adapters.erp.models", fromlist=["ErpConnection"]).ErpConnection))
    assert (conn.secret, conn.streams, conn.settings["directory"]) == ("s3cret-value", ["customers", "invoices"],
                                                                       str(folder))
    assert conn.ownership == {"customer": {"email": "erp"}}
    bad = client.get(f"/admin/erp/connection/edit/?id={conn.id}")
    r = client.post(f"/admin/erp/connection/edit/?id={conn.id}", data={
        "csrf_token": CSRF.search(bad.text).group(1), "name": "files", "adapter": "csv",
        "set__csv__directory": "", "own__customer__email": "crm",
        "overlap_seconds": "60", "timeout_seconds": "5", "page_size": "100"})
    ctx.session.refresh(conn)
    assert r.status_code == 200  # the folder is required: refused, nothing changed
    assert conn.ownership == {"customer": {"email": "erp"}} and conn.secret == "s3cret-value"
    good = client.get(f"/admin/erp/connection/edit/?id={conn.id}")
    r = client.post(f"/admin/erp/connection/edit/?id={conn.id}", data={
        "csrf_token": CSRF.search(good.text).group(1), "name": "files", "adapter": "csv", "secret": "",
        "set__csv__directory": str(folder),
        "overlap_seconds": "60", "timeout_seconds": "5", "page_size": "100", "enabled": "y"})
    assert r.status_code == 302
    ctx.session.refresh(conn)
    assert (conn.ownership, conn.streams, conn.secret) == ({}, [], "s3cret-value")  # an empty secret keeps it
    edit = client.get(f"/admin/erp/connection/edit/?id={conn.id}")
    assert "s3cret-value" not in edit.text and "s3cret-value" not in client.get("/admin/erp/connection/").text
    assert "s3cret-value" not in client.get(f"/admin/erp/connection/details/?id={conn.id}").text
    listing = client.get("/admin/erp/connection/")
    r = client.post("/admin/erp/connection/action/", data={"csrf_token": CSRF.search(listing.text).group(1),
                                                           "action": "test", "rowid": str(conn.id)},
                    follow_redirects=True)
    assert "files" in r.text and "invoices.csv" in r.text  # the test's result is flashed
    listing = client.get("/admin/erp/connection/")
    assert f'/admin/erp/connection/test/{conn.id}' in listing.text  # a button per connection
    r = client.post(f"/admin/erp/connection/test/{conn.id}", data={"csrf_token": CSRF.search(listing.text).group(1)},
                    follow_redirects=True)
    assert "files: folder" in r.text
    assert client.post(f"/admin/erp/connection/test/{conn.id}").status_code == 400  # no CSRF token, no test

    status = client.get("/admin/erp/status/")
    r = client.post("/admin/erp/status/run", data={"csrf_token": CSRF.search(status.text).group(1),
                                                   "connection": "files"}, follow_redirects=True)
    assert "files: read 2" in r.text
    assert "is not synced yet" in client.get("/admin/erp/issue/").text  # no customers: both invoices wait
    listing = client.get("/admin/erp/issue/")
    r = client.post("/admin/erp/issue/action/", data={"csrf_token": CSRF.search(listing.text).group(1),
                                                      "action": "retry", "rowid": [str(i.id) for i in
                                                                                   ctx.session.scalars(select(SyncIssue))]},
                    follow_redirects=True)
    assert "0 of 2 records are now stored" in r.text

    client.post("/admin/auth/logout", data={"csrf_token": CSRF.search(client.get("/admin/").text).group(1)})
    login(client, "rep")
    assert client.get("/admin/erp/connection/").status_code in (302, 403)
    assert client.get("/admin/erp/issue/").status_code in (302, 403)


def test_cli_run_and_status(ctx, runner, tmp_path):
    from adapters.erp.cli import sync

    folder = tmp_path / "drop"
    drop(folder, "customers.csv", CUSTOMERS, encoding="gb18030")
    result = runner.invoke(sync, ["add-connection", "files", "--adapter", "csv", "--setting",
                                 f"directory={folder}", "--stream", "customers"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(sync, ["run"])
    assert result.exit_code == 0, result.output
    assert re.search(r"customers\s+1\s+1\s+0\s+0\s+0", result.output)
    assert re.search(r"total\s+1\s+1\s+0\s+0\s+0", result.output)
    assert ctx.session.scalar(select(Customer.name)) == "北京甲公司"  # GB18030 read right
    again = runner.invoke(sync, ["run"])
    assert re.search(r"customers\s+1\s+0\s+0\s+1\s+0", again.output)  # re-read in the overlap, skipped
    status = runner.invoke(sync, ["status"])
    assert "customers" in status.output and "bookmark=2026-11-01T08:00:00+00:00" in status.output


def test_deleted_records_become_issues_and_the_job_runs_the_sync(ctx, tmp_path):
    from crmcore.services import jobs

    folder = tmp_path / "drop"
    drop(folder, "customers.csv", CUSTOMERS + "K2,Gone Soon,,,,2026-11-01T09:00:00+00:00\n")
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(folder)},
                          "streams": ["customers"]})
    assert "erp.sync" in ctx.registry.jobs
    assert jobs.run_job(ctx, "erp.sync").last_status == "ok"
    assert ctx.session.scalar(select(Customer.name).where(Customer.name == "Gone Soon"))
    drop(folder, "customers.csv", CUSTOMERS)
    [result] = run_sync(ctx)
    assert result.streams["customers"].deleted == 1
    issue = ctx.session.scalar(select(SyncIssue).where(SyncIssue.kind == "deleted"))
    assert issue.external_id == "K2" and issue.status == "open"
    assert ctx.session.scalar(select(Customer.deleted_at).where(Customer.name == "Gone Soon")) is None  # kept


def test_one_sync_per_connection_at_a_time(ctx, tmp_path):
    import socket
    import subprocess
    import sys

    from adapters.erp.sync import LEASE, state_of
    from crmcore.errors import Conflict

    folder = tmp_path / "drop"
    drop(folder, "customers.csv", CUSTOMERS)
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(folder)}})
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state_of(ctx, "files", LEASE).bookmark = {"owner": f"{socket.gethostname()}:{other.pid}", "until": later}
        ctx.session.commit()
        with pytest.raises(Conflict, match="already running"):
            run_sync(ctx, connection="files")
        [busy] = run_sync(ctx)  # a run of every connection notes the busy one and goes on with the others
        assert "already running" in busy.error and busy.streams == {}
        assert ctx.session.scalar(select(Customer.id)) is None
    finally:
        other.kill()
        other.wait()
    [result] = run_sync(ctx)  # its process is gone (killed): the lease is taken over
    assert result.streams["customers"].created == 1
    assert state_of(ctx, "files", LEASE).bookmark == {}


def test_products_and_prices_from_a_file_drop(ctx, tmp_path):
    from plugins.sales.models import PriceList, Product

    folder = tmp_path / "drop"
    drop(folder, "products.csv", "external_id,code,name,unit,list_price,currency\nP1,TEA,龙井茶,box,88.00,CNY\n")
    drop(folder, "prices.csv", "external_id,price_list,product_ref,price,currency\n"
                               "L1,Wholesale,P1,70.00,CNY\nL2,VIP,P1,65.50,CNY\nL3,VIP,P404,1.00,CNY\n")
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(folder)},
                          "streams": ["products", "prices"]})
    [result] = run_sync(ctx)
    assert (result.streams["prices"].created, result.streams["prices"].failed) == (2, 1)
    tea = ctx.session.scalar(select(Product).where(Product.code == "TEA"))
    assert (tea.name, tea.list_price, tea.unit) == ("龙井茶", Decimal("88.00"), "box")
    lists = {pl.name: [(i.product_id, i.price) for i in pl.items] for pl in ctx.session.scalars(select(PriceList))}
    assert lists == {"Wholesale": [(tea.id, Decimal("70.00"))], "VIP": [(tea.id, Decimal("65.50"))]}
    drop(folder, "prices.csv", "external_id,price_list,product_ref,price,currency\n"
                               "L1,Wholesale,P1,72.00,CNY\nL2,VIP,P1,65.50,CNY\n")
    [again] = run_sync(ctx)
    assert (again.streams["prices"].updated, again.streams["prices"].skipped) == (1, 1)
    ctx.session.expire_all()
    wholesale = ctx.session.scalar(select(PriceList).where(PriceList.name == "Wholesale"))
    assert [(i.product_id, i.price) for i in wholesale.items] == [(tea.id, Decimal("72.00"))]


def test_a_run_against_an_unreachable_erp_reports_and_records_the_failure(ctx):
    from adapters.erp.models import SyncRun
    from crmcore.models import SyncState

    from .tryton.server import free_port

    save_connection(ctx, {"name": "down", "adapter": "tryton", "secret": "x", "timeout_seconds": 1,
                          "settings": {"url": f"http://127.0.0.1:{free_port()}", "database": "erp", "login": "crm",
                                       "retry_attempts": 2, "retry_base": 0.01}})
    [result] = run_sync(ctx)
    assert all(not any(c.as_dict().values()) for c in result.streams.values())  # what it stored before: nothing
    assert "did not answer" in result.errors["customers"]
    # the server is down: no other stream spends a retry budget on it, dependent or not
    assert all(result.errors[s].startswith("skipped: ") and "did not answer" in result.errors[s]
               for s in ("products", "orders", "credit_limits"))
    assert "did not answer" in result.error
    run = ctx.session.scalar(select(SyncRun).where(SyncRun.stream == "customers"))
    assert run.status == "failed" and "did not answer" in run.error
    bookmark = ctx.session.scalar(select(SyncState.bookmark).where(SyncState.stream == "customers"))
    assert not bookmark.get("value")  # nothing read, nothing moved
