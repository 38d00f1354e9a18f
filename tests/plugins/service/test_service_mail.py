"""Outgoing mail through the outbox against a real SMTP server (aiosmtpd on a local port): an
agent's reply reaches the customer with the stored Message-ID and the conversation's references,
the customer's answer to it threads back onto the ticket, internal notes never leave, survey
invitations carry their link, and a failing server is retried without leaking the password."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmcore.models import OutboxMessage
from crmcore.services.outbox import deliver_due
from plugins.service.services import tickets
from plugins.service.services.intake import intake

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def mail_app(make_app, smtp):
    return make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=smtp[1],
                    SERVICE_MAIL_DOMAIN="crm.example.com", SERVICE_MAIL_FROM="service@crm.example.com",
                    SERVICE_PUBLIC_URL="https://crm.example.com")


def test_reply_goes_out_and_the_answer_threads_back(mail_app, smtp):
    inbox, _port = smtp
    ctx = mail_app.extensions["crm"].context(source="test")
    try:
        ticket = intake(ctx, (FIXTURES / "outlook_gb2312.eml").read_bytes()).ticket
        reply = tickets.add_message(ctx, ticket.id, {"body": "您好，请重启打印机后再试。"})
        tickets.add_message(ctx, ticket.id, {"body": "内部：可能是固件问题", "internal": True})
        assert deliver_due(ctx)["delivered"] == 1  # the internal note has no outbox row
        assert len(inbox.messages) == 1
        sent = inbox.messages[0]
        assert inbox.envelopes[0] == ("service@crm.example.com", ["wang.fang@example-corp.cn"])
        assert sent["Message-ID"] == reply.message_id
        assert reply.message_id.startswith(f"<sr-000001.{reply.id}.") and reply.message_id.endswith("@crm.example.com>")
        assert str(sent["In-Reply-To"]).strip() == "<TYZPR06MB5274A1B2C3D4E5F6@TYZPR06MB5274.apcprd06.prod.outlook.com>"
        assert str(sent["Subject"]) == "[SR-000001] 打印机无法连接网络，请尽快处理"
        assert sent.get_content().strip() == "您好，请重启打印机后再试。"
        assert "内部" not in sent.as_string()
        # the customer answers that mail from any client: In-Reply-To carries our Message-ID
        answer = (f"From: someone-else@example.org\r\nTo: service@crm.example.com\r\nSubject: Re: hello\r\n"
                  f"Message-ID: <answer-1@example.org>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
                  f"Content-Type: text/plain; charset=utf-8\r\n\r\nRestarted, works now.\r\n").encode()
        result = intake(ctx, answer)
        assert result.status == "replied" and result.ticket.id == ticket.id
        # delivering again sends nothing new
        assert deliver_due(ctx) == {"delivered": 0, "retry": 0, "dead": 0, "unroutable": 0}
    finally:
        ctx.session.close()


def test_survey_invitation_carries_its_link(mail_app, smtp, make_customer):
    inbox, _port = smtp
    ctx = mail_app.extensions["crm"].context(source="test")
    try:
        customer = make_customer("Mail Co", email="buyer@mail-co.example")
        t = tickets.create_ticket(ctx, {"subject": "x", "customer_id": customer.id})
        tickets.transition(ctx, t.id, "resolved")
        deliver_due(ctx)
        [invite] = inbox.messages
        assert invite["To"] == "buyer@mail-co.example"
        link = next(line for line in invite.get_content().splitlines() if line.startswith("https://"))
        path = link.removeprefix("https://crm.example.com")
        assert mail_app.test_client().get(path).status_code == 200
    finally:
        ctx.session.close()


def test_a_failing_server_is_retried_without_leaking_the_password(make_app, unused_port):
    app = make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=unused_port,
                   SERVICE_SMTP_USER="svc", SERVICE_SMTP_PASSWORD="s3cret-pw")
    ctx = app.extensions["crm"].context(source="test")
    try:
        t = tickets.create_ticket(ctx, {"subject": "x", "requester_email": "a@example.org"})
        tickets.add_message(ctx, t.id, {"body": "hello"})
        assert deliver_due(ctx)["retry"] == 1
        row = ctx.session.scalar(select(OutboxMessage).where(OutboxMessage.destination == "service.mail"))
        assert row.status == "pending" and "SMTP 127.0.0.1" in row.last_error and "s3cret" not in row.last_error
    finally:
        ctx.session.close()


def test_mail_is_off_without_a_server(ctx):
    t = tickets.create_ticket(ctx, {"subject": "x", "requester_email": "a@example.org"})
    tickets.add_message(ctx, t.id, {"body": "hello"})
    # no mail server: the destination does not exist, so the reply gets no outbox row at all
    assert ctx.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.destination == "service.mail")) == 0
    assert deliver_due(ctx)["delivered"] == 0


def test_mails_speak_the_customers_language(mail_app, smtp, make_customer):
    """A ticket from the Chinese portal form gets its replies and survey in Chinese, whatever the
    server's default language is."""
    from email.utils import parseaddr

    inbox, _port = smtp
    ctx = mail_app.extensions["crm"].context(source="test")
    try:
        customer = make_customer("中文客户", email="li@kehu.example")
        t = tickets.create_ticket(ctx, {"subject": "空调不制冷", "customer_id": customer.id})
        t.customer_locale = "zh_CN"
        ctx.session.commit()
        tickets.add_message(ctx, t.id, {"body": "师傅明天上门。"})
        tickets.transition(ctx, t.id, "resolved")
        deliver_due(ctx)
        reply, invite = inbox.messages
        assert reply["Content-Language"] == "zh-CN" and parseaddr(str(reply["From"]))[0] == "客户服务"
        assert invite["Content-Language"] == "zh-CN" and "满意" in invite.get_content()
        english = tickets.create_ticket(ctx, {"subject": "No cooling", "customer_id": customer.id})
        tickets.add_message(ctx, english.id, {"body": "We come tomorrow."})
        deliver_due(ctx)
        assert inbox.messages[-1]["Content-Language"] == "en"
        assert parseaddr(str(inbox.messages[-1]["From"]))[0] == "Customer service"
    finally:
        ctx.session.close()
