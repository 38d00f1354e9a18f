"""Campaigns as report entities: a report grouped by campaign counts each campaign's messages and what happened to
them (words, not codes), and follows the marketing record rules: a rep granted ``marketing.read`` sees only the
campaigns and messages of their own customers; without ``marketing.read`` the entity does not exist for them."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from sqlalchemy import select

from crmcore.errors import NotFound
from crmcore.models import Role
from plugins.marketing.models import MarketingEvent, Recipient
from plugins.marketing.services import audiences, campaigns, templates
from plugins.reports import models as report_models  # noqa: F401 - the tables are on the metadata
from plugins.reports.services import definition as d, query


def _campaign(ctx: Any, name: str, customers: list[Any], start: bool = True) -> Any:
    audience = audiences.create_audience(ctx, {"name": name})
    audiences.add_members(ctx, audience.id, [c.code for c in customers])
    template = templates.create_template(ctx, {"name": name, "subject": name, "text": "你好"})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    if start:
        campaigns.start(ctx, campaign.id)
        campaigns.send_campaign(ctx, campaign.id)
    return campaign


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    _inbox, port = smtp_server
    return make_app(PLUGINS=["plugins.sales", "plugins.marketing", "plugins.reports"], MARKETING_SMTP_HOST="127.0.0.1",
                    MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example",
                    MARKETING_PUBLIC_URL="https://crm.shop.example")


def run(ctx: Any, definition: dict[str, Any], reader: Any = None) -> list[tuple[Any, ...]]:
    """The definition validated (by a manager: a shared report) and run by ``reader`` (else ``ctx``)."""
    values = d.validate_report(ctx, {"name": "R", **definition}, None)
    result = query.run(reader or ctx, d.complete(values))
    return [(*row["cells"], *row["values"]) for row in result.rows]


BY_CAMPAIGN = {"entity": "campaign_message", "group_by": [{"field": "campaign_id"}, {"field": "status"}],
               "measures": [{"agg": "count"}]}


def test_messages_grouped_by_campaign_with_their_fate_under_the_record_rules(rt: Any, ctx: Any, make_user: Any,
                                                                               subscriber: Any) -> None:
    rep, _h = make_user("sales", username="rep")
    other, _h2 = make_user("sales")
    mine = subscriber("我的客户", "mine@example.cn", owner_id=rep.id)
    theirs = subscriber("别人的客户", "theirs@example.cn", owner_id=other.id)
    silent = subscriber("没同意的客户", "no@example.cn", consent_given=False, owner_id=other.id)
    shared = _campaign(ctx, "双十一", [mine, theirs, silent])
    _campaign(ctx, "春节", [theirs])
    _campaign(ctx, "草稿", [mine], start=False)
    opened = ctx.session.scalar(select(Recipient).where(Recipient.campaign_id == shared.id,
                                                        Recipient.customer_id == mine.id))
    ctx.session.add(MarketingEvent(campaign_id=shared.id, recipient_id=opened.id, customer_id=mine.id, kind="opened"))
    ctx.session.commit()

    everything = run(ctx, BY_CAMPAIGN)
    assert ("双十一", "Sent", 2) in everything and ("春节", "Sent", 1) in everything
    assert {row[0] for row in everything} == {"双十一", "春节"}  # a draft has no messages yet
    assert run(ctx, {"entity": "campaign_message", "group_by": [{"field": "campaign_id"}],
                     "measures": [{"agg": "count"}], "filters": {"field": "opened", "op": "eq", "value": True}}
               ) == [("双十一", 1)]
    assert sorted(run(ctx, {"entity": "campaign", "group_by": [{"field": "status"}], "measures": [{"agg": "count"}]})
                  ) == [("Done", 2), ("Draft", 1)]

    role = ctx.session.scalar(select(Role).where(Role.name == "sales"))
    reader = rt.context(actor=rep)
    with pytest.raises(NotFound):  # without marketing.read the campaigns are not a record type they may read
        run(ctx, BY_CAMPAIGN, reader)
    role.permissions = [*role.permissions, "marketing.read"]
    ctx.session.commit()
    reader = rt.context(actor=rep)
    assert run(ctx, BY_CAMPAIGN, reader) == [("双十一", "Sent", 1)]  # only their customer's message
    assert run(ctx, {"entity": "campaign", "group_by": [{"field": "name"}], "measures": [{"agg": "count"}]}, reader
               ) == [("双十一", 1)]  # the campaigns that reached their customers, not the draft nor 春节
    assert run(ctx, {"entity": "campaign_event", "group_by": [{"field": "kind"}], "measures": [{"agg": "count"}]},
               reader) == [("Opened the message", 1)]


def test_the_entities_have_words_in_chinese(app: Any, client: Any, make_user: Any) -> None:
    _m, headers = make_user("manager")
    body = client.get("/api/v1/meta/entities/campaign_message", headers={**headers, "Accept-Language": "zh_CN"}).json
    labels = {f["name"]: f["label"] for f in body["fields"]}
    assert body["label"] == "营销消息" and labels["campaign_id"] == "营销活动" and labels["opened"] == "已打开"
    status = next(f for f in body["fields"] if f["name"] == "status")
    assert {"value": "sent", "label": "已发送"} in status["choices"]
