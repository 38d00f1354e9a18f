"""/api/v1/marketing journeys: permissions, 422 per field and per step, steps by id with branches, entering by
API once per customer, enrolments paged, per-step counts; the CLI's run and report."""
from __future__ import annotations

from typing import Any


def test_a_journey_through_the_api(client: Any, ctx: Any, make_user: Any, subscriber: Any, inbox: Any) -> None:
    boss, manager = make_user("manager")
    _s, sales = make_user("sales")
    _a, analyst = make_user("analyst")
    body = {"name": "API 旅程", "trigger": "api"}
    assert client.post("/api/v1/marketing/journeys", json=body).status_code == 401
    assert client.post("/api/v1/marketing/journeys", json=body, headers=sales).status_code == 403
    r = client.post("/api/v1/marketing/journeys", json={"name": "", "trigger": "calendar"}, headers=manager)
    assert r.status_code == 422 and {"name", "calendar_rule"} <= set(r.json["errors"])
    r = client.post("/api/v1/marketing/journeys", json=body, headers=manager)
    assert r.status_code == 201 and r.json["problems"] == {"journey": ["Add at least one step."]}
    jid = r.json["campaign_id"]
    t = client.post("/api/v1/marketing/templates", json={"name": "欢迎", "subject": "{{ customer.name }}",
                                                         "text": "你好"}, headers=manager).json
    r = client.post(f"/api/v1/marketing/campaigns/{jid}/steps", json={"name": "发", "kind": "send"}, headers=manager)
    assert r.status_code == 422 and "template_id" in r.json["errors"]
    send = client.post(f"/api/v1/marketing/campaigns/{jid}/steps", json={"name": "发", "kind": "send",
                                                                         "template_id": t["id"]}, headers=manager).json
    split = client.post(f"/api/v1/marketing/campaigns/{jid}/steps", json={"name": "分", "kind": "random", "branches": [
        {"label": "A", "share": 50}, {"label": "B", "share": 50}]}, headers=manager)
    assert split.status_code == 201 and [b["label"] for b in split.json["branches"]] == ["A", "B"]
    r = client.patch(f"/api/v1/marketing/campaigns/{jid}/steps/{send['id']}", json={"next_step_id": send["id"]},
                     headers=manager)
    assert r.status_code == 422 and "next_step_id" in r.json["errors"]
    client.patch(f"/api/v1/marketing/campaigns/{jid}/steps/{send['id']}", json={"next_step_id": split.json["id"]},
                 headers=manager)
    steps = client.get(f"/api/v1/marketing/campaigns/{jid}/steps", headers=analyst).json
    assert [s["name"] for s in steps] == ["发", "分"] and steps[0]["next_step_id"] == split.json["id"]
    a = subscriber("甲", "a@example.cn", owner=boss)
    hidden = subscriber("乙", "b@example.cn")  # a customer the manager's team does not own
    r = client.post(f"/api/v1/marketing/campaigns/{jid}/enter", json={"customer_ids": [a.id]}, headers=manager)
    assert r.status_code == 409  # a draft takes no entries
    assert client.post(f"/api/v1/marketing/campaigns/{jid}/start", headers=analyst).status_code == 403
    assert client.post(f"/api/v1/marketing/campaigns/{jid}/start", headers=manager).status_code == 202
    assert client.get(f"/api/v1/marketing/campaigns/{jid}", headers=analyst).json["kind"] == "journey"
    assert client.post(f"/api/v1/marketing/campaigns/{jid}/enter", json={"customer_ids": [a.id]},
                       headers=analyst).status_code == 403
    r = client.post(f"/api/v1/marketing/campaigns/{jid}/enter", json={"customer_ids": [a.id, hidden.id, 987654]},
                    headers=manager)
    assert r.status_code == 200 and (r.json["entered"], r.json["not_allowed"]) == (1, 2)
    r = client.post(f"/api/v1/marketing/campaigns/{jid}/enter", json={"customer_ids": [a.id]}, headers=manager)
    assert (r.json["entered"], r.json["already"]) == (0, 1)
    r = client.post(f"/api/v1/marketing/campaigns/{jid}/enter", json={"customer_ids": "x"}, headers=manager)
    assert r.status_code == 422
    page = client.get(f"/api/v1/marketing/campaigns/{jid}/enrolments?page_size=10", headers=analyst).json
    assert page["total"] == 1 and page["items"][0]["customer"] == "甲" and page["items"][0]["step"] == "发"
    from plugins.marketing.services import journey_engine

    journey_engine.advance(ctx, jid)
    assert [m["To"] for m in inbox.messages] == ["a@example.cn"]
    report = client.get(f"/api/v1/marketing/campaigns/{jid}/journey/report", headers=analyst).json
    assert report["states"] == {"done": 1} and report["steps"][0]["outcomes"] == {"sent": 1}
    assert sum(report["steps"][1]["outcomes"].values()) == 1


def test_the_cli_runs_journeys_and_reports_per_step(runner: Any, ctx: Any, subscriber: Any, inbox: Any) -> None:
    from plugins.marketing.cli import marketing
    from plugins.marketing.services import journeys, templates, triggers

    a = subscriber("甲", "a@example.cn")
    t = templates.create_template(ctx, {"name": "欢迎", "subject": "{{ customer.name }}", "text": "你好"})
    journey = journeys.create_journey(ctx, {"name": "CLI 旅程"})
    journeys.add_step(ctx, journey.id, {"name": "发送欢迎", "kind": "send", "template_id": t.id})
    result = runner.invoke(marketing, ["run", str(journey.id)])
    assert result.exit_code == 0, result.output
    triggers.enter(ctx, journey.id, [a.id])
    result = runner.invoke(marketing, ["run"])  # no id: every running campaign and journey
    assert result.exit_code == 0, result.output
    assert [m["To"] for m in inbox.messages] == ["a@example.cn"]
    result = runner.invoke(marketing, ["report", str(journey.id)])
    assert result.exit_code == 0 and "发送欢迎" in result.output and "Sent 1" in result.output


def test_calendar_dates_are_configured_and_used(client: Any, ctx: Any, make_user: Any, app: Any) -> None:
    from crmcore.testing.admin import admin_login, post_form

    _m, manager = make_user("manager")
    _a, analyst = make_user("analyst")
    r = client.post("/api/v1/marketing/journeys", json={"name": "春节问候", "trigger": "calendar",
                                                        "calendar_rule": "calendar", "calendar_name": "春节"},
                    headers=manager)
    assert r.status_code == 422 and "has no dates" in r.json["errors"]["calendar_name"][0]
    assert client.post("/api/v1/marketing/calendar-dates", json={"name": "春节", "date": "2027-02-06"},
                       headers=analyst).status_code == 403
    r = client.post("/api/v1/marketing/calendar-dates", json={"name": "春节", "date": "2027-02-06"}, headers=manager)
    assert r.status_code == 201
    again = client.post("/api/v1/marketing/calendar-dates", json={"name": "春节", "date": "2027-02-06"},
                        headers=manager)
    assert again.status_code == 422 and "date" in again.json["errors"]
    bad = client.post("/api/v1/marketing/calendar-dates", json={"name": "\x00", "date": "2027-13-01"}, headers=manager)
    assert bad.status_code == 422 and {"name", "date"} <= set(bad.json["errors"])
    assert [d["date"] for d in client.get("/api/v1/marketing/calendar-dates?name=春节", headers=analyst).json] == [
        "2027-02-06"]
    assert client.post("/api/v1/marketing/journeys", json={
        "name": "春节问候", "trigger": "calendar", "calendar_rule": "calendar", "calendar_name": "春节"},
        headers=manager).status_code == 201
    user = make_user("manager")[0]
    browser = admin_login(app.test_client(), user.username, lang="zh-CN")
    page = browser.get("/admin/marketing/journeys/calendar")
    assert page.status_code == 200 and "2027-02-06" in page.text and "日历日期" in page.text
    assert post_form(browser, "/admin/marketing/journeys/calendar", {"name": "春节", "date": "2028-01-26"}).status_code == 302
    assert client.delete(f"/api/v1/marketing/calendar-dates/{r.json['id']}", headers=manager).status_code == 204
    assert [d["date"] for d in client.get("/api/v1/marketing/calendar-dates", headers=analyst).json] == ["2028-01-26"]


def test_journey_edits_carry_an_etag_and_a_stale_one_is_refused(client: Any, make_user: Any) -> None:
    _m, manager = make_user("manager")
    r = client.post("/api/v1/marketing/journeys", json={"name": "ETag"}, headers=manager)
    jid, first = r.json["campaign_id"], r.headers["ETag"]
    step = client.post(f"/api/v1/marketing/campaigns/{jid}/steps", json={"name": "等", "kind": "wait", "wait_days": 1},
                       headers={**manager, "If-Match": first})
    assert step.status_code == 201 and step.headers["ETag"] != first
    stale = client.patch(f"/api/v1/marketing/campaigns/{jid}/steps/{step.json['id']}", json={"wait_days": 2},
                         headers={**manager, "If-Match": first})
    assert stale.status_code == 412
    listed = client.get(f"/api/v1/marketing/campaigns/{jid}/steps", headers=manager)
    assert listed.headers["ETag"] == step.headers["ETag"]
    ok = client.patch(f"/api/v1/marketing/campaigns/{jid}/steps/{step.json['id']}", json={"wait_days": 2},
                      headers={**manager, "If-Match": listed.headers["ETag"]})
    assert ok.status_code == 200 and ok.json["wait_days"] == 2
    assert client.patch(f"/api/v1/marketing/campaigns/{jid}/journey", json={"trigger": "api"},
                        headers={**manager, "If-Match": first}).status_code == 412
