"""The campaign report page: its numbers equal the results service's for a seeded campaign with a control
group and variants (funnel, per day, variants, RFM segments, lift with its interval, attribution), the CSV
exports (header, rows, BOM), Chinese words, record rules, escaped names in the SVG, a journey's steps."""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from typing import Any, Callable

import pytest
from sqlalchemy import select, text

from crmcore.models import Role
from crmcore.services import users as user_svc
from crmcore.testing.admin import admin_login
from plugins.analysis import models as analysis_models
from plugins.marketing.models import Campaign, MarketingEvent, Recipient, Variant
from plugins.marketing.services import audiences, campaign_report, campaigns, results, templates
from plugins.sales.services import orders

URL = "/admin/marketing/report"
DAY0 = dt.datetime(2026, 5, 1, 9, tzinfo=dt.timezone.utc)


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    _inbox, port = smtp_server
    return make_app(PLUGINS=["plugins.sales", "plugins.analysis", "plugins.marketing"],
                    MARKETING_SMTP_HOST="127.0.0.1", MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example")


@pytest.fixture
def seeded(app: Any, ctx: Any, make_customer: Any, make_user: Any) -> dict[str, Any]:
    """90 customers: 60 sent (A/B 30 each), 30 held out; events on three days; orders; two RFM segments."""
    rep, _h = make_user("sales", username="rep")
    people = [make_customer(f"C{i:02d}" if i else "<b>Ann & \"Co\"</b>", rep if i < 5 else None) for i in range(90)]
    audience = audiences.create_audience(ctx, {"name": "All"})
    a = templates.create_template(ctx, {"name": "A", "subject": "A", "text": "A"})
    b = templates.create_template(ctx, {"name": "B", "subject": "B", "text": "B"})
    campaign = campaigns.create_campaign(ctx, {
        "name": "<script>x</script>五一", "audience_id": audience.id, "template_id": a.id, "holdout_percent": 33,
        "ab_test_percent": 50, "ab_hours": 24, "ab_metric": "clicked",
        "variants": [{"label": "A", "template_id": a.id}, {"label": "B", "template_id": b.id}]})
    variants = {v.label: v.id for v in ctx.session.scalars(select(Variant).where(Variant.campaign_id == campaign.id))}
    recipients = []
    for i, p in enumerate(people):
        sent = i < 60
        recipients.append(Recipient(campaign_id=campaign.id, customer_id=p.id, status="sent" if sent else "held_out",
                                    variant_id=(variants["A"] if i % 2 == 0 else variants["B"]) if sent else None,
                                    sent_at=DAY0 + dt.timedelta(days=i // 30) if sent else None))
    ctx.session.add_all(recipients)
    campaign.status, campaign.started_at = "done", DAY0
    ctx.session.flush()
    for i, r in enumerate(recipients[:60]):
        day = DAY0 + dt.timedelta(days=i % 3, hours=1)
        kinds = ["delivered"] + (["opened"] if i < 40 else []) + (["clicked"] if i % 2 and i < 30 else []) \
            + (["bounced"] if i == 59 else [])
        ctx.session.add_all(MarketingEvent(campaign_id=campaign.id, recipient_id=r.id, customer_id=r.customer_id,
                                           kind=k, at=day) for k in kinds)
    ctx.session.add_all(analysis_models.SegmentRule(name=n, label=lbl, priority=p)
                        for n, lbl, p in (("champions", "Champions", 1), ("at_risk", "At risk", 2)))
    run = DAY0.date() - dt.timedelta(days=1)
    ctx.session.add_all(analysis_models.RfmScore(run_date=run, customer_id=p.id, recency_days=1, frequency=1,
                                                 monetary=10, currency="CNY", r_score=3, f_score=3, m_score=3,
                                                 segment="champions" if i % 4 == 0 else "at_risk")
                        for i, p in enumerate(people[:70]))  # twenty without a segment
    ctx.session.commit()
    for i in (0, 2, 4, 6, 8, 10, 12, 14, 60, 61):  # 8 sent, 2 held out converted; one order too late
        orders.record_order(ctx, {"number": f"O{i}", "customer_id": people[i].id, "currency": "CNY",
                                  "order_date": DAY0.date() + dt.timedelta(days=3),
                                  "lines": [{"description": "花", "quantity": "1", "unit_price": "100"}]})
    orders.record_order(ctx, {"number": "late", "customer_id": people[1].id, "currency": "CNY",
                              "order_date": DAY0.date() + dt.timedelta(days=40),
                              "lines": [{"description": "花", "quantity": "1", "unit_price": "100"}]})
    user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example", full_name="Mia")
    return {"campaign": campaign, "people": people, "rep": rep}


def cells(page: str, row_class: str) -> list[str]:
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', page, re.S)
    assert row, row_class
    return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_the_page_shows_the_results_services_numbers(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    campaign = seeded["campaign"]
    report = results.report(ctx, campaign.id)
    client = admin_login(app.test_client(), "mia", lang="en")
    page = client.get(f"{URL}/{campaign.id}").text
    funnel = report["funnel"]
    assert funnel["delivered"] == 60 and funnel["opened"] == 40 and funnel["clicked"] == 15
    expected = {"audience": 90, "sent": 60, "delivered": 60, "opened": 40, "clicked": 15,
                "converted": report["conversions"]["sent"]}
    assert expected["converted"] == 8
    for key, n in expected.items():
        assert cells(page, f"funnel-{key}")[0] == str(n), key
    assert cells(page, "funnel-opened")[1:] == ["66.7%", "44.4%"]  # of delivered, of the audience
    # lift against the control group with its interval, as the service gives it
    conv = report["conversions"]
    assert conv["held_out"] == 2 and conv["interval"] is not None
    assert cells(page, "conv-sent")[:2] == ["8", f"{conv['rate_sent'] * 100:.1f}%"]
    assert cells(page, "conv-held")[:2] == ["2", f"{conv['rate_control'] * 100:.1f}%"]
    low, high = (f"{v * 100:+.1f} points" for v in conv["interval"])
    assert f"95% interval: {low} to {high}" in page
    # variants: sent, hits and rate from the A/B report, with its verdict
    for v in report["ab_test"]["variants"]:
        assert cells(page, f"variant-{v['label']}")[:3] == [str(v["sent"]), str(v["hits"]), f"{v['rate'] * 100:.1f}%"]
    assert report["ab_test"]["best"] == "B" and report["ab_test"]["significant"]  # B: 15 of 30 clicked, A: none
    assert "Best so far: B." in page and "The difference is significant (p < 0.05)." in page
    assert cells(page, "variant-A")[3] == f"{report['ab_test']['variants'][0]['against_best']['p_value']:.3f}"
    # per day: the three days since the start, each kind
    series = campaign_report.over_time(ctx, campaign)
    assert series["days"] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    assert series["series"]["sent"] == [30, 30, 0] and series["series"]["delivered"] == [20, 20, 20]
    assert series["series"]["bounced"] == [0, 0, 1] and "replied" not in series["series"]
    if ctx.session.get_bind().dialect.name == "postgresql":  # days are UTC days, not the session's zone's
        ctx.session.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14: 09:00 UTC is the next day
        assert campaign_report.over_time(ctx, campaign) == series
        ctx.session.rollback()
    # RFM segments: one row each, in rule order, the customers without one last
    rows = campaign_report.by_segment(ctx, campaign)
    assert [(r["label"], r["audience"], r["sent"], r["held_out"]) for r in rows] == [
        ("Champions", 18, 15, 3), ("At risk", 52, 45, 7), (None, 20, 0, 20)]
    assert [r["converted"] for r in rows] == [4, 4, 0] and rows[0]["converted_held_out"] == 1
    assert sum(r["opened"] for r in rows) == 40 and sum(r["clicked"] for r in rows) == 15
    assert "<th>Champions</th>" in page and "<th>No segment</th>" in page
    assert report["attribution"]["last_touch"]["orders"] == int(cells(page, "last-touch")[0]) == 8
    assert page.count("<svg") == 5  # funnel, per day, variants, segments, lift
    from plugins.marketing.cli import marketing

    out = app.test_cli_runner().invoke(marketing, ["report", str(campaign.id)]).output
    assert "Delivered\t60" in out and "delivered" not in out  # the new funnel line in words


def test_names_are_escaped_in_the_svg_and_the_page(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    campaign = seeded["campaign"]
    ctx.session.add(analysis_models.SegmentRule(name="x", label="<img src=x onerror=alert(1)>", priority=0))
    ctx.session.execute(analysis_models.RfmScore.__table__.update()
                        .where(analysis_models.RfmScore.customer_id == seeded["people"][0].id).values(segment="x"))
    ctx.session.commit()
    page = admin_login(app.test_client(), "mia", lang="en").get(f"{URL}/{campaign.id}").text
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;五一" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    svg = re.search(r'<div class="chart segments-chart">(.*?)</div>', page, re.S).group(1)
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg and "<img" not in svg


def test_the_csv_exports(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    campaign = seeded["campaign"]
    client = admin_login(app.test_client(), "mia", lang="en")
    r = client.get(f"{URL}/{campaign.id}/outcomes.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv" and not r.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["Customer", "Variant", "Status", "Sent at", "Delivered", "Opened the message", "Clicked", "Replied",
                       "Unsubscribed", "Bounced", "Converted"]
    assert len(rows) == 91
    first = rows[1]
    assert first[0] == '<b>Ann & "Co"</b>' and first[1:3] == ["A", "Sent"] and first[4:7] == ["Yes", "Yes", "No"]
    assert first[-1] == "Yes"
    assert rows[2][-1] == "No"  # C01 ordered, but 40 days later
    assert rows[61][1:3] == ["", "Control group (not sent)"] and rows[61][-1] == "Yes"
    assert sum(row[-1] == "Yes" for row in rows[1:61]) == results.report(ctx, campaign.id)["conversions"]["sent"]
    bom = client.get(f"{URL}/{campaign.id}/outcomes.csv?bom=1")
    assert bom.data.startswith("\ufeff".encode()) and bom.text.lstrip("\ufeff").startswith("Customer,")
    agg = list(csv.reader(io.StringIO(client.get(f"{URL}/{campaign.id}/aggregates.csv").text)))
    assert agg[0] == ["Section", "Item", "Figure"]
    assert ["Funnel", "Converted", "8"] in agg and ["Funnel", "Delivered", "60"] in agg
    assert ["Variant A", "Sent", "30"] in agg and ["RFM segment Champions", "Converted", "4"] in agg
    assert ["Events per day", "2026-05-03 Bounced", "1"] in agg
    assert ["Attribution", "Last touch", "8"] in agg


def test_the_page_in_chinese_without_codes(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    campaign = seeded["campaign"]
    client = admin_login(app.test_client(), "mia", lang="zh-CN")
    page = client.get(f"{URL}/{campaign.id}").text
    for words in ("漏斗", "已交付", "已打开", "已转化", "每日事件", "按版本的结果", "按 RFM 分群的结果", "对照组",
                  "提升度", "最后触达", "无分群"):
        assert words in page, words
    assert "提交时间" not in page  # a ticket's "Opened" is not the message's
    body = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", page.split("<body", 1)[1], flags=re.S)
    latin = set(re.findall(r"[A-Za-z][A-Za-z-]*", html.unescape(body)))
    assert latin <= {"CRM", "API", "KPI", "CSV", "Excel", "UTF-", "RFM", "CNY", "A", "B", "p", "P", "Mia", "script", "x"}, latin
    for code in (">delivered<", ">held_out<", ">champions<", ">converted<", ">sent<"):
        assert code not in page
    header = next(csv.reader(io.StringIO(client.get(f"{URL}/{campaign.id}/outcomes.csv").text)))
    assert header[0] == "客户" and "已转化" in header
    assert f'href="{URL}/{campaign.id}"' in client.get("/admin/marketing/campaigns/").text
    details = client.get(f"/admin/marketing/campaigns/{campaign.id}").text
    assert f'href="{URL}/{campaign.id}"' in details
    # "Opened" alone is a ticket's "opened at" (提交时间) in the shared catalogue: the funnel has its own words
    assert "<th>已打开</th>" in details and "提交时间" not in details
    recipients = client.get(f"/admin/marketing/campaigns/{campaign.id}/recipients.csv").text
    assert "已打开" in recipients.splitlines()[0] and "提交时间" not in recipients


def test_record_rules(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    campaign = seeded["campaign"]
    client = admin_login(app.test_client(), "rep", lang="en")
    assert client.get(f"{URL}/{campaign.id}").status_code == 403  # no marketing.read
    assert client.get(f"{URL}/{campaign.id}/outcomes.csv").status_code == 403
    role = ctx.session.scalar(select(Role).where(Role.name == "sales"))
    role.permissions = [*role.permissions, "marketing.read"]
    ctx.session.commit()
    page = client.get(f"{URL}/{campaign.id}").text
    assert cells(page, "funnel-audience")[0] == "90"  # counts stay whole, as in the results API
    rows = list(csv.reader(io.StringIO(client.get(f"{URL}/{campaign.id}/outcomes.csv").text)))
    assert [r[0] for r in rows[1:]] == ['<b>Ann & "Co"</b>', "C01", "C02", "C03", "C04"]  # only their customers
    segments = re.search(r'<table class="table table-sm report-segments.*?</table>', page, re.S).group(0)
    assert sum(int(c) for c in re.findall(r"<tr><th>[^<]*</th><td class=\"text-right\">(\d+)</td>", segments)) == 5
    other = campaigns.create_campaign(ctx, {"name": "Nobody of theirs", "audience_id": campaign.audience_id,
                                            "template_id": campaign.template_id})
    r = client.get(f"{URL}/{other.id}", follow_redirects=True)
    assert "does not exist" in r.text and "Nobody of theirs" not in r.text


def test_a_journey_shows_its_steps(app: Any, ctx: Any, seeded: dict[str, Any]) -> None:
    from plugins.marketing.models_journeys import Enrolment, Journey, JourneyStep, StepLog

    campaign = ctx.session.get(Campaign, seeded["campaign"].id)
    campaign.kind = "journey"
    ctx.session.add(Journey(campaign_id=campaign.id))
    step = JourneyStep(campaign_id=campaign.id, name="<i>Welcome</i>", kind="send", version=1, position=0)
    ctx.session.add(step)
    ctx.session.flush()
    enrolments = [Enrolment(campaign_id=campaign.id, customer_id=p.id, state="done") for p in seeded["people"][:3]]
    ctx.session.add_all(enrolments)
    ctx.session.flush()
    ctx.session.add_all(StepLog(enrolment_id=e.id, step_id=step.id, outcome="sent") for e in enrolments)
    ctx.session.commit()
    page = admin_login(app.test_client(), "mia", lang="en").get(f"{URL}/{campaign.id}").text
    assert "Journey steps" in page and "&lt;i&gt;Welcome&lt;/i&gt;" in page
    assert "Send a message" in page and "Sent: 3" in page and "Finished: 3" in page
    journey_page = admin_login(app.test_client(), "mia", lang="en").get(f"/admin/marketing/journeys/{campaign.id}").text
    assert f'class="journey-report-link" href="{URL}/{campaign.id}"' in journey_page
