"""Bulk imports through the core's framework (crmcore.imports): customers with a contact and an address,
contacts and interactions by customer code; created / updated / unchanged / rejected, idempotent re-runs,
repeated keys in one file, one bad row never losing the others, audit per row or per batch, permissions and
the bulk API's limits."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore import hookimpl
from crmcore.contracts import OutboxHandler
from crmcore.models import Address, AuditLog, Contact, Customer, ExternalRef, Interaction, OutboxMessage, Tag
from crmcore.services import customers as customer_svc

SUMMARY = re.compile(r"(\d+) rows read: created (\d+), updated (\d+), unchanged (\d+), rejected (\d+)")


class Outbox:
    """A destination that wants every customer, contact, address and interaction event."""

    @hookimpl
    def crm_register_outbox_handlers(self) -> list[Any]:
        return [OutboxHandler("test.all", ("customer.*", "contact.*", "address.*", "interaction.*"),
                              lambda ctx, msg: None)]


@pytest.fixture
def crm_plugins() -> list[tuple[str, Any]]:
    return [("test_outbox", Outbox())]


@pytest.fixture
def crm(runner: Any) -> Any:
    from crmcore.cli import cli

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, args=list(args))

    return invoke


def summary(output: str) -> dict[str, int]:
    match = SUMMARY.search(output)
    assert match, output
    total, created, updated, unchanged, rejected = map(int, match.groups())
    assert total == created + updated + unchanged + rejected
    return {"created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


def report(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def count(rt: Any, model: Any, *where: Any) -> int:
    s = rt.db.new_session()
    try:
        return s.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        s.close()


CUSTOMERS = ("code,name,phone,tags,contact.name,contact.mobile,contact.email,address.line1,address.city,attr.size\n"
             "ZS1,张三商贸有限公司,0571-87654321,VIP;批发,张经理,13900139000,zhang@example.cn,西湖区文三路1号,杭州,\n"
             "LS1,李四科技,,电商,,,,,,\n")


def test_customers_with_a_contact_and_an_address_get_the_services_derived_fields(crm: Any, rt: Any, ctx: Any,
                                                                                  tmp_path: Path) -> None:
    r = crm("import", "customers", write(tmp_path / "c.csv", CUSTOMERS.replace(",attr.size", "").replace(",\n", "\n")))
    assert r.exit_code == 0, r.output
    assert summary(r.output) == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    zs = customer_svc.get_by_code(ctx, "ZS1")
    assert zs.phone_normalized == "+8657187654321" and "zssm" in zs.search_text and zs.name_key
    assert sorted(t.name for t in zs.tags) == ["VIP", "批发"]
    [contact] = zs.contacts
    assert (contact.name, contact.mobile_normalized, contact.email_normalized) == (
        "张经理", "+8613900139000", "zhang@example.cn")
    [address] = zs.addresses
    assert (address.line1, address.city, address.country, address.kind) == ("西湖区文三路1号", "杭州", "CN", "office")
    # the same score the service computes from the stored record
    assert zs.completeness == customer_svc.completeness_of(ctx, zs)[0] > 0
    assert zs.version == 1 and zs.currency == "CNY" and zs.stage == "lead"
    ls = customer_svc.get_by_code(ctx, "LS1")
    assert ls.contacts == [] and ls.completeness == customer_svc.completeness_of(ctx, ls)[0]
    # an audit entry per record and an outbox row per record for the destination
    assert count(rt, AuditLog, AuditLog.action == "created", AuditLog.entity == "customer") == 2
    assert count(rt, AuditLog, AuditLog.entity == "contact", AuditLog.entity_id == str(contact.id)) == 1
    assert count(rt, AuditLog, AuditLog.entity == "address", AuditLog.entity_id == str(address.id)) == 1
    assert count(rt, OutboxMessage, OutboxMessage.destination == "test.all") == 4


def test_re_running_is_idempotent_and_changed_rows_update(crm: Any, rt: Any, ctx: Any, tmp_path: Path) -> None:
    text = CUSTOMERS.replace(",attr.size", "").replace(",\n", "\n")
    path = write(tmp_path / "c.csv", text)
    crm("import", "customers", path)
    r = crm("import", "customers", path)
    assert summary(r.output) == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 0}
    changed = text.replace("张经理,13900139000", "张经理,13900139001").replace("李四科技,,电商", "李四科技,,电商;零售")
    r = crm("import", "customers", write(tmp_path / "d.csv", changed))
    assert summary(r.output) == {"created": 0, "updated": 2, "unchanged": 0, "rejected": 0}
    zs = customer_svc.get_by_code(ctx, "ZS1")
    assert [c.mobile_normalized for c in zs.contacts] == ["+8613900139001"]  # the contact of that name, not a second
    assert sorted(t.name for t in customer_svc.get_by_code(ctx, "LS1").tags) == ["电商", "零售"]
    assert count(rt, Contact) == 1 and count(rt, Address) == 1 and count(rt, Customer) == 2
    assert count(rt, AuditLog, AuditLog.action == "updated", AuditLog.entity == "contact") == 1


def test_a_key_repeated_in_one_file_updates_what_the_earlier_row_wrote(crm: Any, ctx: Any, tmp_path: Path) -> None:
    text = ("code,name,industry\n"
            "R1,Repeat Co,tea\n"
            "R2,Other Co,\n"
            "Ｒ1,Repeat Co,silk\n"   # the same code, full-width: folded to R1
            "R1,Repeat Co,silk\n")
    r = crm("import", "customers", write(tmp_path / "r.csv", text))
    assert summary(r.output) == {"created": 2, "updated": 1, "unchanged": 1, "rejected": 0}
    assert customer_svc.get_by_code(ctx, "R1").industry == "silk"


def test_bad_rows_are_rejected_with_reasons_and_the_others_written(crm: Any, rt: Any, ctx: Any, tmp_path: Path) -> None:
    customer_svc.create_customer(ctx, {"code": "GONE", "name": "Deleted Co"})
    customer_svc.delete_customer(ctx, customer_svc.get_by_code(ctx, "GONE").id)
    text = ("code,name,phone,email,contact.name,contact.mobile,address.line1,address.country\n"
            "OK1,Fine Co,,,,,,\n"
            "BAD1,,,,,,,\n"                                   # no name
            "BAD2,Bad Phone,12345,,,,,\n"                     # not a phone number
            "BAD3,Bad Contact,,,Wang,999,,\n"                 # the contact's mobile
            "BAD4,Bad Address,,,,,Somewhere,China\n"          # not a two-letter country
            "GONE,Deleted Co,,,,,,\n"                         # the code of a deleted customer
            "OK2,Also Fine,,,,,,\n")
    r = crm("import", "customers", write(tmp_path / "b.csv", text))
    assert summary(r.output) == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 5}
    rows = {row[1]: row for row in report(tmp_path / "b.rejected.csv")[1:]}
    assert rows["BAD1"][0] == "3" and "name" in rows["BAD1"][2]
    assert "phone" in rows["BAD2"][2] and "contact.mobile" in rows["BAD3"][2]
    assert "address.country" in rows["BAD4"][2] and "does not exist" in rows["GONE"][2]
    assert {c.code for c in customer_svc.list_customers(ctx)[0]} == {"OK1", "OK2"}
    assert count(rt, Contact) == 0


def test_a_row_the_database_refuses_loses_only_itself(make_app: Any, tmp_path: Path) -> None:
    """A loader that lets the database find a clash (a tag name twice): the batch is loaded again row by row."""
    from sqlalchemy import insert

    from crmcore.imports import CREATED, Column, ImportKind, RowResult
    from crmcore.imports.driver import get_kind, import_file

    def load(ctx: Any, rows: list[Any], options: Any) -> list[Any]:
        ids = ctx.session.execute(insert(Tag.__table__).returning(Tag.__table__.c.id, sort_by_parameter_order=True),
                                  [{"name": raw["name"]} for _line, raw in rows]).scalars().all()
        return [RowResult(line, CREATED, tid, raw["name"]) for (line, raw), tid in zip(rows, ids, strict=True)]

    class Plugin:
        @hookimpl
        def crm_register_import_kinds(self) -> list[Any]:
            return [ImportKind("rawtags", "Tags", "customer.import", "name", (Column("name"),), load, "tag",
                               batch_size=3, key_of=lambda row: None)]

    app = make_app(plugins=[("rawtags", Plugin())])
    rt = app.extensions["crm"]
    ctx = rt.context(source="cli", session=rt.db.new_session())
    ctx.session.add(Tag(name="taken"))
    ctx.session.commit()
    path = write(tmp_path / "t.csv", "name\na\nb\ntaken\nc\nd\n")
    outcome = import_file(ctx, get_kind(ctx, "rawtags"), path)
    assert outcome.summary.counts == {"created": 4, "updated": 0, "unchanged": 0, "rejected": 1}
    [header, row] = report(Path(outcome.report_path))
    assert header == ["line", "name", "reason"] and row[:2] == ["4", "taken"] and "same name" in row[2].lower()  # the field by its label
    assert sorted(ctx.session.scalars(select(Tag.name))) == ["a", "b", "c", "d", "taken"]
    ctx.session.close()


def test_audit_summary_writes_one_entry_per_batch_and_still_every_outbox_row(crm: Any, rt: Any, tmp_path: Path) -> None:
    text = "code,name\n" + "".join(f"S{i},Summary {i}\n" for i in range(5))
    r = crm("import", "customers", write(tmp_path / "s.csv", text), "--audit", "summary")
    assert summary(r.output)["created"] == 5
    assert count(rt, AuditLog, AuditLog.entity == "customer", AuditLog.action == "created") == 0
    s = rt.db.new_session()
    [entry] = s.scalars(select(AuditLog).where(AuditLog.action == "imported")).all()
    assert entry.entity == "customer" and entry.data["rows"] == 5 and entry.data["created"] == 5
    assert entry.data["first_line"] == 2 and entry.data["last_line"] == 6 and len(entry.data["ids"]) == 5
    s.close()
    assert count(rt, OutboxMessage, OutboxMessage.topic == "customer.created") == 5


def test_no_update_rejects_existing_codes(crm: Any, ctx: Any, tmp_path: Path) -> None:
    customer_svc.create_customer(ctx, {"code": "N1", "name": "Kept Co"})
    r = crm("import", "customers", write(tmp_path / "n.csv", "code,name\nN1,Changed Co\nN2,New Co\n"), "--no-update")
    assert summary(r.output) == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert customer_svc.get_by_code(ctx, "N1").name == "Kept Co"


def test_contacts_by_customer_code_external_id_or_name(crm: Any, rt: Any, ctx: Any, tmp_path: Path) -> None:
    customer_svc.create_customer(ctx, {"code": "C1", "name": "张三商贸"})
    before = customer_svc.get_by_code(ctx, "C1").completeness
    text = ("customer_code,name,external_id,mobile,email,title\n"
            "C1,王经理,OLD-1,13800138000,wang@example.cn,经理\n"
            "C1,李会计,,,li@example.cn,会计\n"
            "NOPE,赵六,OLD-2,,,\n"                        # unknown customer code
            "C1,孙七,OLD-3,12345,,\n")                    # not a phone number
    path = write(tmp_path / "contacts.csv", text, "gb18030")
    r = crm("import", "contacts", path)
    assert r.exit_code == 0, r.output
    assert summary(r.output) == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    rows = report(tmp_path / "contacts.rejected.csv")
    assert rows[0] == ["line", "external_id", "reason"]
    assert rows[1][:2] == ["4", "OLD-2"] and "NOPE" in rows[1][2] and "mobile" in rows[2][2]
    c1 = customer_svc.get_by_code(ctx, "C1")
    assert sorted((c.name, c.mobile_normalized) for c in c1.contacts) == [("李会计", None), ("王经理", "+8613800138000")]
    assert c1.completeness == customer_svc.completeness_of(ctx, c1)[0] > before
    assert count(rt, ExternalRef, ExternalRef.entity == "contact") == 1
    # again: unchanged; the external id finds a renamed contact, the name finds the other
    r = crm("import", "contacts", path)
    assert summary(r.output) == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 2}
    renamed = text.replace("C1,王经理,OLD-1", "C1,王总,OLD-1").replace("li@example.cn,会计", "li@example.cn,财务")
    r = crm("import", "contacts", write(tmp_path / "again.csv", renamed))
    assert summary(r.output) == {"created": 0, "updated": 2, "unchanged": 0, "rejected": 2}
    ctx.session.expire_all()
    assert sorted((c.name, c.title) for c in customer_svc.get_by_code(ctx, "C1").contacts) == [
        ("李会计", "财务"), ("王总", "经理")]


def test_interactions_by_customer_code_and_external_id(crm: Any, rt: Any, ctx: Any, tmp_path: Path) -> None:
    customer_svc.create_customer(ctx, {"code": "T1", "name": "Timeline Co"})
    text = ("external_id,customer_code,channel,subject,occurred_at,direction\n"
            "M-1,T1,phone,First call,2026-11-23T10:00:00+08:00,outbound\n"
            "M-2,T1,visit,Visit,2026-11-24T09:00:00+08:00,\n"
            ",T1,email,No id,2026-11-24T09:00:00+08:00,\n"      # no external id
            "M-3,T1,email,No zone,2026-11-24T09:00:00,\n"       # no time zone
            "M-4,ZZ,email,Unknown,2026-11-24T09:00:00+08:00,\n")  # unknown customer
    path = write(tmp_path / "i.csv", text)
    r = crm("import", "interactions", path)
    assert summary(r.output) == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 3}
    reasons = " ".join(row[2] for row in report(tmp_path / "i.rejected.csv")[1:])
    assert "external_id" in reasons and "occurred_at" in reasons and "ZZ" in reasons
    items = customer_svc.timeline(ctx, customer_svc.get_by_code(ctx, "T1").id)
    assert [(i.subject, i.channel, i.direction, i.source) for i in items] == [
        ("Visit", "visit", "inbound", "cli"), ("First call", "phone", "outbound", "cli")]
    assert items[1].occurred_at.hour == 2  # stored in UTC
    assert summary(crm("import", "interactions", path).output)["unchanged"] == 2
    r = crm("import", "interactions", write(tmp_path / "j.csv", text.replace("First call", "First call (ok)")))
    assert summary(r.output) == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 3}
    assert count(rt, Interaction) == 2
    assert count(rt, AuditLog, AuditLog.entity == "interaction", AuditLog.action == "updated") == 1


def test_bulk_api_per_kind(client: Any, ctx: Any, make_user: Any, admin_headers: dict[str, str]) -> None:
    r = client.post("/api/v1/customers/bulk", headers=admin_headers, json={"customers": [
        {"code": "A1", "name": "Api Co", "contacts": [{"name": "Ann", "email": "ann@example.com"}],
         "addresses": [{"line1": "1 Main St", "country": "US"}], "tags": ["api"]},
        {"code": "A2"},
        "not an object"]})
    assert r.status_code == 422  # a row that is no object: the body is refused, as before
    r = client.post("/api/v1/customers/bulk", headers=admin_headers, json={"customers": [
        {"code": "A1", "name": "Api Co", "contacts": [{"name": "Ann", "email": "ann@example.com"}],
         "addresses": [{"line1": "1 Main St", "country": "US"}], "tags": ["api"]},
        {"code": "A2"}]})
    assert r.status_code == 200, r.json
    assert r.json["summary"] == {"created": 1, "rejected": 1}
    first, second = r.json["results"]
    assert first["status"] == "created" and first["code"] == "A1" and first["index"] == 1 and first["errors"] == {}
    assert {k: second[k] for k in ("index", "status", "id", "code")} == {
        "index": 2, "status": "rejected", "id": None, "code": "A2"}
    assert list(second["errors"]) == ["name"]
    a1 = customer_svc.get_by_code(ctx, "A1")
    assert [c.email_normalized for c in a1.contacts] == ["ann@example.com"] and a1.addresses[0].country == "US"
    r = client.post("/api/v1/customers/bulk", headers=admin_headers,
                    json={"customers": [{"code": f"X{i}", "name": "x"} for i in range(1001)]})
    assert r.status_code == 413 and "At most 1000 rows" in r.json["message"] and "customers" in r.json["errors"]
    assert client.post("/api/v1/customers/bulk", headers=admin_headers, json={"customers": []}).status_code == 422
    r = client.post("/api/v1/customers/bulk", headers=admin_headers, json={"customers": [{"code": "Z", "name": "Z"}],
                                                                         "audit": "everything"})
    assert r.status_code == 422 and "audit" in str(r.json["errors"]), r.json
    _rep, rep = make_user("sales")
    assert client.post("/api/v1/customers/bulk", headers=rep, json={"customers": [{"name": "x"}]}).status_code == 403
    assert client.post("/api/v1/customers/bulk", json={"customers": [{"name": "x"}]}).status_code == 401


def test_bulk_api_of_contacts_and_interactions(client: Any, ctx: Any, admin_headers: dict[str, str]) -> None:
    customer_svc.create_customer(ctx, {"code": "K1", "name": "Kontakt Co"})
    r = client.post("/api/v1/contacts/bulk", headers=admin_headers, json={"contacts": [
        {"customer_code": "K1", "name": "Bo", "external_id": "E1"}, {"customer_code": "K9", "name": "Cy"}]})
    assert r.status_code == 200, r.json
    assert [(x["status"], x["external_id"]) for x in r.json["results"]] == [("created", "E1"), ("rejected", None)]
    assert "K9" in r.json["results"][1]["errors"]["customer_code"][0]
    r = client.post("/api/v1/interactions/bulk", headers=admin_headers, json={"interactions": [
        {"external_id": "I1", "customer_code": "K1", "channel": "phone", "subject": "Hello",
         "occurred_at": "2026-11-23T10:00:00+08:00"}]})
    assert r.status_code == 200 and r.json["summary"] == {"created": 1}, r.json


def test_record_rules_apply_row_by_row(client: Any, ctx: Any, make_user: Any) -> None:
    """A manager imports within the team's scope: a code held outside it is rejected without naming the
    customer; a contact for a customer outside the scope is rejected too."""
    outsider, _h = make_user("sales", team="West", username="west")
    customer_svc.create_customer(ctx, {"code": "W1", "name": "Secret West Co", "owner_id": outsider.id})
    manager, headers = make_user("manager", team="East", username="east")
    r = client.post("/api/v1/customers/bulk", headers=headers, json={"customers": [
        {"code": "W1", "name": "Mine Now"}, {"code": "E1", "name": "East Co"}]})
    assert [x["status"] for x in r.json["results"]] == ["rejected", "created"]
    assert "Secret West" not in str(r.json["results"][0]["errors"])
    assert customer_svc.get_by_code(ctx, "W1").name == "Secret West Co"
    assert customer_svc.get_by_code(ctx, "E1").owner_id == manager.id
    r = client.post("/api/v1/contacts/bulk", headers=headers, json={"contacts": [
        {"customer_code": "W1", "name": "Spy"}, {"customer_code": "E1", "name": "Ok"}]})
    assert [x["status"] for x in r.json["results"]] == ["rejected", "created"]


def test_import_help_lists_the_kinds_and_their_columns(crm: Any) -> None:
    r = crm("import", "--help")
    assert r.exit_code == 0 and all(k in r.output for k in ("customers", "contacts", "interactions"))
    r = crm("import", "contacts", "--help")
    assert "customer_code (required)" in r.output and "--audit" in r.output and "--no-update" in r.output


def test_a_plugin_declares_its_kinds_with_crm_import_kinds(make_app: Any) -> None:
    import types

    from crmcore.imports import Column, ImportKind
    from crmcore.imports.driver import registered_kinds

    plugin = types.ModuleType("declared_kinds")
    plugin.CRM_IMPORT_KINDS = [ImportKind("widgets", "Widgets", "customer.import", "code", (Column("code"),),
                                          lambda ctx, rows, options: [], "widget")]
    app = make_app(plugins=[("declared_kinds", plugin)])
    kinds = registered_kinds(app.extensions["crm"].context())
    assert {"customers", "contacts", "interactions", "widgets"} <= set(kinds)


def test_an_update_refused_by_a_plugin_leaves_the_customer_and_its_contacts_as_they_were(make_app: Any,
                                                                                         tmp_path: Path) -> None:
    """A ``crm_before_save`` that refuses a change rejects that row: nothing of it is written (not the
    contact it would have added), and the rows around it are."""
    from crmcore.errors import ValidationError

    class Guard:
        @hookimpl
        def crm_before_save(self, ctx: Any, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
            if entity == "customer" and not created and "industry" in changes and obj.industry == "forbidden":
                raise ValidationError("No.", errors={"industry": ["This industry is locked."]})

    app = make_app(plugins=[("guard", Guard())])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    for code in ("G1", "G2"):
        customer_svc.create_customer(ctx, {"code": code, "name": f"Guarded {code}"})
    from crmcore.cli import cli

    text = ("code,name,industry,contact.name\n"
            "G1,Guarded G1,forbidden,New Person\n"
            "G2,Guarded G2,tea,Other Person\n")
    r = app.test_cli_runner().invoke(cli, ["import", "customers", write(tmp_path / "g.csv", text)])
    assert r.exception is None, repr(r.exception)
    assert summary(r.output) == {"created": 0, "updated": 1, "unchanged": 0, "rejected": 1}
    assert "locked" in (tmp_path / "g.rejected.csv").read_text(encoding="utf-8-sig")
    s = rt.db.new_session()
    g1, g2 = (s.scalar(select(Customer).where(Customer.code == c)) for c in ("G1", "G2"))
    assert (g1.industry, [c.name for c in g1.contacts], g1.version) == (None, [], 1)
    assert (g2.industry, [c.name for c in g2.contacts]) == ("tea", ["Other Person"])
    assert g2.completeness == customer_svc.completeness_of(rt.context(session=s), g2)[0]
    s.close()
    ctx.session.close()


def test_listing_the_import_commands_leaves_no_session_open(app: Any) -> None:
    """``crm import --help`` outside an app context (the kinds are looked up through the ScriptInfo's app)
    closes the session it used: none is left in the thread's scoped session."""
    import click
    from flask import has_app_context
    from flask.cli import ScriptInfo

    from crmcore.imports.cli import import_group

    runtime = app.extensions["crm"]
    runtime.db.session.remove()
    assert not has_app_context()
    with click.Context(import_group, obj=ScriptInfo(create_app=lambda: app)) as click_ctx:
        names = import_group.list_commands(click_ctx)
        assert import_group.get_command(click_ctx, "customers") is not None
    assert {"customers", "contacts", "interactions"} <= set(names)
    assert not runtime.db.session.registry.has()
