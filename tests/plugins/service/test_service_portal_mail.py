"""The self-service mails, sent through the outbox to a real SMTP server (aiosmtpd on a local port):
after a portal request the address gets a link to confirm it, in the language the form was shown in
(the page shows the status link once); confirming mails the new status link; a replaced link is
never mailed; and neither the logs, the outbox nor the audit log hold a usable link."""
from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import select

from crmcore.models import AuditLog, OutboxMessage
from crmcore.services.outbox import deliver_due
from plugins.service.models import Ticket
from plugins.service.services import portal

ZH = {"Your service request": "您的服务请求",
      "Thank you, we have your request %(number)s (%(subject)s).": "谢谢，我们已收到您的请求 %(number)s（%(subject)s）。",
      "Follow your request and answer us with this private link. Anyone with the link can read the request, "
      "so do not forward this message.": "请用这个私人链接查看进度并回复我们。任何拿到链接的人都能看到请求，请勿转发本邮件。",
      "Please confirm that this is your e-mail address: open this link within %(hours)s hours and press the button. "
      "Our answers appear on your request's page after that. If you did not send this request, ignore this message.":
      "请确认这是您的电子邮件地址：请在 %(hours)s 小时内打开此链接并点击按钮。确认之后，我们的答复会显示在您的请求页面上。"
      "如果您没有提交过这个请求，请忽略本邮件。"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"/service/portal/t/([A-Za-z0-9_.\-]+)")
CONFIRM = re.compile(r"/service/portal/confirm/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def mail_app(make_app, smtp, zh_catalogue):
    return make_app(plugins=[zh_catalogue(ZH)], PLUGINS=["plugins.service"],
                    SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=smtp[1], SERVICE_MAIL_DOMAIN="crm.example.com",
                    SERVICE_PUBLIC_URL="https://crm.example.com")


def submit(client, language: str, **fields):
    headers = {"Accept-Language": language}
    page = client.get("/service/portal/new", headers=headers).get_data(as_text=True)
    data = {"csrf_token": CSRF.search(page).group(1), "name": "王芳", "email": "wang@example.cn",
            "subject": "打印机坏了", "description": "无法开机", **fields}
    return client.post("/service/portal/new", data=data, headers=headers)


def test_confirmation_mail_in_the_forms_language_with_the_private_link(mail_app, smtp, caplog):
    inbox, _port = smtp
    caplog.set_level(logging.DEBUG)
    client = mail_app.test_client()
    ctx = mail_app.extensions["crm"].context(source="test")
    try:
        res = submit(client, "zh-CN,zh;q=0.9")
        assert res.status_code == 201
        shown = LINK.search(res.get_data(as_text=True)).group(1)  # the page shows the link once
        assert deliver_due(ctx)["delivered"] >= 1
        assert deliver_due(ctx) == {"delivered": 0, "retry": 0, "dead": 0, "unroutable": 0}  # sent once
        assert {m.status for m in ctx.session.scalars(select(OutboxMessage))} == {"delivered"}
        [mail] = inbox.messages
        assert inbox.envelopes[0][1] == ["wang@example.cn"]
        assert str(mail["Subject"]) == "[SR-000001] 您的服务请求"
        assert mail["Content-Language"] == "zh-CN"
        body = mail.get_content()
        assert "谢谢，我们已收到您的请求 SR-000001（打印机坏了）。" in body and "确认" in body
        assert not LINK.search(body)  # only the confirmation link until the address is confirmed
        confirm = CONFIRM.search(body).group(1)
        assert f"https://crm.example.com/service/portal/confirm/{confirm}" in body
        page = client.get(f"/service/portal/t/{shown}")
        assert page.status_code == 200 and "无法开机" in page.get_data(as_text=True)
        form = client.get(f"/service/portal/confirm/{confirm}", headers={"Accept-Language": "zh-CN"})
        res = client.post(f"/service/portal/confirm/{confirm}",
                          data={"csrf_token": CSRF.search(form.get_data(as_text=True)).group(1)})
        assert res.status_code == 303
        assert deliver_due(ctx)["delivered"] == 1
        body = inbox.messages[-1].get_content()
        assert "请勿转发" in body and not CONFIRM.search(body)
        mailed = LINK.search(body).group(1)
        assert f"https://crm.example.com/service/portal/t/{mailed}" in body
        location = res.headers["Location"]  # on to the mailed link: the same issue, each copy signed when made
        assert "/service/portal/t/" in location
        assert portal._serializer(ctx).loads(location.rsplit("/", 1)[1]) == portal._serializer(ctx).loads(mailed)
        assert client.get(f"/service/portal/t/{shown}").status_code == 404  # the browser's link was replaced
        page = client.get(f"/service/portal/t/{mailed}")
        assert page.status_code == 200 and "无法开机" in page.get_data(as_text=True)
        nonce = portal._serializer(ctx).loads(mailed)["n"]
        confirm_nonce = portal._serializer(ctx, "service-portal-confirm").loads(confirm)["c"]
        # no usable link anywhere but in the mail and the page: not in logs, the outbox or the audit log
        stored = json.dumps([m.payload for m in ctx.session.scalars(select(OutboxMessage))], ensure_ascii=False)
        stored += json.dumps([[a.changes, a.data] for a in ctx.session.scalars(select(AuditLog))], ensure_ascii=False)
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")  # not the SMTP server's
        for secret in (shown, mailed, nonce, confirm, confirm_nonce):
            assert secret not in ours and secret not in stored
        assert "service.ticket.link_issued" in stored
        # the same request in English gets an English mail
        assert submit(client, "en", email="amy@example.com", subject="Broken printer").status_code == 201
        deliver_due(ctx)
        english = inbox.messages[-1]
        assert str(english["Subject"]) == "[SR-000002] Your service request"
        assert english["Content-Language"] == "en"
        assert "Thank you, we have your request SR-000002 (Broken printer)." in english.get_content()
        assert "Please confirm that this is your e-mail address" in english.get_content()
        assert ctx.session.scalar(select(Ticket).where(Ticket.number == "SR-000002")).customer_locale == "en"
    finally:
        ctx.session.close()


def test_a_replaced_link_is_not_mailed_and_the_new_one_is(mail_app, smtp):
    inbox, _port = smtp
    client = mail_app.test_client()
    ctx = mail_app.extensions["crm"].context(source="test")
    try:
        old = LINK.search(submit(client, "zh-CN").get_data(as_text=True)).group(1)
        ticket = ctx.session.scalar(select(Ticket))
        new = portal.reissue_link(ctx, ticket.id)  # before the confirmation went out
        deliver_due(ctx)
        [mail] = inbox.messages  # only the new confirmation link: the first one no longer works
        assert not LINK.search(mail.get_content())
        confirm = CONFIRM.search(mail.get_content()).group(1)
        assert client.get(f"/service/portal/t/{old}").status_code == 404
        assert client.get(f"/service/portal/t/{new}").status_code == 200
        form = client.get(f"/service/portal/confirm/{confirm}").get_data(as_text=True)
        res = client.post(f"/service/portal/confirm/{confirm}", data={"csrf_token": CSRF.search(form).group(1)})
        assert res.status_code == 303
        ctx.session.expire_all()
        new = portal.reissue_link(ctx, ticket.id)  # confirmed: a re-issued status link is mailed
        deliver_due(ctx)
        mailed = LINK.search(inbox.messages[-1].get_content()).group(1)
        assert portal._serializer(ctx).loads(mailed)["n"] == portal._serializer(ctx).loads(new)["n"]
        assert client.get(f"/service/portal/t/{mailed}").status_code == 200
    finally:
        ctx.session.close()


def test_no_mail_without_a_public_url(make_app, smtp):
    inbox, port = smtp
    app = make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=port)
    client = app.test_client()
    ctx = app.extensions["crm"].context(source="test")
    try:
        assert submit(client, "en").status_code == 201
        deliver_due(ctx)
        assert inbox.messages == []
    finally:
        ctx.session.close()
