"""The analysis plugin end to end: CLV stored from orders, tag rules (validated, applied, removed),
the 7P profile, the admin dashboard's SVG charts and CSV downloads, the ``crm analyze`` commands,
the plugin's registration and its Alembic branch."""
from __future__ import annotations

import ast
import datetime as dt
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from crmcore.db import Base
from crmcore.errors import PluginError, ValidationError
from crmcore.models import Customer, Role
from crmcore.plugins import build_plugin_manager, register_commands
from crmcore.runtime import build_runtime
from plugins.analysis.models import ClvScore, ModelFit
from plugins.analysis.services import clv, rfm, tags
from crmcore.testing import admin_login

AS_OF = dt.date(2026, 6, 30)  # the conftest builders date orders back from this day
PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "analysis"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def shop(ctx: Any, make_customer: Any, buy: Any) -> list[Any]:
    """Twelve customers: i buys i % 4 + 1 times, 25 days apart, the last 8*i days ago."""
    people = []
    for i in range(12):
        c = make_customer(f"Client {i:02d}")
        for k in range(i % 4 + 1):
            buy(c, 8 * i + 25 * k, f"{20 + 15 * i}.00")
        people.append(c)
    return people


def test_clv_run_stores_predictions(ctx: Any, shop: list[Any]) -> None:
    result = clv.run_clv(ctx, AS_OF, months=6, monthly_discount=0.01)
    assert result["customers"] == 12
    rows = {r.customer_id: r for r in ctx.session.scalars(select(ClvScore).where(ClvScore.run_date == AS_OF))}
    assert set(rows) == {c.id for c in shop}
    first = rows[shop[3].id]  # 4 orders: 3 repeat purchase days, 75 days from first to last
    assert (first.repeat_purchases, first.t_x_days, first.age_days) == (3, 75, 24 + 75)
    assert str(first.average_spend) == "65.00"
    one_timer = rows[shop[0].id]
    assert one_timer.repeat_purchases == 0 and one_timer.p_alive is None  # BG/NBD would say 1: not shown
    assert all((r.p_alive is None) == (r.repeat_purchases == 0) for r in rows.values())
    assert all((r.p_alive is None or 0 < r.p_alive <= 1) and r.expected_purchases >= 0 and r.clv >= 0 for r in rows.values())
    assert {f.kind for f in ctx.session.scalars(select(ModelFit))} == {"bgnbd", "gamma_gamma"}
    # same history, more recent last purchase -> at least as likely alive (customers 1 and 5: 2 orders each)
    assert rows[shop[1].id].p_alive >= rows[shop[5].id].p_alive
    clv.run_clv(ctx, AS_OF)  # same day again: replaced, not doubled
    assert ctx.session.query(ClvScore).count() == 12
    bands = clv.clv_distribution(ctx, buckets=4)
    assert [b["customers"] for b in bands] == [3, 3, 3, 3] and bands[0]["max"] <= bands[1]["min"]


def test_clv_needs_customers(ctx: Any, make_customer: Any, buy: Any) -> None:
    buy(make_customer("Alone"), 3)
    with pytest.raises(ValidationError):
        clv.run_clv(ctx, AS_OF)


def test_tag_rules_apply_and_remove(app: Any, ctx: Any, shop: list[Any], buy: Any, make_user: Any,
                                   admin_headers: Any) -> None:
    client = app.test_client()
    manager = make_user("manager")[1]
    rep = make_user("sales")[1]
    rfm.run_rfm(ctx, AS_OF)
    bad = client.post("/api/v1/analysis/tag-rules", headers=manager,
                      json={"name": "x", "tag": "x", "conditions": {"field": "__class__", "op": "eq", "value": 1}})
    assert bad.status_code == 422 and "conditions.field" in bad.json["errors"]
    bad = client.post("/api/v1/analysis/tag-rules", headers=manager,
                      json={"name": "x", "tag": "x", "conditions": {"all": [{"field": "frequency", "op": "gte", "value": "1; DROP"}]}})
    assert bad.status_code == 422 and "conditions.all.0.value" in bad.json["errors"]
    assert client.post("/api/v1/analysis/tag-rules", headers=rep, json={"name": "r", "tag": "r", "conditions": {}}).status_code == 403
    res = client.post("/api/v1/analysis/tag-rules", headers=manager, json={
        "name": "Frequent buyers", "tag": "frequent",
        "conditions": {"all": [{"field": "frequency", "op": "gte", "value": 3}, {"not": {"field": "segment", "op": "eq", "value": "lost"}}]}})
    assert res.status_code == 201, res.json
    applied = client.post("/api/v1/analysis/tag-rules/apply", headers=admin_headers).json["applied"]
    expected = {c.id for i, c in enumerate(shop) if i % 4 + 1 >= 3}
    assert applied == {"Frequent buyers": len(expected)}

    def tagged() -> set[int]:
        ctx.session.expire_all()
        return {c.id for c in ctx.session.scalars(select(Customer)) if "frequent" in [t.name for t in c.tags]}

    assert tagged() == expected
    # tighten the rule: customers who no longer match lose the tag, the rest keep it
    rule_id = res.json["id"]
    patch = client.patch(f"/api/v1/analysis/tag-rules/{rule_id}", headers=manager,
                         json={"conditions": {"field": "frequency", "op": "gte", "value": 4}})
    assert patch.status_code == 200
    tags.apply_rules(ctx)
    assert tagged() == {c.id for i, c in enumerate(shop) if i % 4 == 3}
    assert client.delete(f"/api/v1/analysis/tag-rules/{rule_id}", headers=manager).status_code == 204
    assert client.get("/api/v1/analysis/tag-rules", headers=rep).json["items"] == []


def test_profile_7p(app: Any, ctx: Any, make_customer: Any, make_product: Any, buy: Any, make_user: Any) -> None:
    from plugins.sales.services.catalog import update_product

    rep, headers = make_user("sales")
    other = make_user("sales")[1]
    tea = make_product("Tea", "100.00", category="Drinks")
    cup = make_product("Cup", "50.00", category="Ware")
    update_product(ctx, tea.id, {"cost": "60.00"})
    c = make_customer("Seven P", rep, industry="Retail")
    buy(c, 40, products=[tea, cup])
    buy(c, 10, products=[tea], discount=10)
    rfm.run_rfm(ctx, AS_OF)
    assert app.test_client().get(f"/api/v1/analysis/customers/{c.id}/profile", headers=other).status_code == 403
    data = app.test_client().get(f"/api/v1/analysis/customers/{c.id}/profile", headers=headers).json
    assert data["profile"]["industry"] == "Retail"
    assert data["persistency"]["orders"] == 2 and data["persistency"]["mean_days_between_orders"] == 30.0
    money = data["profitability"]
    # tea lines 100 + 90 with cost 60 each; cup 50 without cost: margin over the costed lines only
    assert (money["revenue"], money["cost"], money["margin"]) == ("240.00", "120.00", "70.00")
    assert float(money["cost_coverage"]) == round(190 / 240, 4)
    assert {r["category"] for r in data["performance"]["by_category"]} == {"Drinks", "Ware"}
    assert data["promotion"]["discounted_lines"] == 1 and data["promotion"]["order_lines"] == 3
    assert data["prospecting"]["segment"] is not None
    panels = app.test_client().get(f"/api/v1/customers/{c.id}/panels", headers=headers)
    assert panels.status_code == 200
    ours = [p for p in panels.json if p["key"] == "analysis"]
    # the panel names the segment by its label, the API's profile by its key
    from plugins.analysis.services.segments import segment_labels

    assert ours and dict(ours[0]["rows"])["Segment"] == segment_labels(ctx)[data["prospecting"]["segment"]]


def test_profile_converts_every_currency(app: Any, ctx: Any, make_customer: Any, make_user: Any) -> None:
    """Orders and invoices in several currencies are added up in one currency, never as raw numbers."""
    from plugins.sales.services import money
    from plugins.sales.services.orders import record_order

    rep, headers = make_user("sales")
    money.set_rate(ctx, "USD", "7")
    c = make_customer("Two Currencies", rep)
    for n, (currency, price) in enumerate((("CNY", "100.00"), ("USD", "10.00"))):
        record_order(ctx, {"number": f"FX{n}", "customer_id": c.id, "status": "confirmed", "currency": currency,
                           "order_date": (AS_OF - dt.timedelta(days=5 + n)).isoformat(),
                           "lines": [{"description": "goods", "quantity": 1, "unit_price": price}]})
    client = app.test_client()
    data = client.get(f"/api/v1/analysis/customers/{c.id}/profile", headers=headers).json
    assert data["currency"] == "CNY" and data["profitability"]["revenue"] == "170.00"  # 100 + 10 x 7, not 110
    assert [r["amount"] for r in data["performance"]["by_category"]] == ["170.00"]
    data = client.get(f"/api/v1/analysis/customers/{c.id}/profile?currency=usd", headers=headers).json
    assert data["currency"] == "USD" and data["profitability"]["revenue"] == "24.29"  # 100 / 7 + 10
    assert client.get(f"/api/v1/analysis/customers/{c.id}/profile?currency=EUR", headers=headers).status_code == 422


def _login(app: Any, username: str) -> Any:
    return admin_login(app.test_client(), username, lang="en")


def test_admin_run_buttons(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    """Who may run the analyses (analysis.run) gets "Run now" buttons on the dashboard; a run stores its
    results and says what it did; others get no buttons and a 403; the form needs its CSRF token."""
    from plugins.analysis.models import RfmScore

    make_user("analyst", username="ana")
    make_user("sales", username="rep")
    ana = _login(app, "ana")
    page = ana.get("/admin/analysis/dashboard/")
    assert 'class="analysis-run' in page.text
    token = CSRF.search(page.text).group(1)
    done = ana.post("/admin/analysis/dashboard/run", data={"csrf_token": token, "kind": "rfm"}, follow_redirects=True)
    assert done.status_code == 200 and "RFM: 12 customers scored and segmented." in done.text
    assert ctx.session.scalar(select(func.count()).select_from(RfmScore)) == 12
    # the analyst changes nothing: no "Tag rules" button, and applying them is refused (customer.write)
    assert 'value="tags"' not in page.text
    tagged = ana.post("/admin/analysis/dashboard/run", data={"csrf_token": token, "kind": "tags"}, follow_redirects=True)
    assert "Tag rules applied" not in tagged.text and "customer.write" in tagged.text
    assert ana.post("/admin/analysis/dashboard/run", data={"csrf_token": token, "kind": "eval"}).status_code == 400
    assert ana.post("/admin/analysis/dashboard/run", data={"kind": "rfm"}).status_code == 400  # no CSRF token

    rep = _login(app, "rep")
    page = rep.get("/admin/analysis/dashboard/")
    assert page.status_code == 200 and 'class="analysis-run' not in page.text
    token = CSRF.search(page.text).group(1)  # the layout's logout form carries the session's token
    assert rep.post("/admin/analysis/dashboard/run", data={"csrf_token": token, "kind": "rfm"}).status_code == 403


def test_admin_dashboard_and_csv(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    make_user("analyst", username="ana")
    make_user("sales", username="rep")
    rfm.run_rfm(ctx, AS_OF)
    clv.run_clv(ctx, AS_OF)
    ctx.session.execute(Customer.__table__.update().where(Customer.id == shop[0].id).values(name="客户 零"))
    ctx.session.commit()
    client = _login(app, "ana")
    page = client.get("/admin/analysis/dashboard/")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 3 and "<script" not in page.text.split("<svg", 1)[1].split("</svg>")[0]
    assert "Customers per segment" in page.text and "crm-heatmap" in page.text
    assert "http://" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page.text.split("id=\"segments\"")[1])
    csv_plain = client.get("/admin/analysis/dashboard/export/rfm.csv")
    assert csv_plain.status_code == 200 and csv_plain.data.startswith(b"run_date,customer,customer_id")
    excel = client.get("/admin/analysis/dashboard/export/rfm.csv?bom=1")
    assert excel.data.startswith("\ufeff".encode()) and "客户 零".encode() in excel.data
    assert len(excel.data.decode("utf-8-sig").strip().splitlines()) == 13
    for name in ("clv", "segments", "cohorts"):
        assert client.get(f"/admin/analysis/dashboard/export/{name}.csv").status_code == 200
    profile = client.get(f"/admin/analysis/profile/?customer_id={shop[3].id}")
    assert profile.status_code == 200 and "Persistency" in profile.text and "Client 03" in profile.text
    rep = _login(app, "rep")
    assert rep.get("/admin/analysis/dashboard/export/rfm.csv").status_code == 403  # no analysis.export


def test_api_csv_and_lists(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    headers = make_user("admin")[1]
    client = app.test_client()
    assert client.post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat()}).status_code == 201
    top = client.get("/api/v1/analysis/clv/customers?page_size=3", headers=headers).json
    assert top["total"] == 12 and len(top["items"]) == 3
    assert float(top["items"][0]["clv"]) >= float(top["items"][1]["clv"])
    body = client.get("/api/v1/analysis/export/clv.csv?bom=1", headers=headers)
    assert body.status_code == 200 and body.data.startswith("\ufeff".encode())
    assert client.get("/api/v1/analysis/export/nope.csv", headers=headers).status_code == 422
    assert client.get("/api/v1/analysis/cohorts?as_of=2026-06-30&months=3", headers=headers).json["items"]
    assert client.get("/api/v1/analysis/cohorts?as_of=June", headers=headers).status_code == 422
    assert client.get("/api/v1/analysis/loyalty?as_of=2026-06-30", headers=headers).json["customers"] == 12
    assert client.post("/api/v1/analysis/basket/run", headers=headers, json={}).status_code == 201
    assert client.get("/api/v1/analysis/basket/rules", headers=headers).json == {"items": []}


def test_cli_commands(app: Any, ctx: Any, shop: list[Any]) -> None:
    from crmcore.cli import cli

    register_commands(app.extensions["crm"].pm, cli)
    try:
        runner = app.test_cli_runner()
        out = runner.invoke(cli, ["analyze", "rfm", "--as-of", AS_OF.isoformat()])
        assert out.exit_code == 0, out.output
        assert "customers" in out.output and "12" in out.output
        out = runner.invoke(cli, ["analyze", "clv", "--as-of", AS_OF.isoformat(), "--json"])
        assert out.exit_code == 0, out.output and '"bgnbd"' in out.output
        out = runner.invoke(cli, ["analyze", "cohorts", "--as-of", AS_OF.isoformat(), "--months", "4"])
        assert out.exit_code == 0 and "repeat_purchase_rate" in out.output
        out = runner.invoke(cli, ["analyze", "basket", "--as-of", AS_OF.isoformat()])
        assert out.exit_code == 0 and "rules" in out.output
        out = runner.invoke(cli, ["analyze", "churn", "--as-of", AS_OF.isoformat()])
        assert out.exit_code != 0 and "Not enough history" in out.output  # 12 customers are too few
    finally:
        cli.commands.pop("analyze", None)


def test_jobs_registered_and_nightly_runs(app: Any, ctx: Any, shop: list[Any]) -> None:
    from crmcore.services.jobs import run_job

    jobs = app.extensions["crm"].registry.jobs
    assert {"analysis.nightly", "analysis.tags"} <= set(jobs)
    state = run_job(ctx, "analysis.nightly")
    assert state.last_status == "ok", state.last_error
    assert rfm.latest_run(ctx, ClvScore) is not None
    from crmcore.models import JobExecution

    run = ctx.session.scalars(select(JobExecution).where(JobExecution.name == "analysis.nightly")).one()
    assert (run.status, run.progress_done, run.progress_total) == ("ok", 4, 4)  # reported after each step


def test_registration_permissions_and_requirements(ctx: Any) -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="crmcore.plugins")}
    assert eps.get("analysis") == "plugins.analysis"
    perms = {r.name: set(r.permissions) for r in ctx.session.scalars(select(Role))}
    assert {"analysis.read", "analysis.run", "analysis.export"} <= perms["analyst"]
    assert "analysis.read" in perms["sales"] and "analysis.run" not in perms["sales"]
    with pytest.raises(PluginError, match="analysis"):
        build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.analysis"]})


def test_migration_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    from crmcore import migrate

    rt = build_runtime({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.analysis"],
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path)})
    try:
        migrate.upgrade(rt)
        ours = {t for t in Base.metadata.tables if t.startswith("analysis_")}
        assert len(ours) == 7 and ours <= set(inspect(rt.db.engine).get_table_names())
        with rt.db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diff if "analysis_" in repr(d)] == []
        command.downgrade(migrate.alembic_config(rt), "analysis@base")
        assert not ours & set(inspect(rt.db.engine).get_table_names())
        assert "sales_orders" in inspect(rt.db.engine).get_table_names()
    finally:
        rt.db.dispose()


def test_imports_only_crmcore_sales_and_itself() -> None:
    for path in PLUGIN_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                if name.split(".")[0] in ("plugins", "adapters"):
                    assert name.startswith(("plugins.sales", "plugins.analysis")), f"{path.name} imports {name}"
            assert not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("eval", "exec")), path.name


def test_admin_tag_rule_and_segment_forms(make_app: Any, make_user: Any) -> None:
    app = make_app(PLUGINS=["plugins.sales", "plugins.analysis"], WTF_CSRF_ENABLED=False)
    rt = app.extensions["crm"]
    from crmcore.services import users as user_svc

    manager = user_svc.create_user(rt.context(), "boss", None, "manager")
    analyst = user_svc.create_user(rt.context(), "ana", None, "analyst")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    with client.session_transaction() as s:
        s["_user_id"] = manager.get_id()
    bad = client.post("/admin/analysis/tag-rule/new/", data={"name": "Big", "tag": "big", "conditions": "{not json", "active": "y"})
    assert bad.status_code == 200 and "Not a valid mapping type." in bad.text
    ok = client.post("/admin/analysis/tag-rule/new/", data={
        "name": "Big", "tag": "big", "conditions": '{"field": "clv", "op": "gte", "value": 500}', "active": "y"})
    assert ok.status_code == 302
    assert [r.conditions for r in tags.list_rules(rt.context())] == [{"field": "clv", "op": "gte", "value": 500}]
    seg = client.post("/admin/analysis/segment/new/", data={
        "name": "vip", "label": "VIP", "priority": "1", "r_min": "5", "r_max": "4", "f_min": "1", "f_max": "5",
        "m_min": "1", "m_max": "5", "active": "y"})
    assert seg.status_code == 200 and "minimum may not exceed" in seg.text
    with client.session_transaction() as s:
        s["_user_id"] = analyst.get_id()
    assert client.get("/admin/analysis/tag-rule/").status_code == 200
    assert client.post("/admin/analysis/tag-rule/new/", data={"name": "x", "tag": "x", "conditions": "{}"}).status_code in (302, 403)
    assert len(tags.list_rules(rt.context())) == 1  # the analyst may not write


def test_demo_history_lets_every_analysis_run_once(ctx):
    """`crm demo` (core, then sales, then analysis by its trylast hook) leaves segments, CLV
    scores, a churn model and basket rules to look at; a second run adds nothing."""
    from sqlalchemy import func, select

    from crmcore.demo import load_demo as core_demo
    from plugins.analysis.models import AssociationRule, ClvScore, RfmScore
    from plugins.analysis.services.demo import load_demo
    from plugins.sales.models import Order
    from plugins.sales.services.demo import load_demo as sales_demo

    assert "sales demo first" in load_demo(ctx)
    core_demo(ctx)
    sales_demo(ctx)
    summary = load_demo(ctx)
    assert "analyses run: RFM, CLV, churn, basket rules, forecast" in summary, summary
    count = lambda model: ctx.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    orders, rfm, clv = count(Order), count(RfmScore), count(ClvScore)
    assert orders > 100 and rfm >= 10 and clv >= 10 and count(AssociationRule) > 0
    assert load_demo(ctx) == "Analysis demo data is already there." and count(Order) == orders
