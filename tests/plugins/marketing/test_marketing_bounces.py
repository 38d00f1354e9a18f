"""Bounces (RFC 3464 delivery status notifications) and replies of campaign mails, through the service plugin's
e-mail intake: the original Message-ID, failed recipient and status parsed; a hard bounce suppresses the
address; a reply lands on the customer's timeline and in the campaign's results; neither makes a ticket."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from crmcore.models import Interaction
from plugins.marketing.models import MarketingEvent
from plugins.marketing.services import audiences, campaigns, consent, inbound, results, templates
from plugins.service import models as service_models  # noqa: F401 - the tables before the database fixture
from plugins.service.models import Ticket
from plugins.service.services.intake import intake


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    _inbox, port = smtp_server
    return make_app(PLUGINS=["plugins.sales", "plugins.service", "plugins.marketing"], MARKETING_SMTP_HOST="127.0.0.1",
                    MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example",
                    MARKETING_PUBLIC_URL="https://crm.shop.example", COMPANY_NAME="星河家居")


def dsn(original_id: str, recipient: str, action: str = "failed", status: str = "5.1.1",
        returned: str = "text/rfc822-headers") -> bytes:
    original = f"Message-ID: {original_id}\r\nSubject: =?utf-8?b?5q+N5Lqy6IqC?=\r\nTo: {recipient}\r\n"
    if returned == "message/rfc822":
        original += "Content-Type: text/plain\r\n\r\nthe message\r\n"
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.cn>\r\nTo: news@shop.example\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.{abs(hash(original_id + action))}@mx>\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="XX"\r\n\r\n'
            "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered.\r\n\r\n"
            "--XX\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.cn\r\n"
            "Arrival-Date: Sun, 6 Dec 2026 15:00:00 +0000\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; 550 {status} mailbox unavailable\r\n\r\n"
            f"--XX\r\nContent-Type: {returned}\r\n\r\n{original}\r\n--XX--\r\n").encode()


@pytest.fixture
def sent(ctx: Any, subscriber: Any, inbox: Any) -> dict[str, Any]:
    """A campaign sent to three customers: their mails by address."""
    for name, address in (("甲公司", "jia@example.cn"), ("乙公司", "yi@example.cn"), ("丙公司", "bing@example.cn")):
        subscriber(name, address, stage="customer")
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                              "value": "customer"}})
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节", "text": "你好 {{ contact.name }}"})
    campaign = campaigns.create_campaign(ctx, {"name": "母亲节", "audience_id": audience.id,
                                               "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    return {"campaign": campaign, **{m["To"]: m for m in inbox.messages}}


def test_a_hard_bounce_marks_the_recipient_and_suppresses_the_address(ctx: Any, sent: dict[str, Any]) -> None:
    mid = sent["jia@example.cn"]["Message-ID"]
    assert intake(ctx, dsn(mid, "jia@example.cn")).status == "bounced"
    assert consent.is_suppressed(ctx, "email", "jia@example.cn")
    event = ctx.session.scalar(select(MarketingEvent).where(MarketingEvent.kind == "bounced"))
    assert event.detail.startswith("5.1.1 jia@example.cn")
    report = results.report(ctx, sent["campaign"].id)
    assert report["funnel"]["bounced"] == 1
    assert intake(ctx, dsn(mid, "jia@example.cn", returned="message/rfc822")).status == "bounced"  # a repeat
    assert report["funnel"]["bounced"] == results.report(ctx, sent["campaign"].id)["funnel"]["bounced"]
    assert ctx.session.scalar(select(func.count()).select_from(Ticket)) == 0  # no ticket from a bounce
    timeline = ctx.session.scalars(select(Interaction.subject)).all()
    assert any("5.1.1" in s and "母亲节" in s for s in timeline)


def test_a_soft_bounce_marks_the_recipient_only_and_a_delay_changes_nothing(ctx: Any, sent: dict[str, Any]) -> None:
    mid = sent["yi@example.cn"]["Message-ID"]
    assert intake(ctx, dsn(mid, "yi@example.cn", action="delayed", status="4.4.1")).status == "delayed"
    assert results.report(ctx, sent["campaign"].id)["funnel"]["bounced"] == 0
    assert intake(ctx, dsn(mid, "yi@example.cn", status="4.2.2", returned="message/rfc822")).status == "bounced"
    assert not consent.is_suppressed(ctx, "email", "yi@example.cn")
    assert results.report(ctx, sent["campaign"].id)["funnel"]["bounced"] == 1
    assert intake(ctx, dsn(mid, "yi@example.cn", action="delivered", status="2.0.0")).status == "delivered"


def test_a_dsn_about_a_message_we_did_not_send_is_left_to_the_intake(ctx: Any, sent: dict[str, Any]) -> None:
    real = sent["jia@example.cn"]["Message-ID"]
    forged = real.replace(real[real.index(".") + 1], "0" if real[real.index(".") + 1] != "0" else "1", 1)
    assert inbound.recipient_of(ctx, forged) is None
    assert intake(ctx, dsn(forged, "jia@example.cn")).status == "skipped"  # an auto-reply, as before
    assert not consent.is_suppressed(ctx, "email", "jia@example.cn")


def test_a_reply_lands_on_the_timeline_and_in_the_results(ctx: Any, sent: dict[str, Any]) -> None:
    mid = sent["bing@example.cn"]["Message-ID"]
    raw = (f"From: 丙 <bing@example.cn>\r\nTo: news@shop.example\r\nSubject: =?utf-8?b?UmU6IOavjeS6suiKgg==?=\r\n"
           f"Message-ID: <reply1@example.cn>\r\nIn-Reply-To: {mid}\r\nReferences: {mid}\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n请问礼盒还有货吗？\r\n").encode()
    assert intake(ctx, raw).status == "campaign_reply"
    item = ctx.session.scalar(select(Interaction).where(Interaction.entity_type == "marketing_campaign"))
    assert "Re: 母亲节" in item.subject and item.body == "请问礼盒还有货吗？"
    assert results.report(ctx, sent["campaign"].id)["funnel"]["replied"] == 1
    assert ctx.session.scalar(select(func.count()).select_from(Ticket)) == 0
    auto = raw.replace(b"Message-ID: <reply1", b"Auto-Submitted: auto-replied\r\nMessage-ID: <reply2")
    assert intake(ctx, auto).status == "skipped"  # an out-of-office is no reply
    assert results.report(ctx, sent["campaign"].id)["funnel"]["replied"] == 1
    other = raw.replace(mid.encode(), b"<somewhere@else>").replace(b"<reply1", b"<reply3")
    assert intake(ctx, other).status == "created"  # not about a campaign: a ticket as before
