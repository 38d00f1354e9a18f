"""Record rules for campaigns: a rep granted ``marketing.read`` sees only the campaigns that reached customers in
their record scope, and of those only their customers; without the grant, nothing; managers and analysts see all."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.models import Role
from crmcore.testing.admin import admin_login
from plugins.marketing.services import audiences, campaigns, templates


def _campaign(ctx: Any, name: str, customers: list[Any], start: bool = True) -> Any:
    audience = audiences.create_audience(ctx, {"name": name})
    audiences.add_members(ctx, audience.id, [c.code for c in customers])
    template = templates.create_template(ctx, {"name": name, "subject": name, "text": "你好"})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    if start:
        campaigns.start(ctx, campaign.id)
        campaigns.send_campaign(ctx, campaign.id)
    return campaign


def _grant(ctx: Any, role: str, permission: str) -> None:
    row = ctx.session.scalar(select(Role).where(Role.name == role))
    row.permissions = [*row.permissions, permission]
    ctx.session.commit()


def test_a_rep_sees_only_campaigns_that_reached_their_customers_when_granted(
        app: Any, ctx: Any, client: Any, make_user: Any, subscriber: Any) -> None:
    rep, rep_headers = make_user("sales", username="rep")
    other_rep, _h = make_user("sales")
    _a, analyst = make_user("analyst")
    mine = subscriber("我的客户", "mine@example.cn", owner_id=rep.id)
    theirs = subscriber("别人的客户", "theirs@example.cn", owner_id=other_rep.id)
    shared = _campaign(ctx, "双十一", [mine, theirs])
    foreign = _campaign(ctx, "春节", [theirs])
    draft = _campaign(ctx, "草稿", [mine], start=False)
    assert client.get("/api/v1/marketing/campaigns", headers=rep_headers).status_code == 403  # not granted
    _grant(ctx, "sales", "marketing.read")
    listed = client.get("/api/v1/marketing/campaigns", headers=rep_headers).json
    assert [c["name"] for c in listed] == ["双十一"]
    assert client.get(f"/api/v1/marketing/campaigns/{shared.id}", headers=rep_headers).status_code == 200
    assert client.get(f"/api/v1/marketing/campaigns/{shared.id}/results", headers=rep_headers).status_code == 200
    for hidden in (foreign, draft):
        assert client.get(f"/api/v1/marketing/campaigns/{hidden.id}", headers=rep_headers).status_code == 404
        assert client.get(f"/api/v1/marketing/campaigns/{hidden.id}/results", headers=rep_headers).status_code == 404
    everyone = {c["name"] for c in client.get("/api/v1/marketing/campaigns", headers=analyst).json}
    assert everyone == {"双十一", "春节", "草稿"}
    # the audience's sample names only the rep's customers; its size stays whole
    r = client.get(f"/api/v1/marketing/audiences/{shared.audience_id}/preview", headers=rep_headers).json
    assert r["count"] == 2 and [s["name"] for s in r["sample"]] == ["我的客户"]
    # the admin: the list and the recipients' CSV
    browser = admin_login(app.test_client(), "rep", lang="zh_CN")
    page = browser.get("/admin/marketing/campaigns/").text
    assert "双十一" in page and "春节" not in page and "草稿" not in page
    rows = browser.get(f"/admin/marketing/campaigns/{shared.id}/recipients.csv").text
    assert "我的客户" in rows and "别人的客户" not in rows
