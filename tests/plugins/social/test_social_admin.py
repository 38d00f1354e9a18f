"""Admin pages (programme form with the service's field errors, referrals, rewards, top advocates and their CSV)
in zh_CN and en; the 360 panel; the CLI; the API for codes and referrals; the migration branch."""
from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crmcore.testing.admin import admin_login, post_form


def test_programme_form_saves_and_shows_field_errors(client: Any, make_user: Any, ctx: Any) -> None:
    from plugins.social.services.programme import programme

    make_user("manager", username="mia")
    admin_login(client, "mia", lang="zh-CN")
    page = client.get("/admin/social/programme/")
    assert page.status_code == 200 and "推荐计划" in page.text and "积分" in page.text and ">points<" not in page.text
    bad = post_form(client, "/admin/social/programme/", {"reward_kind": "points", "referrer_points": "-5",
                                                         "referee_points": "10", "return_window_days": "7",
                                                         "decay": "0.3", "active": "1", "version": "1"})
    assert bad.status_code == 200 and 'data-field="referrer_points"' in bad.text
    ok = post_form(client, "/admin/social/programme/", {"reward_kind": "points", "referrer_points": "80",
                                                        "referee_points": "10", "return_window_days": "7",
                                                        "decay": "0.3", "version": "1"})
    assert ok.status_code == 302
    ctx.session.expire_all()
    row = programme(ctx)
    assert (row.referrer_points, row.return_window_days, str(row.decay), row.active) == (80, 7, "0.300", False)


def test_lists_show_names_and_words(client: Any, make_user: Any, ctx: Any, make_customer: Any, refer: Any,
                                    paid_order: Any) -> None:
    mia, _headers = make_user("manager", username="mia")
    a = make_customer("老王茶庄", mia, phone="13800000011")
    b = refer(a, "小李书店", phone="13800000012", owner_id=mia.id)
    paid_order(b, "880")
    admin_login(client, "mia", lang="zh-CN")
    referrals = client.get("/admin/social/referrals/").text
    assert "老王茶庄" in referrals and "小李书店" in referrals and ">api<" not in referrals
    rewards = client.get("/admin/social/rewards/").text
    assert "待发放（退货期内）" in rewards and "推荐人" in rewards and ">pending<" not in rewards
    advocates = client.get("/admin/social/advocates/").text
    assert "老王茶庄" in advocates and "880.00" in advocates
    csv = client.get("/admin/social/advocates/csv")
    assert csv.mimetype == "text/csv" and "老王茶庄" in csv.get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert "Pending (return window)" in client.get("/admin/social/rewards/").text


def test_reps_read_but_do_not_change_the_programme(client: Any, make_user: Any) -> None:
    make_user("sales", username="sam")
    make_user("service", username="sue")
    admin_login(client, "sam", lang="en")
    page = client.get("/admin/social/programme/")
    assert page.status_code == 200 and "save-programme" not in page.text
    assert post_form(client, "/admin/social/programme/", {"referrer_points": "1"}).status_code == 403
    other = admin_login(client.application.test_client(), "sue", lang="en")
    assert other.get("/admin/social/referrals/").status_code == 403


def test_customer_panel_shows_referrer_code_and_tree(client: Any, admin_headers: Any, ctx: Any, make_customer: Any,
                                                     refer: Any) -> None:
    a = make_customer("推荐人甲")
    b = refer(a, "客户乙")
    refer(b, "客户丙")
    res = client.get(f"/api/v1/customers/{b.id}/panels", headers={**admin_headers, "Accept-Language": "zh-CN"})
    panel = next(p for p in res.get_json() if p["key"] == "social")
    rows = dict(panel["rows"])
    assert panel["title"] == "推荐" and rows["推荐人"] == "推荐人甲" and rows["推荐码"]
    assert [i["customer"] for i in panel["items"]] == ["推荐人甲", "客户丙"]


def test_codes_and_referrals_api(client: Any, admin_headers: Any, make_user: Any, make_customer: Any) -> None:
    rep, rep_headers = make_user("sales")
    a = make_customer("甲", owner_id=rep.id)
    b = make_customer("乙")
    res = client.post("/api/v1/referrals/codes", json={"customer_id": a.id}, headers=rep_headers)
    assert res.status_code == 200 and res.get_json()["link"] == f"/r/{res.get_json()['code']}"
    code = res.get_json()["code"]
    assert client.post("/api/v1/referrals/codes", json={"customer_id": b.id}, headers=rep_headers).status_code == 403
    assert client.post("/api/v1/referrals/codes", json={"user_id": 1}, headers=rep_headers).status_code == 403
    mine = client.post("/api/v1/referrals/codes", json={"user_id": rep.id}, headers=rep_headers)
    assert mine.status_code == 200 and mine.get_json()["owner"]
    assert client.post("/api/v1/referrals/codes", json={}, headers=rep_headers).status_code == 422
    assert client.post("/api/v1/referrals", json={"code": code, "customer_id": b.id},
                       headers=rep_headers).status_code == 403  # by hand: social.manage
    res = client.post("/api/v1/referrals", json={"code": code, "customer_id": b.id, "source": "wechat"},
                      headers=admin_headers)
    assert res.status_code == 201 and res.get_json()["referrer"] == "甲" and res.get_json()["source"] == "wechat"
    bad = client.post("/api/v1/referrals", json={"code": "nope", "customer_id": b.id, "source": "x"},
                      headers=admin_headers)
    assert bad.status_code == 422 and "source" in bad.get_json()["errors"]
    listed = client.get(f"/api/v1/referrals?customer_id={a.id}", headers=rep_headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["referee"] == "乙"


def test_cli_list_tree_recompute(app: Any, runner: Any, make_customer: Any, refer: Any, paid_order: Any) -> None:
    from crmcore.cli import cli
    from crmcore.plugins import register_commands

    a = make_customer("树根")
    b = refer(a, "树枝")
    paid_order(refer(b, "树叶"), "100")
    register_commands(app.extensions["crm"].pm, cli)
    try:
        out = runner.invoke(cli, ["referrals", "tree", str(b.id)])
        assert out.exit_code == 0, out.output
        assert out.output.splitlines() == [f"^1 树根 ({a.id})", f"* 树枝 ({b.id})", f"  - 树叶 ({b.id + 1})"]
        out = runner.invoke(cli, ["referrals", "list"])
        assert out.exit_code == 0 and "树根\t树枝" in out.output
        out = runner.invoke(cli, ["referrals", "recompute"])
        assert out.exit_code == 0 and out.output.startswith("2 ")
        assert runner.invoke(cli, ["referrals", "tree", "999999"]).exit_code != 0
    finally:
        cli.commands.pop("referrals", None)


def test_migration_builds_the_tables_and_goes_back(empty_database_url: str, tmp_path: Any) -> None:
    from crmcore import migrate
    from crmcore.db import Base
    from crmcore.runtime import build_runtime

    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["plugins.sales", "plugins.social"]})
    try:
        migrate.upgrade(rt)
        assert "0001_social" in migrate.current_heads(rt)
        with rt.db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diffs if "social_" in repr(d)] == []
        from alembic import command

        command.downgrade(migrate.alembic_config(rt), "social@base")
        assert not inspect(rt.db.engine).has_table("social_referrals")
        assert inspect(rt.db.engine).has_table("sales_leads")
    finally:
        rt.db.dispose()


def test_audit_log_shows_states_of_any_record_type_in_words(client: Any, make_user: Any, make_customer: Any,
                                                             refer: Any, paid_order: Any) -> None:
    """An invoice's state and a reward's status changed: the audit log names them in the reader's words."""
    make_user("admin", username="ada")
    paid_order(refer(make_customer("甲"), "乙"), "100")
    admin_login(client, "ada", lang="zh-CN")
    page = client.get("/admin/audit_log/?page_size=100").text
    assert "<ins>待发放（退货期内）</ins>" in page and "<ins>pending</ins>" not in page
    assert "<del>open</del>" not in page and "<ins>paid</ins>" not in page
