"""The loyalty plugin end to end: entry point, migration, event listener, API, panel,
custom field type, merge, admin page and CLI command."""
from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

import crm_plugin_loyalty
from crm_plugin_loyalty import services
from crm_plugin_loyalty.models import LoyaltyPoints
from crmcore import migrate
from crmcore.cli import cli
from crmcore.db import Base
from crmcore.errors import PermissionDenied, ValidationError
from crmcore.plugins import register_commands
from crmcore.runtime import build_runtime
from crmcore.services import custom_fields, customers, dedupe, interactions


def log_call(ctx, customer_id, subject="Called about the order"):
    return interactions.log_interaction(ctx, customer_id, {"channel": "phone", "subject": subject})


def test_installed_under_the_entry_point_group():
    eps = {ep.name: ep for ep in entry_points(group="crmcore.plugins")}
    assert eps["loyalty"].value == "crm_plugin_loyalty"
    assert eps["loyalty"].load() is crm_plugin_loyalty


def test_imports_nothing_of_the_crm_but_crmcore():
    """A third-party plugin depends on crmcore only (plus the plugins it names in CRM_REQUIRES)."""
    package = Path(crm_plugin_loyalty.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            assert not {n.split(".")[0] for n in names} & {"plugins", "adapters"}, path
    assert crm_plugin_loyalty.CRM_REQUIRES == ()


def test_migration_branch_builds_the_models_table(tmp_path):
    rt = build_runtime({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}", "INSTANCE_PATH": str(tmp_path),
                        "PLUGINS_AUTOLOAD": False}, plugins=[("loyalty", crm_plugin_loyalty)])
    try:
        migrate.upgrade(rt)
        assert "0001_loyalty" in migrate.current_heads(rt)
        assert inspect(rt.db.engine).has_table("loyalty_points")
        with rt.db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diffs if "loyalty_points" in repr(d)] == []
    finally:
        rt.db.dispose()


def test_each_interaction_earns_points_once(make_app):
    app = make_app(LOYALTY_POINTS_PER_INTERACTION=3)
    ctx = app.extensions["crm"].context(source="test")
    customer = customers.create_customer(ctx, {"name": "Loyal Trading"})
    log_call(ctx, customer.id)
    log_call(ctx, customer.id, "Visited the shop")
    assert services.points_of(ctx, customer.id) == 6
    entries = ctx.session.scalars(select(LoyaltyPoints).order_by(LoyaltyPoints.id)).all()
    assert [e.points for e in entries] == [3, 3] and all(e.event_id for e in entries)

    # the same event delivered again pays nothing
    from crmcore.contracts import Event

    again = Event("interaction.created", "interaction", 1, {"customer_id": customer.id}, id=entries[0].event_id)
    crm_plugin_loyalty.crm_event(ctx, again)
    assert services.points_of(ctx, customer.id) == 6


def test_an_import_of_interactions_pays_each_once_in_a_few_commits(make_app):
    """The listener joins the unit of work of the events' dispatch: an import of many interactions is not a
    commit (nor a flush) per event; every interaction still pays once, with its audit entry and event."""
    from sqlalchemy import event, func

    from crmcore.imports.driver import get_kind, import_rows
    from crmcore.models import AuditLog

    app = make_app(LOYALTY_POINTS_PER_INTERACTION=2)
    ctx = app.extensions["crm"].context(source="test")
    first = customers.create_customer(ctx, {"name": "Import Loyal One", "code": "LOY-1"})
    second = customers.create_customer(ctx, {"name": "Import Loyal Two", "code": "LOY-2"})
    rows = [{"external_id": f"M-{i}", "customer_code": f"LOY-{1 + i % 2}", "channel": "phone",
             "subject": f"Call {i}", "occurred_at": "2026-11-01T10:00:00+08:00"} for i in range(120)]
    commits: list[int] = []
    engine = ctx.session.get_bind()
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        results = import_rows(ctx, get_kind(ctx, "interactions"), rows)
    finally:
        event.remove(engine, "commit", listener)
    assert {r.status for r in results} == {"created"}
    assert (services.points_of(ctx, first.id), services.points_of(ctx, second.id)) == (120, 120)
    assert ctx.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity == "loyalty_points")) == 120
    assert len(commits) < 10, len(commits)  # the import's, the dispatch's, the awards' events': not 120+


def test_api_balance_and_award(client, ctx, make_user):
    rep, rep_headers = make_user("sales")
    _, other_rep = make_user("sales")
    _, manager = make_user("manager")
    customer = customers.create_customer(ctx, {"name": "API Trading", "owner_id": rep.id})
    log_call(ctx, customer.id)
    url = f"/api/v1/loyalty/customers/{customer.id}"

    assert client.get(url).status_code == 401
    r = client.get(url, headers=rep_headers)
    assert r.status_code == 200, r.json
    assert (r.json["customer_id"], r.json["points"], r.json["tier"]) == (customer.id, 1, "bronze")
    assert r.json["entries"][0]["reason"].startswith("Interaction ")
    assert client.get(url, headers=other_rep).status_code == 403  # not their customer
    assert client.get("/api/v1/loyalty/customers/999999", headers=rep_headers).status_code == 404

    assert client.post(f"{url}/points", json={"points": 50, "reason": "Gift"}, headers=rep_headers).status_code == 403
    r = client.post(f"{url}/points", json={"points": 49, "reason": "Anniversary"}, headers={**manager})
    # the manager's scope is the team; this customer is the rep's, outside any team
    assert r.status_code == 403
    _, admin = make_user("admin")
    r = client.post(f"{url}/points", json={"points": 49, "reason": "Anniversary"}, headers=admin)
    assert r.status_code == 201 and r.json["points"] == 49
    assert client.get(url, headers=rep_headers).json["tier"] == "silver"
    r = client.post(f"{url}/points", json={"points": 0, "reason": ""}, headers=admin)
    assert r.status_code == 422
    assert "/api/v1/loyalty/customers/{customer_id}" in client.get("/api/openapi.json", headers=admin).json["paths"]


def test_award_checks_permissions_and_input(ctx, make_user, app):
    rep, _ = make_user("sales")
    customer = customers.create_customer(ctx, {"name": "Rules Co", "owner_id": rep.id})
    as_rep = app.extensions["crm"].context(actor=rep, source="test")
    with pytest.raises(PermissionDenied):
        services.award(as_rep, customer.id, 5, "Because")
    with pytest.raises(ValidationError) as err:
        services.award(ctx, customer.id, 0, " ")
    assert set(err.value.errors) == {"points", "reason"}


def test_customer_panel(client, ctx, make_user):
    rep, headers = make_user("sales")
    customer = customers.create_customer(ctx, {"name": "Panel Trading", "owner_id": rep.id})
    services.award(ctx, customer.id, 120, "Big order")
    panels = {p["key"]: p for p in client.get(f"/api/v1/customers/{customer.id}/panels", headers=headers).json}
    assert panels["loyalty"]["title"] == "Loyalty"
    assert panels["loyalty"]["rows"] == [["Points", 120], ["Tier", "Gold"]]
    # the plugin's own catalogue (crm_register_translations) serves a Chinese reader
    zh = client.get(f"/api/v1/customers/{customer.id}/panels", headers={**headers, "Accept-Language": "zh-CN"}).json
    loyalty = {p["key"]: p for p in zh}["loyalty"]
    assert loyalty["title"] == "会员积分" and loyalty["rows"] == [["积分", 120], ["等级", "金牌"]]


def test_every_string_of_the_plugin_is_translated():
    """Fails when a string marked with _() has no zh_CN translation in the plugin's catalogue."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    package = Path(crm_plugin_loyalty.__file__).parent
    marked = {m for _f, _l, m, _c, _x in extract_from_dir(str(package), [("**.py", "python")], keywords={"_": None})}
    with (Path(crm_plugin_loyalty.__file__).parent / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalogue = read_po(fh)
    assert marked and sorted(m for m in marked if not (catalogue.get(m) and catalogue.get(m).string)) == []


def test_loyalty_tier_field_type(ctx):
    custom_fields.create_field(ctx, {"name": "tier", "label": "Tier", "type": "loyalty_tier"})
    customer = customers.create_customer(ctx, {"name": "Tier Co", "attributes": {"tier": " Gold "}})
    assert customer.attributes == {"tier": "gold"}
    with pytest.raises(ValidationError) as err:
        customers.update_customer(ctx, customer.id, {"attributes": {"tier": "platinum"}})
    assert err.value.errors["attributes"]["tier"] == ["Must be bronze, silver or gold."]


def test_points_follow_a_merge_and_its_undo(ctx):
    winner = customers.create_customer(ctx, {"name": "Winner Trading"})
    loser = customers.create_customer(ctx, {"name": "Winner Trading Co"})
    services.award(ctx, winner.id, 10, "Order")
    services.award(ctx, loser.id, 5, "Order")
    summary = dedupe.merge_customers(ctx, winner.id, loser.id)
    assert summary["moved"]["loyalty_points"] == 1
    assert services.points_of(ctx, winner.id) == 15
    dedupe.unmerge(ctx, summary["audit_id"])
    assert (services.points_of(ctx, winner.id), services.points_of(ctx, loser.id)) == (10, 5)


def test_admin_page(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=False)
    ctx = app.extensions["crm"].context(source="test")
    admin, _ = make_user("admin")
    customer = customers.create_customer(ctx, {"name": "Admin Trading"})
    services.award(ctx, customer.id, 7, "Welcome gift")
    client = app.test_client()
    assert client.get("/admin/loyalty_points/").status_code == 302  # log in first
    with client.session_transaction() as sess:
        sess["_user_id"] = admin.get_id()
        sess["_fresh"] = True
    r = client.get("/admin/loyalty_points/")
    assert r.status_code == 200 and "Welcome gift" in r.get_data(as_text=True)
    r = client.post("/admin/loyalty_points/new/", data={"customer_id": customer.id, "points": 3, "reason": "By hand"})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert services.points_of(ctx, customer.id) == 10


def test_cli_command(app, ctx):
    customer = customers.create_customer(ctx, {"name": "CLI Trading"})
    services.award(ctx, customer.id, 25, "Order")
    register_commands(app.extensions["crm"].pm, cli)  # what `crm` does at start
    try:
        result = app.test_cli_runner().invoke(cli, ["loyalty", "show", str(customer.id)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "25 points (silver)"
    finally:
        cli.commands.pop("loyalty", None)
