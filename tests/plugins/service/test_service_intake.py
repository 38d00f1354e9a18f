"""The e-mail intake with real-world messages (Outlook GB2312, Gmail UTF-8 with an attachment,
Foxmail GBK HTML-only, QQ Mail quoted-printable): sender matching, threading by reference
headers and by ticket number, duplicates, auto-replies, the CLI and the API endpoint."""
from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import select

from crmcore.plugins import register_commands
from crmcore.errors import PermissionDenied
from crmcore.models import Interaction
from crmcore.services.contacts import create_contact
from plugins.service.models import Ticket, TicketMessage
from plugins.service.services import mailparse, tickets
from plugins.service.services.intake import intake

FIXTURES = Path(__file__).parent / "fixtures"


def eml(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_parse_outlook_gb2312():
    mail = mailparse.parse(eml("outlook_gb2312.eml"))
    assert mail.subject == "打印机无法连接网络，请尽快处理"
    assert (mail.from_name, mail.from_email) == ("王芳", "wang.fang@example-corp.cn")
    assert mail.message_id == "<TYZPR06MB5274A1B2C3D4E5F6@TYZPR06MB5274.apcprd06.prod.outlook.com>"
    assert mail.text.startswith("您好：") and "HP-M404" in mail.text and "<p>" not in mail.text  # text/plain chosen
    assert mail.date.isoformat() == "2026-03-02T02:15:01+00:00"


def test_parse_gbk_name_labelled_gb2312_and_html_only_body():
    mail = mailparse.parse(eml("foxmail_gbk_html.eml"))
    assert mail.subject == "投诉：快递破损，朱镕基路仓库发货"  # 镕 is GBK, not GB2312
    assert mail.from_name == "李喆"  # labelled gb2312, really GBK
    assert "杯子碎了两个" in mail.text and "alert" not in mail.text and "font-size" not in mail.text
    assert "<div>" not in mail.text and "李喆 <lizhe@qq.com>" in mail.text


def test_parse_gmail_reply_with_attachment():
    mail = mailparse.parse(eml("gmail_reply_utf8.eml"))
    assert mail.in_reply_to == "<sr-000001.2@crm.example.com>"
    assert mail.thread_ids == ["<sr-000001.2@crm.example.com>",
                               "<TYZPR06MB5274A1B2C3D4E5F6@TYZPR06MB5274.apcprd06.prod.outlook.com>"]
    assert mail.attachments == [{"filename": "错误说明.pdf", "content_type": "application/pdf", "size": 78}]
    assert mail.text.startswith("新的情况")


def test_sender_matched_and_replies_threaded(ctx, make_customer):
    customer = make_customer("Example Corp", email="info@example-corp.cn")
    contact = create_contact(ctx, customer.id, {"name": "王芳", "email": "Wang.Fang@Example-Corp.cn"})
    first = intake(ctx, eml("outlook_gb2312.eml"))
    assert first.status == "created"
    ticket = first.ticket
    assert ticket.number == "SR-000001"  # the fixtures below quote this number
    assert (ticket.customer_id, ticket.contact_id, ticket.channel) == (customer.id, contact.id, "email")
    assert ticket.subject == "打印机无法连接网络，请尽快处理" and ticket.requester_name == "王芳"
    assert ticket.messages[0].author == "customer" and ticket.messages[0].message_id.startswith("<TYZPR06")
    assert ctx.session.scalar(select(Interaction).where(Interaction.customer_id == customer.id,
                                                        Interaction.channel == "email")) is not None
    # the agent asks for more; the ticket waits on the customer
    tickets.transition(ctx, ticket.id, "waiting_on_customer")
    # Gmail reply: References carry the first Message-ID -> same ticket, back to in progress
    reply = intake(ctx, eml("gmail_reply_utf8.eml"))
    assert reply.status == "replied" and reply.ticket.id == ticket.id
    assert reply.message.attachments[0]["filename"] == "错误说明.pdf"
    assert ticket.state == "in_progress"
    # the same message fed twice is not added twice
    again = intake(ctx, eml("gmail_reply_utf8.eml"))
    assert again.status == "duplicate" and len(ticket.messages) == 2
    # QQ Mail: no reference headers, the number in the subject, from the requester -> same ticket
    tickets.transition(ctx, ticket.id, "resolved")
    qq = intake(ctx, eml("qqmail_subject_number.eml"))
    assert qq.status == "replied" and qq.ticket.id == ticket.id
    assert ticket.state == "reopened"  # a reply on a resolved ticket reopens it


def test_number_in_subject_from_a_stranger_opens_a_new_ticket(ctx, make_customer):
    first = intake(ctx, eml("outlook_gb2312.eml")).ticket
    assert first.number == "SR-000001" and first.customer_id is None  # unknown sender: no customer
    raw = eml("qqmail_subject_number.eml").replace(b"wang.fang@example-corp.cn", b"intruder@example.net")
    result = intake(ctx, raw)
    assert result.status == "created" and result.ticket.id != first.id
    assert len(first.messages) == 1


def test_auto_replies_are_skipped_and_unknown_senders_kept(ctx):
    assert intake(ctx, eml("auto_reply.eml")).status == "skipped"
    result = intake(ctx, eml("foxmail_gbk_html.eml"))
    assert result.status == "created" and result.ticket.customer_id is None
    assert result.ticket.requester_email == "12345678@qq.com"
    assert ctx.session.scalar(select(TicketMessage.id).where(TicketMessage.message_id == "<ooo-1@example.org>")) is None


def test_intake_needs_its_permission(make_staff, as_user):
    agent = make_staff("agent", "service")
    with pytest.raises(PermissionDenied):
        intake(as_user(agent), eml("outlook_gb2312.eml"))


def test_cli_reads_eml_mbox_and_stdin(app, ctx, tmp_path):
    import crmcore.cli

    ctx.session.close()
    register_commands(app.extensions["crm"].pm, crmcore.cli.cli)
    try:
        runner = app.test_cli_runner()
        path = tmp_path / "in.mbox"
        box = mailbox.mbox(str(path))
        for name in ("outlook_gb2312.eml", "foxmail_gbk_html.eml", "auto_reply.eml"):
            box.add(mailbox.mboxMessage(eml(name)))
        box.close()
        result = runner.invoke(crmcore.cli.cli, ["service", "intake", str(path)])
        assert result.exit_code == 0, result.output
        assert "created: SR-000001 打印机无法连接网络，请尽快处理" in result.output
        assert "skipped" in result.output
        result = runner.invoke(crmcore.cli.cli, ["service", "intake", "-"], input=eml("gmail_reply_utf8.eml"))
        assert result.exit_code == 0 and "replied: SR-000001" in result.output
        eml_path = tmp_path / "x.eml"
        eml_path.write_bytes(eml("qqmail_subject_number.eml"))
        result = runner.invoke(crmcore.cli.cli, ["service", "intake", str(eml_path)])
        # no customer knows this sender, but they are SR-000001's requester: the number threads it
        assert result.output.startswith("replied: SR-000001")
        ticket = ctx.session.scalar(select(Ticket).where(Ticket.number == "SR-000001"))
        assert ticket.customer_id is None and len(ticket.messages) == 3
    finally:
        crmcore.cli.cli.commands.pop("service", None)


def test_api_endpoint(client, make_user):
    _, manager = make_user("manager")
    _, agent = make_user("service")
    assert client.post("/api/v1/service/intake", data=eml("outlook_gb2312.eml")).status_code == 401
    assert client.post("/api/v1/service/intake", data=eml("outlook_gb2312.eml"), headers=agent).status_code == 403
    res = client.post("/api/v1/service/intake", data=eml("outlook_gb2312.eml"),
                      headers={**manager, "Content-Type": "message/rfc822"})
    assert res.status_code == 201 and res.json["status"] == "created" and res.json["number"] == "SR-000001"
    res = client.post("/api/v1/service/intake", data=eml("gmail_reply_utf8.eml"),
                      headers={**manager, "Content-Type": "message/rfc822"})
    assert res.status_code == 200 and res.json["status"] == "replied"
    assert client.post("/api/v1/service/intake", data=b"", headers=manager).status_code == 422


def test_hostile_headers_are_bounded(ctx):
    raw = (b"From: " + b"x" * 300 + b" <a@example.com>\r\nSubject: " + b"S" * 400 +
           b"\r\nMessage-ID: <" + b"m" * 300 + b"@example.com>\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    mail = mailparse.parse(raw)
    assert mail.message_id is None and len(mail.from_name) == 255
    result = intake(ctx, raw)
    assert result.status == "created" and len(result.ticket.subject) == 255
    assert result.ticket.messages[0].body == "hello"
