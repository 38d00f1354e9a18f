"""The self-service pages: a request submitted without JavaScript, CSRF on every form, the status
link that only its customer holds, and that no other token (tampered, expired, replaced, another
customer's) shows anything: always the same 404."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crmcore.models import OutboxMessage
from plugins.service.models import Ticket
from plugins.service.services import portal, tickets


@pytest.fixture
def app(make_app):
    """With a mail server configured: the confirmation link is in the mail's outbox row, which is
    written only when the destination ``service.mail`` exists (nothing is delivered here)."""
    return make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1")


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def submit(client, **fields):
    page = client.get("/service/portal/new")
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.get_data(as_text=True)), "name": "王芳", "email": "wang@example.cn",
            "subject": "打印机坏了", "description": "无法开机", **fields}
    return client.post("/service/portal/new", data=data)


def token_of(response) -> str:
    return re.search(r"/service/portal/t/([A-Za-z0-9_.\-]+)", response.get_data(as_text=True)).group(1)


def confirm(client, ctx, ticket) -> str:
    """Confirm the requester's address with the link the mailer would send (built from the event's
    issue id, as the mailer does); the new status-link token."""
    ctx.session.expire_all()
    issued = [m.payload["data"] for m in ctx.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
              if m.topic == "service.ticket.link_issued" and m.payload.get("entity_id") == ticket.id]
    link = portal.confirm_token_for_issue(ctx, ctx.session.get(Ticket, ticket.id), issued[-1]["confirm"])
    page = client.get(f"/service/portal/confirm/{link}")
    assert page.status_code == 200
    res = client.post(f"/service/portal/confirm/{link}", data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert res.status_code == 303
    return res.headers["Location"].rsplit("/", 1)[-1]


def test_submit_and_follow_a_request(client, ctx, make_customer):
    customer = make_customer("Example", email="wang@example.cn")
    res = submit(client)
    assert res.status_code == 201
    body = res.get_data(as_text=True)
    assert "SR-000001" in body
    token = token_of(res)
    ticket = ctx.session.scalar(select(Ticket))
    # attached to no customer until the address is confirmed (anyone can type anyone's address)
    assert (ticket.channel, ticket.customer_id, ticket.requester_email) == ("web", None, "wang@example.cn")
    assert token not in (ticket.portal_nonce_hash or "")  # only a hash of the nonce is stored
    page = client.get(f"/service/portal/t/{token}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    assert "打印机坏了" in html and "无法开机" in html and "<script" not in html
    # the agent answers, adds an internal note and waits on the customer
    tickets.add_message(ctx, ticket.id, {"body": "请重启试试"})
    tickets.add_message(ctx, ticket.id, {"body": "secret internal note", "internal": True})
    tickets.transition(ctx, ticket.id, "waiting_on_customer")
    html = client.get(f"/service/portal/t/{token}").get_data(as_text=True)
    assert "无法开机" in html and "请重启试试" not in html and "secret internal note" not in html  # not confirmed yet
    token = confirm(client, ctx, ticket)
    ctx.session.expire_all()
    assert ctx.session.get(Ticket, ticket.id).customer_id == customer.id
    html = client.get(f"/service/portal/t/{token}").get_data(as_text=True)
    assert "请重启试试" in html and "secret internal note" not in html
    # the customer replies through the page (with the CSRF token) and the ticket goes back to work
    res = client.post(f"/service/portal/t/{token}/reply", data={"csrf_token": csrf(html), "body": "重启也没用"})
    assert res.status_code == 302
    ctx.session.expire_all()
    ticket = ctx.session.get(Ticket, ticket.id)
    assert ticket.state == "in_progress" and ticket.messages[-1].body == "重启也没用"
    assert ticket.messages[-1].author == "customer"
    # once resolved, the status page offers the CSAT survey; answered, the offer disappears
    assert "/service/survey/" not in client.get(f"/service/portal/t/{token}").get_data(as_text=True)
    tickets.transition(ctx, ticket.id, "resolved")
    html = client.get(f"/service/portal/t/{token}").get_data(as_text=True)
    survey_url = re.search(r'href="(/service/survey/[^"]+)"', html).group(1)
    page = client.get(survey_url).get_data(as_text=True)
    assert "How satisfied" in page
    assert client.post(survey_url, data={"csrf_token": csrf(page), "score": "5"}).status_code == 302
    assert "/service/survey/" not in client.get(f"/service/portal/t/{token}").get_data(as_text=True)


def test_forms_need_the_csrf_token(client, ctx):
    assert client.post("/service/portal/new", data={"name": "x", "email": "x@example.cn", "subject": "s",
                                                    "description": "d"}).status_code == 400
    res = submit(client)
    token = token_of(res)
    assert client.post(f"/service/portal/t/{token}/reply", data={"body": "hi"}).status_code == 400
    assert len(ctx.session.scalar(select(Ticket)).messages) == 1


def test_invalid_input_is_shown_and_nothing_is_created(client, ctx):
    res = submit(client, email="not-an-address", description="")
    assert res.status_code == 422
    assert ctx.session.scalars(select(Ticket)).all() == []
    res = submit(client, website_url="http://spam.example")  # the honeypot
    assert res.status_code == 200 and ctx.session.scalars(select(Ticket)).all() == []


def test_a_customer_never_sees_another_customers_ticket(client, app, ctx, make_customer):
    a = token_of(submit(client, email="a@example.cn", subject="A's printer", description="A secret"))
    b = token_of(submit(client, email="b@example.cn", subject="B's invoice", description="B secret"))
    ticket_a, ticket_b = ctx.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    page_a = client.get(f"/service/portal/t/{a}").get_data(as_text=True)
    assert "A secret" in page_a and "B secret" not in page_a and ticket_b.number not in page_a

    signer = portal._serializer(ctx)
    nonce_a = signer.loads(a)["n"]
    forged = [
        a[:-2] + ("AA" if not a.endswith("AA") else "BB"),            # tampered signature
        signer.dumps({"t": ticket_b.id, "n": nonce_a}),               # A's nonce on B's id, validly signed
        signer.dumps({"t": ticket_b.id, "n": "guess"}),               # a guessed nonce
        "x" * 40, "", b + "x",
    ]
    from itsdangerous import URLSafeTimedSerializer

    forged.append(URLSafeTimedSerializer("another-secret", salt="service-portal").dumps({"t": ticket_b.id,
                                                                                         "n": nonce_a}))
    bodies = set()
    for token in forged:
        if not token:
            continue
        res = client.get(f"/service/portal/t/{token}")
        assert res.status_code == 404, token
        text = res.get_data(as_text=True)
        assert "B secret" not in text and ticket_b.number not in text and "B's invoice" not in text
        bodies.add(text)
        assert client.post(f"/service/portal/t/{token}/reply", data={"body": "x"}).status_code in (400, 404)
    assert len(bodies) == 1  # the same answer whatever was wrong: nothing to learn from it
    # a replaced link stops working; the new one works
    new = portal.reissue_link(ctx, ticket_a.id)
    assert client.get(f"/service/portal/t/{a}").status_code == 404
    assert client.get(f"/service/portal/t/{new}").status_code == 200
    # an expired link is the same 404
    app.extensions["crm"].settings["SERVICE_PORTAL_LINK_DAYS"] = -1
    assert client.get(f"/service/portal/t/{new}").status_code == 404


def test_closed_requests_take_no_reply(client, ctx):
    token = token_of(submit(client))
    ticket = ctx.session.scalar(select(Ticket))
    tickets.transition(ctx, ticket.id, "closed")
    html = client.get(f"/service/portal/t/{token}").get_data(as_text=True)
    assert 'name="body"' not in html
    # a direct post is ignored
    token_csrf = csrf(client.get("/service/portal/new").get_data(as_text=True))
    assert client.post(f"/service/portal/t/{token}/reply", data={"csrf_token": token_csrf, "body": "again"}).status_code == 302
    ctx.session.expire_all()
    assert ctx.session.get(Ticket, ticket.id).state == "closed"


def test_pages_are_translated(client):
    html = client.get("/service/portal/new", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Submit a service request" in html


def test_the_form_offers_phone_and_wechat_and_keeps_them_on_the_ticket(client, ctx):
    page = client.get("/service/portal/new", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'name="phone"' in page and 'type="tel"' in page and 'name="wechat"' in page and "微信（选填）" in page
    assert 'name="viewport"' in page  # laid out for a phone
    res = submit(client, phone="138 0013 8000", wechat="wangfang_88")
    assert res.status_code == 201
    ticket = ctx.session.scalar(select(Ticket))
    assert (ticket.requester_phone, ticket.requester_wechat) == ("138 0013 8000", "wangfang_88")
    # the ticket's one validation judges the phone, shown at the form's field, nothing typed lost
    res = submit(client, phone="12", wechat="keep-me")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "Not a valid phone number." in html and 'value="keep-me"' in html
    assert ctx.session.scalars(select(Ticket)).all() == [ticket]
