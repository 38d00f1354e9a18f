"""The hooks of the CLI, scheduled work, OA providers, workflow and approvals: one test each, named
``test_hook_<hook name>``, as in test_hooks.py (split off to keep each test file short);
tests/crmcore/test_docs.py looks for each hook's test in both files.
"""
from __future__ import annotations

import datetime as dt
import sys
from types import SimpleNamespace
from typing import Any

import click
import pytest
from flask import current_app
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy import func, select

from crmcore import hookimpl
from crmcore.contracts import Job
from crmcore.db import utcnow
from crmcore.errors import ValidationError
from crmcore.models import AuditLog, Customer, Tag
from crmcore.services import customers as customer_svc
from crmcore.services import jobs
from crmcore.services import users as user_svc




# ---------------------------------------------------------------------------
# CLI and scheduled work
# ---------------------------------------------------------------------------


def test_hook_crm_register_commands(make_app, monkeypatch, capsys):
    from crmcore import cli as cli_mod

    class Plugin:
        @hookimpl
        def crm_register_commands(self, cli):
            @cli.command("hooktest-hello")
            @click.argument("name")
            def hello(name: str) -> None:
                """Say hello (from the hook test plugin)."""
                rt = current_app.extensions["crm"]
                click.echo(f"hello {name}, {len(rt.registry.permissions)} permissions")

    app = make_app(plugins=[("hooktest", Plugin())])
    rt = app.extensions["crm"]
    try:
        # the `crm` console script calls the hook before running the command
        monkeypatch.setattr(cli_mod, "_runtime", {"rt": rt})
        monkeypatch.setattr(sys, "argv", ["crm", "hooktest-hello", "world"])
        with pytest.raises(SystemExit) as exit_:
            cli_mod.main()
        assert exit_.value.code == 0
        assert f"hello world, {len(rt.registry.permissions)} permissions" in capsys.readouterr().out

        result = app.test_cli_runner().invoke(cli_mod.cli, ["hooktest-hello", "again"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("hello again")
        assert "hooktest-hello" in app.test_cli_runner().invoke(cli_mod.cli, ["--help"]).output
    finally:
        cli_mod.cli.commands.pop("hooktest-hello", None)


def test_hook_crm_demo_data(make_app):
    from crmcore import cli as cli_mod

    seen: list[int] = []

    class Plugin:
        @hookimpl
        def crm_demo_data(self, ctx):
            # the core's demo customers exist already; report once per run, create once in all
            from crmcore.models import Customer

            count = ctx.session.scalar(select(func.count()).select_from(Customer))
            seen.append(count)
            return [f"hooktest: saw {count} customers"]

    app = make_app(plugins=[("hooktest", Plugin())])
    result = app.test_cli_runner().invoke(cli_mod.cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert seen and seen[0] > 0
    assert f"\nhooktest: saw {seen[0]} customers\n" in result.output  # a line of its own, not a list
    again = app.test_cli_runner().invoke(cli_mod.cli, ["demo"])
    assert again.exit_code == 0 and seen[1] == seen[0]  # the core's demo is idempotent too


def test_hook_crm_register_checks(make_app):
    """A plugin's checks run after the core's; an error finding fails ``crm check``; a check that
    raises is reported by name and does not stop the others."""
    from crmcore.checks import run_checks
    from crmcore.contracts import Check, Finding

    def shop(ctx: Any) -> list[Finding]:
        return [Finding("error", "shop", "The shop cannot be reached.")]

    def broken(ctx: Any) -> list[Finding]:
        raise RuntimeError("no shop settings")

    class Plugin:
        @hookimpl
        def crm_register_checks(self):
            return [Check("hooktest.shop", shop), Check("hooktest.broken", broken)]

    app = make_app(plugins=[("hooktest", Plugin())])
    with app.app_context():
        findings = run_checks(app.extensions["crm"].context(source="cli"))
    topics = [f.topic for f in findings]
    assert topics.index("secret_key") < topics.index("shop")  # the core's first
    assert Finding("error", "shop", "The shop cannot be reached.") in findings
    [failed] = [f for f in findings if f.topic == "hooktest.broken"]
    assert failed.level == "error" and "hooktest.broken" in failed.message and "no shop settings" in failed.message
    assert [t for t in topics if t.startswith(("shop", "hooktest"))] == ["shop", "hooktest.broken"]


def test_hook_crm_register_import_kinds(make_app, make_user, tmp_path):
    """A plugin's kind (here: tags by name) is imported by `crm import <kind> FILE` and its bulk endpoint,
    through the core's driver: batches, per-row results, rejects with reasons, idempotent re-runs."""
    from sqlalchemy import insert as sql_insert

    from crmcore.errors import PluginError
    from crmcore.imports import CREATED, REJECTED, UNCHANGED, Column, ImportKind, RowResult
    from crmcore.imports.api import add_bulk_route
    from crmcore.imports.driver import record

    def load(ctx, rows, options):
        names = [raw.get("name", "") for _line, raw in rows]
        have = {t.name: t.id for t in ctx.session.scalars(select(Tag).where(Tag.name.in_(names)))}
        out, new = [], []
        for line, raw in rows:
            name = raw.get("name", "")
            if not name or len(name) > 120:
                out.append(RowResult(line, REJECTED, key=name, errors={"name": ["1 to 120 characters."]}))
            elif name in have:
                out.append(RowResult(line, UNCHANGED, have[name], name))
            else:
                new.append(len(out))
                out.append(RowResult(line, CREATED, None, name))
        if new:
            ids = ctx.session.execute(sql_insert(Tag.__table__).returning(Tag.__table__.c.id, sort_by_parameter_order=True),
                                      [{"name": out[i].key} for i in new]).scalars().all()
            for i, tag_id in zip(new, ids, strict=True):
                out[i].id = tag_id
            record(ctx, options, [("tag", "created", out[i].id, {"name": [None, out[i].key]}, None) for i in new])
        return out

    kind = ImportKind("hooktags", "Tags", "customer.import", "name", (Column("name", "Tag name", required=True),),
                      load, "tag", batch_size=2, api_max_rows=3)
    blp = ApiBlueprint("hooktest_tags", __name__, url_prefix="/api/v1/hooktest-tags", description="Hook test")
    add_bulk_route(blp, "hooktags")

    class Plugin:
        @hookimpl
        def crm_register_import_kinds(self):
            return [kind]

        @hookimpl
        def crm_register_blueprints(self):
            return [blp]

    app = make_app(plugins=[("hooktest", Plugin())])
    from crmcore.cli import cli

    path = tmp_path / "tags.csv"
    path.write_text("name\nalpha\nbeta\n\ngamma\nalpha\n" + "x" * 121 + "\n", encoding="utf-8")
    runner = app.test_cli_runner()
    assert "hooktags" in runner.invoke(cli, ["import", "--help"]).output
    r = runner.invoke(cli, ["import", "hooktags", str(path)])
    assert r.exit_code == 0, r.output
    assert "5 rows read: created 3, updated 0, unchanged 1, rejected 1" in r.output
    assert "line 7" not in r.output and "1 to 120" in (tmp_path / "tags.rejected.csv").read_text(encoding="utf-8-sig")
    r = runner.invoke(cli, ["import", "hooktags", str(path), "--audit", "summary"])
    assert "created 0, updated 0, unchanged 4, rejected 1" in r.output
    s = app.extensions["crm"].db.new_session()
    assert sorted(s.scalars(select(Tag.name))) == ["alpha", "beta", "gamma"]
    assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "tag",
                                                                    AuditLog.action == "created")) == 3
    summaries = s.scalars(select(AuditLog).where(AuditLog.entity == "tag", AuditLog.action == "imported")).all()
    assert [a.data["rows"] for a in summaries] == [2, 2, 1]  # one entry per batch of two rows
    s.close()
    assert runner.invoke(cli, ["import", "nothing", str(path)]).exit_code != 0

    client = app.test_client()
    _user, headers = make_user("manager", username="boss")
    r = client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": "delta"}, {"name": "alpha"}, {"nam": "x"}]},
                    headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["summary"] == {"created": 1, "unchanged": 1, "rejected": 1}
    assert [(x["index"], x["status"], x["name"]) for x in r.json["results"]] == [
        (1, "created", "delta"), (2, "unchanged", "alpha"), (3, "rejected", None)]
    assert r.json["results"][2]["errors"] == {"nam": ["Unknown field."]}
    r = client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": str(i)} for i in range(4)]}, headers=headers)
    assert r.status_code == 413 and "At most 3 rows" in r.json["message"]
    _rep, rep_headers = make_user("sales", username="rep")
    assert client.post("/api/v1/hooktest-tags/bulk", json={"hooktags": [{"name": "x"}]},
                       headers=rep_headers).status_code == 403

    class Twin:
        @hookimpl
        def crm_register_import_kinds(self):
            return [kind]

    twin = make_app(plugins=[("hooktest", Plugin()), ("twin", Twin())])
    from crmcore.imports.driver import registered_kinds

    with pytest.raises(PluginError, match="hooktags"):
        registered_kinds(twin.extensions["crm"].context())


def test_hook_crm_register_jobs(make_app):
    runs: list[str] = []

    def tick(ctx: Any) -> None:
        runs.append(ctx.source)

    def boom(ctx: Any) -> None:
        raise RuntimeError("the nightly export failed")

    class Plugin:
        @hookimpl
        def crm_register_jobs(self):
            return [Job("hooktest.tick", tick, 60, "Tick every minute"), Job("hooktest.boom", boom, 3600)]

    app = make_app(plugins=[("hooktest", Plugin())])
    ctx = app.extensions["crm"].context(source="scheduler")
    assert {"hooktest.tick", "hooktest.boom", "outbox.deliver"} <= set(ctx.registry.jobs)

    statuses = jobs.run_due(ctx)
    assert statuses["hooktest.tick"] == "ok" and statuses["hooktest.boom"] == "failed"
    assert runs == ["scheduler"]
    # not due again before its interval has passed, due after
    assert "hooktest.tick" not in jobs.run_due(ctx, now=utcnow() + dt.timedelta(seconds=30))
    assert jobs.run_due(ctx, now=utcnow() + dt.timedelta(seconds=61))["hooktest.tick"] == "ok"
    assert runs == ["scheduler", "scheduler"]

    state = jobs.run_job(ctx, "hooktest.boom")
    assert state.last_status == "failed" and "the nightly export failed" in state.last_error
    assert jobs.run_job(ctx, "hooktest.tick").last_status == "ok"


def test_the_scheduler_thread_runs_jobs_in_the_apps_context(make_app):
    """``crm serve``'s scheduler: jobs see the app (current_app, translations) as under ``crm jobs``."""
    import threading

    from flask import current_app, has_app_context

    seen: list[Any] = []
    ran = threading.Event()

    def job(ctx: Any) -> None:
        seen.append((has_app_context() and current_app.name, ctx.source))
        ran.set()

    class Plugin:
        @hookimpl
        def crm_register_jobs(self):
            return [Job("hooktest.context", job, 3600)]

    app = make_app(plugins=[("hooktest", Plugin())])
    stop = jobs.start_scheduler(app.extensions["crm"], tick=0.05, app=app)
    try:
        assert ran.wait(10)
    finally:
        stop.set()
        for thread in threading.enumerate():  # let its tick end before the database is wiped
            if thread.name == "crm-scheduler":
                thread.join(10)
    assert seen[0] == (app.name, "scheduler")


# ---------------------------------------------------------------------------
# Integration: OA approval providers (the ERP adapter's hooks: tests/adapters/erp/test_hooks.py)
# ---------------------------------------------------------------------------


def test_hook_crm_register_oa_providers(make_app):
    class HookTestOA:
        name = "hooktest-oa"

    plugin = SimpleNamespace(crm_register_oa_providers=hookimpl(lambda: [HookTestOA]))
    rt = make_app(plugins=[("hooktest", plugin)]).extensions["crm"]
    assert rt.registry.oa_providers["hooktest-oa"] is HookTestOA


def test_hook_crm_startup(make_app):
    seen: list[Any] = []

    class Plugin:
        @hookimpl
        def crm_startup(self, app):
            # called at the end of create_app: the runtime and the API are in place
            seen.append((app, app.extensions["crm"].pm.get_plugin("hooktest") is self,
                         any(r.rule == "/api/v1/customers" for r in app.url_map.iter_rules())))

    plugin = Plugin()
    app = make_app(plugins=[("hooktest", plugin)])
    assert seen == [(app, True, True)]


# ---------------------------------------------------------------------------
# Workflow and approvals
# ---------------------------------------------------------------------------


def _lifecycle(actions_on_customer: list[Any] | None = None, entity: str = "customer", policy: str | None = None) -> dict:
    return {"name": f"hooktest-{entity}", "entity": entity, "state_field": "stage",
            "states": [{"name": "lead"}, {"name": "customer", "actions": actions_on_customer or []}],
            "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer", "policy": policy}]}


def test_hook_crm_register_condition_predicates(make_app):
    from crmcore.contracts_workflow import Predicate
    from crmcore.errors import PluginError
    from crmcore import conditions

    class Plugin:
        @hookimpl
        def crm_register_condition_predicates(self):
            return [Predicate("hooktest.vip", lambda ctx, rec, args: rec.name.startswith(args["prefix"]), "VIP",
                              lambda args: [] if "prefix" in args else ["give 'prefix'"])]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    vip = customer_svc.create_customer(ctx, {"name": "VIP Acme"})
    plain = customer_svc.create_customer(ctx, {"name": "Plain"})
    condition = {"predicate": "hooktest.vip", "args": {"prefix": "VIP"}}
    assert conditions.evaluate(condition, vip, ctx) and not conditions.evaluate(condition, plain, ctx)
    assert conditions.validate({"predicate": "hooktest.vip"}, ctx) == ["condition.args: give 'prefix'"]

    class Twin:
        @hookimpl
        def crm_register_condition_predicates(self):
            return [Predicate("hooktest.vip", lambda ctx, rec, args: True)]

    rt2 = make_app(plugins=[("hooktest", Plugin()), ("twin", Twin())]).extensions["crm"]
    with pytest.raises(PluginError, match="condition predicate 'hooktest.vip' is registered by both plugin"):
        conditions.validate(condition, rt2.context())


def test_hook_crm_register_workflow_actions(make_app):
    from crmcore.contracts_workflow import WorkflowAction
    from crmcore.services import workflow as wf_svc

    seen: list[Any] = []

    def welcome(ctx, record, params):
        if params.get("fail"):
            raise ValidationError("the welcome pack is out of stock")
        seen.append((record.name, record.stage, params))

    class Plugin:
        @hookimpl
        def crm_register_workflow_actions(self):
            return [WorkflowAction("hooktest.welcome", welcome, "Send a welcome pack")]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    wf = wf_svc.create_workflow(ctx, _lifecycle([{"name": "hooktest.welcome", "params": {"size": "L"}}]))
    acme = customer_svc.create_customer(ctx, {"name": "Acme"})
    wf_svc.fire(ctx, "customer", acme.id, "win")
    assert seen == [("Acme", "customer", {"size": "L"})]  # runs after the state moved, in the same transaction
    # an action that raises rolls the transition back
    wf_svc.update_workflow(ctx, wf.id, _lifecycle([{"name": "hooktest.welcome", "params": {"fail": True}}]))
    beta = customer_svc.create_customer(ctx, {"name": "Beta"})
    with pytest.raises(ValidationError, match="out of stock"):
        wf_svc.fire(ctx, "customer", beta.id, "win")
    check = rt.db.new_session()
    assert check.get(Customer, beta.id).stage == "lead"
    check.close()
    with pytest.raises(ValidationError) as err:
        wf_svc.create_workflow(ctx, {**_lifecycle(["hooktest.unknown"]), "name": "other"})
    assert "states.1.actions.0" in err.value.errors


def test_hook_crm_register_workflow_entities(make_app):
    from crmcore.contracts_workflow import WorkflowEntity
    from crmcore.errors import NotFound
    from crmcore.services import workflow as wf_svc

    loads: list[int] = []

    def load(ctx, record_id):
        loads.append(record_id)
        record = ctx.session.get(Customer, record_id)
        if record is None or record.kind != "organization":
            raise NotFound("no such account")
        return record

    class Plugin:
        @hookimpl
        def crm_register_workflow_entities(self):
            return [WorkflowEntity("hooktest_account", Customer, load, "owner_id", "Account", ("stage",))]

    rt = make_app(plugins=[("hooktest", Plugin())]).extensions["crm"]
    ctx = rt.context()
    wf_svc.create_workflow(ctx, _lifecycle(entity="hooktest_account"))
    org = customer_svc.create_customer(ctx, {"name": "Org", "kind": "organization"})
    person = customer_svc.create_customer(ctx, {"name": "Person", "kind": "person"})
    assert wf_svc.fire(ctx, "hooktest_account", org.id, "win") == {"status": "done", "state": "customer"}
    with pytest.raises(NotFound):
        wf_svc.fire(ctx, "hooktest_account", person.id, "win")
    assert loads == [org.id, person.id]
    with pytest.raises(ValidationError):  # without the plugin the entity is unknown
        wf_svc.create_workflow(make_app().extensions["crm"].context(), _lifecycle(entity="hooktest_account"))


def test_hook_crm_approval_completed(make_app):
    from crmcore.models import ApprovalRequest
    from crmcore.services import approvals
    from crmcore.services import workflow as wf_svc

    seen: list[Any] = []

    class Plugin:
        fail = False

        @hookimpl
        def crm_approval_completed(self, ctx, request, record):
            if self.fail:
                raise ValidationError("the ERP refuses the new customer")
            seen.append((request.status, request.action, record.name, record.stage))

    plugin = Plugin()
    rt = make_app(plugins=[("hooktest", plugin)]).extensions["crm"]
    ctx = rt.context()
    boss = user_svc.create_user(ctx, "boss", None, "manager")
    approvals.create_policy(ctx, {"name": "hooktest-policy", "entity": "customer",
                                  "tiers": [{"reviewers": [{"kind": "user", "value": "boss"}]}]})
    wf_svc.create_workflow(ctx, _lifecycle(policy="hooktest-policy"))
    acme = customer_svc.create_customer(ctx, {"name": "Acme"})
    request_id = wf_svc.fire(ctx, "customer", acme.id, "win")["request_id"]
    assert seen == []
    as_boss = rt.context(actor=boss, source="api", session=rt.db.new_session())
    plugin.fail = True
    with pytest.raises(ValidationError, match="ERP refuses"):
        approvals.decide(as_boss, request_id, True)
    check = rt.db.new_session()
    assert check.get(ApprovalRequest, request_id).status == "pending"  # rolled back with the hook
    assert check.get(Customer, acme.id).stage == "lead"
    check.close()
    plugin.fail = False
    as_boss.session.close()
    as_boss = rt.context(actor=boss, source="api", session=rt.db.new_session())
    approvals.decide(as_boss, request_id, True)
    assert seen == [("approved", "win", "Acme", "customer")]  # after the transition was applied
    as_boss.session.close()


def test_hook_crm_register_audit_entities(make_app, make_user):
    """A plugin's audit entries: hidden from everyone but administrators until it registers the
    entity type; then shown to who holds its permission and sees the entry's customer."""
    from crmcore.contracts import AuditEntity
    from crmcore.events import audit
    from crmcore.services import audit_scope

    class Plugin:
        @hookimpl
        def crm_register_audit_entities(self):
            return [AuditEntity("hooktest_points", "customer.read", audit_scope.customer_in)]

    rep, _ = make_user("sales")
    other, _ = make_user("sales")
    for plugins, expected in (((), set()), ([("hooktest", Plugin())], {"mine"})):
        app = make_app(plugins=plugins)
        rt = app.extensions["crm"]
        ctx = rt.context(source="test")
        if not ctx.session.scalar(select(AuditLog.id).where(AuditLog.entity == "hooktest_points")):
            mine = customer_svc.create_customer(ctx, {"name": "Mine", "owner_id": rep.id})
            theirs = customer_svc.create_customer(ctx, {"name": "Theirs", "owner_id": other.id})
            audit(ctx, "created", "hooktest_points", 1, data={"customer_id": mine.id, "tag": "mine"})
            audit(ctx, "created", "hooktest_points", 2, data={"customer_id": theirs.id, "tag": "theirs"})
            ctx.session.commit()
        as_rep = rt.context(actor=ctx.session.get(type(rep), rep.id), source="test")
        seen = as_rep.session.scalars(audit_scope.scope_audit(as_rep, select(AuditLog).where(
            AuditLog.entity == "hooktest_points"))).all()
        assert {e.data["tag"] for e in seen} == expected
        assert len(ctx.session.scalars(audit_scope.scope_audit(ctx, select(AuditLog).where(
            AuditLog.entity == "hooktest_points"))).all()) == 2  # the system context (an administrator) sees all
        ctx.session.close()


# ---------------------------------------------------------------------------
# Messaging channels
# ---------------------------------------------------------------------------


def test_hook_crm_channels(make_app):
    from crmcore.channels import Outcome, Outgoing, providers

    class Sms:
        channel = "sms"

        def __init__(self, tag: str) -> None:
            self.tag = tag

        def address(self) -> Any:
            return Customer.phone_normalized

        def configured(self, ctx: Any) -> str | None:
            return None

        def send(self, ctx: Any, messages: list[Outgoing]) -> list[Outcome]:
            return [Outcome(m.recipient_id, m.address.startswith("+86"), None) for m in messages]

    class Early:
        @hookimpl(tryfirst=True)
        def crm_channels(self):
            return [Sms("early")]

    class Late:
        @hookimpl(trylast=True)
        def crm_channels(self):
            return [Sms("late")]

    app = make_app(plugins=[("early", Early()), ("late", Late())])
    ctx = app.extensions["crm"].context(source="test")
    found = providers(ctx)
    # pluggy calls tryfirst first and trylast last: the later answer for a channel replaces the earlier one
    assert found["sms"].tag == "late"
    outcomes = found["sms"].send(ctx, [Outgoing(1, "+8613800000000", "", None, "hi", "m1"),
                                       Outgoing(2, "12345", "", None, "hi", "m2")])
    assert [o.ok for o in outcomes] == [True, False]
