"""Leads: capture from the API, the public web form and imports; qualification into customer +
contact + opportunity in one step, de-duplicated against existing customers, all or nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from crmcore.models import Contact, Customer
from plugins.sales.models import Lead, Opportunity


def count(ctx, model):
    return ctx.session.scalar(select(func.count()).select_from(model))


def test_capture_and_qualify_creates_customer_contact_opportunity(client, ctx, make_user):
    rep, h = make_user("sales")
    r = client.post("/api/v1/sales/leads", json={"name": "王小明", "company": "杭州新茶贸易有限公司",
                                                 "phone": "13957100001", "estimated_amount": "50000",
                                                 "campaign": "春季展会"}, headers=h)
    assert r.status_code == 201, r.json
    lead = r.json
    assert lead["source_channel"] == "api" and lead["owner_id"] == rep.id and lead["status"] == "new"
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={"expected_close_date": "2026-06-30"}, headers=h)
    assert r.status_code == 200, r.json
    out = r.json
    assert out["customer_created"] is True and out["lead"]["status"] == "qualified"
    customer = ctx.session.get(Customer, out["customer_id"])
    assert customer.name == "杭州新茶贸易有限公司" and customer.owner_id == rep.id and customer.source_channel == "api"
    contact = ctx.session.get(Contact, out["contact_id"])
    assert contact.name == "王小明" and contact.customer_id == customer.id
    opp = ctx.session.get(Opportunity, out["opportunity_id"])
    assert opp.amount == 50000 and opp.customer_id == customer.id and opp.lead_id == lead["id"]
    assert opp.name == "杭州新茶贸易有限公司: 春季展会" and str(opp.expected_close_date) == "2026-06-30"
    # once qualified, it cannot be qualified again or changed
    assert client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={}, headers=h).status_code == 409
    assert client.patch(f"/api/v1/sales/leads/{lead['id']}", json={"name": "x"}, headers=h).status_code == 409


def test_qualification_reuses_a_matching_customer_and_contact(client, ctx, make_user, make_customer):
    rep, h = make_user("sales")
    existing = make_customer("Acme Trading Ltd", rep, email="info@acme.example")
    client.post("/api/v1/contacts", json={"customer_id": existing.id, "name": "Li Lei", "mobile": "13800138000"},
                headers=h)
    before = count(ctx, Customer), count(ctx, Contact)
    # same phone (as the contact's mobile, written differently)
    lead = client.post("/api/v1/sales/leads", json={"name": "Li Lei", "phone": "+86 138-0013-8000"}, headers=h).json
    out = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={}, headers=h).json
    assert out["customer_id"] == existing.id and out["customer_created"] is False
    assert out["matched_by"] == "same phone number"
    assert (count(ctx, Customer), count(ctx, Contact)) == before  # the contact was reused too
    # same company name with another legal suffix and case
    lead = client.post("/api/v1/sales/leads", json={"name": "Han Meimei", "company": "ACME Trading Limited",
                                                    "email": "han@elsewhere.example"}, headers=h).json
    out = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={"create_opportunity": False}, headers=h).json
    assert out["customer_id"] == existing.id and out["opportunity_id"] is None
    assert count(ctx, Contact) == before[1] + 1  # a new person at the same customer


def test_a_match_outside_the_reps_scope_is_a_conflict_and_nothing_is_written(client, ctx, make_user, make_customer):
    rep_a, ha = make_user("sales")
    rep_b, _ = make_user("sales")
    theirs = make_customer("Beta Co", rep_b, phone="13800138001")
    lead = client.post("/api/v1/sales/leads", json={"name": "Zhang", "phone": "13800138001"}, headers=ha).json
    before = count(ctx, Customer), count(ctx, Contact), count(ctx, Opportunity)
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={}, headers=ha)
    # the conflict says why, but never which customer: it is outside the rep's scope
    assert r.status_code == 409 and "outside your scope" in r.json["message"]
    shown = r.json["message"] + r.json["errors"]["customer_id"][0]
    assert str(theirs.id) not in shown.replace(str(lead["id"]), "") and "Beta" not in shown
    assert (count(ctx, Customer), count(ctx, Contact), count(ctx, Opportunity)) == before
    assert ctx.session.get(Lead, lead["id"]).status == "new"


def test_failed_qualification_rolls_back_everything(client, ctx, make_user):
    rep, h = make_user("sales")
    lead = client.post("/api/v1/sales/leads", json={"name": "Solo", "email": "solo@x.example"}, headers=h).json
    before = count(ctx, Customer), count(ctx, Contact)
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={"stage_id": 999999}, headers=h)
    assert r.status_code == 404
    assert (count(ctx, Customer), count(ctx, Contact)) == before


def test_lead_validation_and_scope(client, make_user):
    rep_a, ha = make_user("sales", team="East")
    _, hb = make_user("sales", team="East")
    _, hm = make_user("manager", team="East")
    r = client.post("/api/v1/sales/leads", json={"name": "No way to reach"}, headers=ha)
    assert r.status_code == 422 and "phone" in r.json["errors"]
    r = client.post("/api/v1/sales/leads", json={"name": "x", "email": "nope"}, headers=ha)
    assert r.status_code == 422 and "email" in r.json["errors"]
    r = client.post("/api/v1/sales/leads", json={"name": "x", "phone": "13800000000", "source_channel": "pigeon"},
                    headers=ha)
    assert r.status_code == 422 and "source_channel" in r.json["errors"]
    lead = client.post("/api/v1/sales/leads", json={"name": "Mine", "phone": "13800000000"}, headers=ha).json
    assert client.get(f"/api/v1/sales/leads/{lead['id']}", headers=hb).status_code == 403
    assert client.get("/api/v1/sales/leads/424242", headers=ha).status_code == 404
    assert client.get("/api/v1/sales/leads", headers=hm).json["total"] == 1
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/disqualify", json={"reason": ""}, headers=ha)
    assert r.status_code == 422
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/disqualify", json={"reason": "student"}, headers=ha)
    assert r.status_code == 200 and r.json["status"] == "disqualified"


def test_web_form_endpoint(make_app, ctx):
    app = make_app(PLUGINS=["plugins.sales"], SALES_WEB_FORM_KEYS="site-key")
    client = app.test_client()
    r = client.post("/sales/forms/lead", data={"form_key": "site-key", "name": "Web visitor",
                                               "email": "visitor@example.com", "message": "Call me"})
    assert r.status_code == 201 and r.json == {"status": "ok"}
    lead = ctx.session.scalars(select(Lead)).one()
    assert lead.source_channel == "web" and lead.owner_id is None and lead.message == "Call me"
    assert client.post("/sales/forms/lead", data={"form_key": "wrong", "name": "x"}).status_code == 403
    assert client.post("/sales/forms/lead", json={"form_key": "site-key", "name": "x"}).status_code == 422
    # a bot filling the hidden field is told ok and nothing is stored
    r = client.post("/sales/forms/lead", data={"form_key": "site-key", "name": "Bot", "email": "b@b.example",
                                               "website_url": "http://spam"})
    assert r.status_code == 201 and count(ctx, Lead) == 1
    # without configured keys the form does not exist
    other = make_app(PLUGINS=["plugins.sales"]).test_client()
    assert other.post("/sales/forms/lead", data={"name": "x"}).status_code == 404


def test_bulk_import_rejects_rows_on_their_own(client, make_user, tmp_path, runner, ctx):
    _, hm = make_user("manager")
    _, hs = make_user("sales")
    rows = [{"name": "A", "phone": "13800000001"}, {"name": "", "phone": "1"}, {"name": "C", "colour": "red"},
            {"name": "D", "email": "d@d.example", "campaign": "expo"}]
    assert client.post("/api/v1/sales/leads/bulk", json={"leads": rows}, headers=hs).status_code == 403
    r = client.post("/api/v1/sales/leads/bulk", json={"leads": rows}, headers=hm)
    assert r.status_code == 200 and r.json["summary"] == {"created": 2, "rejected": 2}
    assert [x["status"] for x in r.json["results"]] == ["created", "rejected", "rejected", "created"]
    assert "colour" in r.json["results"][2]["errors"]
    assert {lead.source_channel for lead in ctx.session.scalars(select(Lead))} == {"import"}

    from plugins.sales.cli import sales

    path = tmp_path / "leads.csv"
    path.write_text("name,company,phone,email\n李四,北京某公司,13911112222,\n坏,,,\n", encoding="utf-8")
    result = runner.invoke(sales, ["import-leads", str(path)])
    assert result.exit_code == 0 and "created 1, rejected 1" in result.output


def test_web_form_is_rate_limited_per_client_across_workers(make_app, ctx):
    settings = {"PLUGINS": ["plugins.sales"], "SALES_WEB_FORM_KEYS": "site-key", "SALES_WEB_FORM_RATE_LIMIT": "2"}
    worker_a, worker_b = make_app(**settings), make_app(**settings)  # two processes on one database

    def post(app, ip="192.0.2.10", language="en", key="site-key"):
        return app.test_client().post("/sales/forms/lead", data={"form_key": key, "name": "Visitor",
                                                                       "email": "visitor@example.com"},
                                      environ_overrides={"REMOTE_ADDR": ip}, headers={"Accept-Language": language})

    assert post(worker_a).status_code == 201
    assert post(worker_b, key="guessed").status_code == 403  # wrong keys count too: guessing is limited
    refused = post(worker_a)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    minutes = (int(refused.headers["Retry-After"]) + 59) // 60
    assert refused.json["message"] == f"Too many requests from your network. Try again in {minutes} minute(s)."
    assert "请求过多" in post(worker_b, language="zh-CN").json["message"]
    assert count(ctx, Lead) == 1  # nothing was stored past the limit
    assert post(worker_b, ip="198.51.100.7").status_code == 201  # another client is welcome
    off = make_app(**{**settings, "SALES_WEB_FORM_RATE_LIMIT": 0})
    assert all(post(off).status_code == 201 for _ in range(3))
