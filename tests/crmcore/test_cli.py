"""The ``crm`` command: users, tokens, import (encodings, rejects, idempotency), jobs, demo."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crmcore.models import ApiToken, AuditLog, Customer, User
from crmcore.services.users import hash_token


@pytest.fixture
def crm(runner):
    from crmcore.cli import cli

    def invoke(*args, input=None):
        return runner.invoke(cli, args=list(args), input=input)

    return invoke


def test_create_user_and_token(crm, client, rt):
    r = crm("create-user", "zhangwei", "--role", "manager", "--team", "华东", "--password", "s3cret-pass")
    assert r.exit_code == 0, r.output
    r = crm("create-user", "zhangwei", "--password", "s3cret-pass")
    assert r.exit_code != 0 and "already exists" in r.output
    r = crm("create-user", "bad", "--role", "pilot", "--password", "s3cret-pass")
    assert r.exit_code != 0 and "Unknown role" in r.output
    r = crm("create-user", "shorty", "--password", "x")
    assert r.exit_code != 0 and "at least 8" in r.output
    r = crm("token", "create", "zhangwei", "--name", "laptop")
    assert r.exit_code == 0
    plain = r.stdout.strip().splitlines()[0]
    assert plain.startswith("crm_")
    s = rt.db.new_session()
    stored = s.scalar(select(ApiToken))
    assert stored.token_hash == hash_token(plain) and plain not in stored.token_hash
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {plain}"}).json["username"] == "zhangwei"
    r = crm("token", "list", "zhangwei")
    assert "laptop" in r.output and plain not in r.output
    assert crm("token", "revoke", str(stored.id)).exit_code == 0
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    s.close()


def _write(path, text, encoding):
    path.write_bytes(text.encode(encoding))
    return str(path)


CSV = ("code,name,kind,stage,phone,email,tags,credit_limit\n"
       "ZS001,张三商贸有限公司,organization,customer,13800138000,zs@example.cn,VIP;批发,500000\n"
       "HZ001,杭州西湖茶业,organization,lead,0571-87654321,,电商,\n"
       "BAD1,,organization,lead,,,,\n"
       "BAD2,坏数据,alien,lead,,not-an-email,,-5\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_import_customers_detects_encoding_reports_rejects_and_is_idempotent(crm, rt, tmp_path, encoding):
    path = _write(tmp_path / "customers.csv", CSV, encoding)
    r = crm("import", "customers", path)
    assert r.exit_code == 0, r.output
    assert "created 2, updated 0, unchanged 0, rejected 2" in r.output
    report = (tmp_path / "customers.rejected.csv").read_text(encoding="utf-8-sig")
    assert "BAD1" in report and "name" in report and "BAD2" in report and "email" in report
    s = rt.db.new_session()
    zs = s.scalar(select(Customer).where(Customer.code == "ZS001"))
    assert zs.name == "张三商贸有限公司" and sorted(t.name for t in zs.tags) == ["VIP", "批发"]
    assert str(zs.credit_limit) == "500000.00" and zs.phone_normalized == "+8613800138000"
    s.close()
    # re-running changes nothing
    r = crm("import", "customers", path)
    assert "created 0, updated 0, unchanged 2, rejected 2" in r.output
    s = rt.db.new_session()
    assert s.scalar(select(func.count()).select_from(Customer)) == 2
    s.close()


def test_import_updates_changed_rows_and_reports_undecodable(crm, rt, tmp_path):
    crm("import", "customers", _write(tmp_path / "a.csv", CSV, "utf-8"))
    changed = CSV.replace("杭州西湖茶业,organization,lead", "杭州西湖茶业,organization,customer")
    r = crm("import", "customers", _write(tmp_path / "b.csv", changed, "utf-8"))
    assert "created 0, updated 1, unchanged 1" in r.output
    bad = tmp_path / "c.csv"
    bad.write_bytes(b"code,name\nX1,\xff\xfe\xfa broken\n")
    r = crm("import", "customers", str(bad), "--encoding", "utf-8")
    assert r.exit_code == 0 and "rejected 1" in r.output
    assert "Line 2 is not valid utf-8" in (tmp_path / "c.rejected.csv").read_text(encoding="utf-8-sig")
    r = crm("import", "customers", str(bad), "--encoding", "klingon")
    assert r.exit_code != 0 and "Unknown encoding" in r.output
    r = crm("import", "customers", _write(tmp_path / "d.csv", "code,name,shoe_size\nQ1,Q,42\n", "utf-8"))
    assert "rejected 1" in r.output and "shoe_size" in (tmp_path / "d.rejected.csv").read_text(encoding="utf-8-sig")


def test_plugins_jobs_and_demo(crm, rt):
    r = crm("plugins")
    assert r.exit_code == 0 and "core" in r.output and "crm_find_duplicates" in r.output
    r = crm("jobs", "list")
    assert "outbox.deliver" in r.output and "never" in r.output
    r = crm("jobs", "run", "outbox.deliver")
    assert r.exit_code == 0 and "ok" in r.output
    assert crm("jobs", "run", "nope").exit_code != 0
    r = crm("demo")
    assert r.exit_code == 0 and "7 users and 14 customers added" in r.output
    r = crm("demo")
    assert "0 users and 0 customers added" in r.output
    s = rt.db.new_session()
    assert s.scalar(select(func.count()).select_from(User)) == 7
    assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "created",
                                                                    AuditLog.entity == "customer")) == 14
    s.close()
