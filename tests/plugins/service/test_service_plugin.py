"""The service plugin as a third party: entry point, permissions for the default roles, its
Alembic branch (matches the models, upgrades and downgrades), the SLA job and CLI, the customer
panel, works without the sales plugin, imports only crmcore."""
from __future__ import annotations

import ast
import datetime as dt
import json
from importlib.metadata import entry_points
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from crmcore.db import Base
from crmcore.models import Role
from crmcore.plugins import build_plugin_manager, register_commands
from crmcore.runtime import build_runtime
from plugins.service.services import sla, tickets

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "service"


def test_registered_as_an_entry_point_and_loaded_alone():
    eps = {ep.name: ep.value for ep in entry_points(group="crmcore.plugins")}
    assert eps.get("service") == "plugins.service"
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": ["service"]})
    assert pm.get_plugin("service") is not None and pm.get_plugin("sales") is None
    assert pm.crm_plugin_info["service"].source == "entry point"


def test_default_roles_get_service_permissions(ctx):
    perms = {r.name: set(r.permissions) for r in ctx.session.scalars(select(Role))}
    assert {"service.ticket.write", "service.visit.write", "service.quality.write"} <= perms["service"]
    assert "service.sla.manage" in perms["manager"] and "service.sla.manage" not in perms["service"]
    assert "service.ticket.read" in perms["analyst"] and "service.ticket.write" not in perms["analyst"]
    assert "service.intake" not in perms["sales"]


def test_migration_matches_the_models_and_downgrades(tmp_path):
    from crmcore import migrate

    rt = build_runtime({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.service"],
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path)})
    try:
        migrate.upgrade(rt)
        tables = {t for t in Base.metadata.tables if t.startswith("service_")}
        assert len(tables) == 15 and tables <= set(inspect(rt.db.engine).get_table_names())
        with rt.db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diff if "service_" in repr(d)] == []
        command.downgrade(migrate.alembic_config(rt), "service@base")
        assert not tables & set(inspect(rt.db.engine).get_table_names())
        assert "customers" in inspect(rt.db.engine).get_table_names()
    finally:
        rt.db.dispose()


def test_imports_only_crmcore_and_never_sales():
    for path in PLUGIN_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                assert not name.startswith(("plugins.sales", "adapters")), f"{path}: {name}"


def test_sla_job_and_cli(app, ctx, rt):
    import crmcore.cli

    job = rt.registry.jobs["service.sla_check"]
    assert job.interval == 300
    sla.save_policy(ctx, {"name": "Normal", "priority": "normal", "first_response_minutes": 30,
                          "resolution_minutes": 60})
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    t = tickets.create_ticket(ctx, {"subject": "Old"}, now=old)
    register_commands(rt.pm, crmcore.cli.cli)
    try:
        runner = app.test_cli_runner()
        result = runner.invoke(crmcore.cli.cli, ["service", "sla-check", "--json"])
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert sorted(b["target"] for b in found) == ["first_response", "resolution"]
        assert all(b["number"] == t.number for b in found)
        assert "0 new breach(es)." in runner.invoke(crmcore.cli.cli, ["service", "sla-check"]).output
        token = runner.invoke(crmcore.cli.cli, ["service", "link", str(t.id)]).output.strip()
        assert app.test_client().get(f"/service/portal/t/{token}").status_code == 200
    finally:
        crmcore.cli.cli.commands.pop("service", None)
    # the job function does the same (a new overdue ticket)
    tickets.create_ticket(ctx, {"subject": "Older"}, now=old)
    job.func(rt.context(source="job"))
    ctx.session.expire_all()
    assert all(x.first_response_breached_at for x in tickets.list_tickets(ctx)[0])


def test_customer_panel(ctx, make_customer, client, admin_headers):
    customer = make_customer("Panel Co")
    tickets.create_ticket(ctx, {"subject": "Open one", "customer_id": customer.id})
    res = client.get(f"/api/v1/customers/{customer.id}/panels", headers=admin_headers)
    assert res.status_code == 200, res.json
    panel = next(p for p in res.json if p["key"] == "service")
    assert panel["items"][0]["subject"] == "Open one"


def test_demo_data_is_idempotent(ctx, rt):
    from crmcore.demo import load_demo as core_demo
    from plugins.service.models import Ticket, Visit
    from plugins.service.services.demo import load_demo

    assert load_demo(ctx) == "Load the core demo first: crm demo"
    core_demo(ctx)
    summary = [line for group in rt.pm.hook.crm_demo_data(ctx=ctx) for line in group]
    assert summary and summary[0].startswith("Service demo data: 5 tickets")
    states = {t.subject: t.state for t in ctx.session.scalars(select(Ticket))}
    assert states["发票抬头变更"] == "resolved" and states["到货包装破损"] == "waiting_on_customer"
    assert all(t.assignee_id is not None and t.sla_policy_id is not None for t in ctx.session.scalars(select(Ticket)))
    assert len(ctx.session.scalars(select(Visit)).all()) == 1
    assert load_demo(ctx) == "Service demo data is already there."
    assert len(ctx.session.scalars(select(Ticket)).all()) == 5
