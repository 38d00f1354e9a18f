"""A portal request names an e-mail address nobody has proven to own: it is attached to no customer
and its status page shows only what the requester sent, until the owner of the address confirms it
with the signed, expiring, single-use link mailed to it (through the real routes and a real SMTP
server). Forged, expired, reused and replaced links do nothing, and no answer tells whether an
address belongs to a customer."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crmcore.models import Interaction
from crmcore.services.outbox import deliver_due
from plugins.service.models import Ticket
from plugins.service.services import portal, tickets

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"/service/portal/t/([A-Za-z0-9_.\-]+)")
CONFIRM = re.compile(r"/service/portal/confirm/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def mail_app(make_app, smtp):
    return make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=smtp[1],
                    SERVICE_MAIL_DOMAIN="crm.example.com", SERVICE_PUBLIC_URL="https://crm.example.com")


@pytest.fixture
def env(mail_app, smtp):
    inbox, _port = smtp
    client = mail_app.test_client()
    ctx = mail_app.extensions["crm"].context(source="test")
    yield client, ctx, inbox
    ctx.session.close()


def submit(client, email="wang@example.cn", **fields):
    page = client.get("/service/portal/new", headers={"Accept-Language": "en"}).get_data(as_text=True)
    data = {"csrf_token": CSRF.search(page).group(1), "name": "Wang Fang", "email": email,
            "subject": "Printer broken", "description": "It does not start", **fields}
    return client.post("/service/portal/new", data=data, headers={"Accept-Language": "en"})


def mailed(ctx, inbox, pattern):
    """Deliver the outbox; the link matching ``pattern`` in the newest mail that has one."""
    deliver_due(ctx)
    for mail in reversed(inbox.messages):
        found = pattern.search(mail.get_content())
        if found:
            return found.group(1)
    return None


def confirm(client, token):
    form = client.get(f"/service/portal/confirm/{token}")
    assert form.status_code == 200
    return client.post(f"/service/portal/confirm/{token}", data={"csrf_token": CSRF.search(form.get_data(as_text=True)).group(1)})


def fresh(ctx, ticket_id):
    ctx.session.expire_all()
    return ctx.session.get(Ticket, ticket_id)


def test_a_stranger_naming_a_customers_address_gets_neither_the_customer_nor_the_staffs_answers(env, make_customer):
    client, ctx, inbox = env
    customer = make_customer("Acme", email="wang@example.cn")
    shown = LINK.search(submit(client).get_data(as_text=True)).group(1)  # the stranger keeps this link
    ticket = ctx.session.scalar(select(Ticket))
    assert ticket.customer_id is None and ticket.contact_id is None
    assert ctx.session.scalars(select(Interaction).where(Interaction.customer_id == customer.id)).all() == []
    tickets.add_message(ctx, ticket.id, {"body": "Your contract number is 4711"})
    tickets.transition(ctx, ticket.id, "waiting_on_customer")
    html = client.get(f"/service/portal/t/{shown}").get_data(as_text=True)
    assert "It does not start" in html and "4711" not in html
    assert 'class="state"' not in html and "confirm your e-mail address" in html
    # the requester may still add to what they sent, and sees that
    page = client.get(f"/service/portal/t/{shown}").get_data(as_text=True)
    client.post(f"/service/portal/t/{shown}/reply", data={"csrf_token": CSRF.search(page).group(1), "body": "Model X2"})
    html = client.get(f"/service/portal/t/{shown}").get_data(as_text=True)
    assert "Model X2" in html and "4711" not in html

    # the owner of the address confirms: the request joins the customer, the stranger's link dies
    token = mailed(ctx, inbox, CONFIRM)
    assert inbox.envelopes[-1][1] == ["wang@example.cn"]
    assert fresh(ctx, ticket.id).customer_id is None  # opening the link (a mail scanner) confirms nothing
    res = confirm(client, token)
    assert res.status_code == 303
    ticket = fresh(ctx, ticket.id)
    assert ticket.customer_id == customer.id and ticket.email_verify_hash is None
    assert [i.entity_id for i in ctx.session.scalars(select(Interaction).where(
        Interaction.customer_id == customer.id))] == [str(ticket.id)]
    assert client.get(f"/service/portal/t/{shown}").status_code == 404
    new = mailed(ctx, inbox, LINK)
    location = res.headers["Location"]
    assert "/service/portal/t/" in location  # on to the mailed link: the same issue, each copy signed when made
    assert portal._serializer(ctx).loads(location.rsplit("/", 1)[1]) == portal._serializer(ctx).loads(new)
    html = client.get(f"/service/portal/t/{new}").get_data(as_text=True)
    assert "4711" in html and "Model X2" in html and 'class="state"' in html


def test_confirmation_links_that_are_forged_reused_replaced_or_expired_do_nothing(env, mail_app, make_customer):
    client, ctx, inbox = env
    make_customer("Acme", email="a@example.cn")
    shown_a = LINK.search(submit(client, email="a@example.cn").get_data(as_text=True)).group(1)
    first_a = mailed(ctx, inbox, CONFIRM)
    submit(client, email="b@example.cn")
    link_b = mailed(ctx, inbox, CONFIRM)
    ticket_a, ticket_b = ctx.session.scalars(select(Ticket).order_by(Ticket.id)).all()

    # a new link on request (rate-limited, CSRF): the first one stops working
    page = client.get(f"/service/portal/t/{shown_a}").get_data(as_text=True)
    assert client.post(f"/service/portal/t/{shown_a}/confirm", data={}).status_code == 400  # no CSRF token
    res = client.post(f"/service/portal/t/{shown_a}/confirm", data={"csrf_token": CSRF.search(page).group(1)})
    assert res.status_code == 302 and "sent=1" in res.headers["Location"]
    link_a = mailed(ctx, inbox, CONFIRM)
    assert link_a != first_a

    signer = portal._serializer(ctx, "service-portal-confirm")
    nonce_b = signer.loads(link_b)["c"]
    from itsdangerous import URLSafeTimedSerializer

    forged = {
        "replaced": first_a,
        "tampered": link_a[:-2] + ("AA" if not link_a.endswith("AA") else "BB"),
        "b's nonce on a's id": signer.dumps({"t": ticket_a.id, "c": nonce_b}),
        "guessed nonce": signer.dumps({"t": ticket_a.id, "c": "guess"}),
        "another secret": URLSafeTimedSerializer("another-secret", salt="service-portal-confirm").dumps(
            {"t": ticket_a.id, "c": signer.loads(link_a)["c"]}),
        "a status link": shown_a,
        "garbage": "x" * 40,
    }
    bodies = set()
    for why, token in forged.items():
        for method in ("get", "post"):
            res = getattr(client, method)(f"/service/portal/confirm/{token}")
            assert res.status_code in (400, 404), why  # 400: a POST without its CSRF token
        page = client.get(f"/service/portal/confirm/{token}")
        assert page.status_code == 404, why
        bodies.add(page.get_data(as_text=True))
    assert len(bodies) == 1 and "not valid any more" in bodies.pop()
    assert fresh(ctx, ticket_a.id).customer_id is None and fresh(ctx, ticket_a.id).email_verify_hash

    # expired
    settings = mail_app.extensions["crm"].settings
    settings["SERVICE_PORTAL_CONFIRM_HOURS"] = -1
    assert client.get(f"/service/portal/confirm/{link_a}").status_code == 404
    settings["SERVICE_PORTAL_CONFIRM_HOURS"] = 48

    # used once, then never again
    assert confirm(client, link_a).status_code == 303
    assert client.get(f"/service/portal/confirm/{link_a}").status_code == 404
    csrf = CSRF.search(client.get(f"/service/portal/confirm/{link_b}").get_data(as_text=True)).group(1)
    status_token = mailed(ctx, inbox, LINK)
    assert client.post(f"/service/portal/confirm/{link_a}", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"/service/portal/t/{status_token}").status_code == 200  # the reuse changed nothing
    # once confirmed, asking for another confirmation link sends nothing
    before = len(inbox.messages)
    page = client.get(f"/service/portal/t/{status_token}").get_data(as_text=True)
    assert "Send the confirmation link again" not in page
    client.post(f"/service/portal/t/{status_token}/confirm", data={"csrf_token": CSRF.search(page).group(1)})
    deliver_due(ctx)
    assert len(inbox.messages) == before


def test_nothing_tells_whether_an_address_belongs_to_a_customer(env, make_customer):
    client, ctx, inbox = env
    make_customer("Acme", email="known@example.cn")

    def scrub(text: str) -> str:
        return re.sub(r"SR-\d+|[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+|\S+@example\.cn", "X", text)

    pages, mails, confirmations = [], [], []
    for email in ("known@example.cn", "nobody@example.cn"):
        res = submit(client, email=email)
        pages.append((res.status_code, scrub(res.get_data(as_text=True))))
        token = mailed(ctx, inbox, CONFIRM)
        mails.append(scrub(inbox.messages[-1].get_content()))
        res = confirm(client, token)
        confirmations.append((res.status_code, scrub(client.get(res.headers["Location"]).get_data(as_text=True))))
        assert mailed(ctx, inbox, LINK)
        mails.append(scrub(inbox.messages[-1].get_content()))
    assert pages[0] == pages[1]
    assert mails[0] == mails[2] and mails[1] == mails[3]
    assert confirmations[0] == confirmations[1]
    known, nobody = ctx.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert known.customer_id is not None and nobody.customer_id is None  # only the staff's side differs


def test_an_agent_attachment_is_kept_and_reissued_links_confirm_too(env, make_customer):
    client, ctx, inbox = env
    mine = make_customer("Mine", email="wang@example.cn")
    other = make_customer("Other")
    submit(client)
    ticket = ctx.session.scalar(select(Ticket))
    mailed(ctx, inbox, CONFIRM)
    tickets.update_ticket(ctx, ticket.id, {"customer_id": other.id})  # the agent knew better
    new_status = portal.reissue_link(ctx, ticket.id)
    link = mailed(ctx, inbox, CONFIRM)  # still unconfirmed: the re-issued mail carries a confirmation link
    assert not LINK.search(inbox.messages[-1].get_content())
    assert "confirm your e-mail address" in client.get(f"/service/portal/t/{new_status}").get_data(as_text=True)
    assert confirm(client, link).status_code == 303
    assert fresh(ctx, ticket.id).customer_id == other.id != mine.id
