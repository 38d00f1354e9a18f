"""The quote example in the admin: the sales manager sees the quote in their approvals inbox and
approves it there; the monitor lists stuck approvals, failed OA deliveries and callbacks, with replay."""
from __future__ import annotations

import re
from typing import Any

from adapters.oa import settings as oa_settings
from adapters.oa.models import OACallback
from crmcore.models import OutboxMessage
from crmcore.services import approvals
from crmcore.services import users as user_svc
from crmcore.services.outbox import deliver_due
from plugins.sales.models import Quote

from .test_quote_approval import new_quote, policy, submit

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def login(client: Any, ctx: Any, user: Any) -> None:
    """Log in the way Flask-Login remembers a login (the password form is tested in tests/crmcore)."""
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = user.get_id(), True


def test_manager_approves_the_quote_in_the_admin(app, client, ctx, people, sessions):
    approvals.create_policy(ctx, policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    admin = app.test_client()
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(admin, ctx, people["boss"])
    page = admin.get("/admin/approval_inbox/")
    assert page.status_code == 200 and 'data-request="' in page.text and "quote" in page.text
    request_id = int(re.search(r'data-request="(\d+)"', page.text).group(1))
    csrf = CSRF.search(page.text).group(1)
    r = admin.post(f"/admin/approval_inbox/{request_id}/decide", data={"csrf_token": csrf, "decision": "reject"})
    assert r.status_code == 302 and sessions().get(Quote, quote_id).status == "pending_approval"  # no comment
    r = admin.post(f"/admin/approval_inbox/{request_id}/decide",
                   data={"csrf_token": csrf, "decision": "approve", "comment": "go"})
    assert r.status_code == 302
    assert sessions().get(Quote, quote_id).status == "approved"
    assert "Nothing waits for you." in admin.get("/admin/approval_inbox/").text
    # the rep's own inbox is empty and the monitor is for approval managers only
    rep = app.test_client()
    login(rep, ctx, people["rep"])
    assert "data-request" not in rep.get("/admin/approval_inbox/").text
    assert rep.get("/admin/approval_inbox/monitor").status_code == 403
    assert rep.get("/admin/oa/callbacks/").status_code == 403


def test_monitor_shows_failures_and_replays_them(app, client, ctx, people, sessions):
    oa_settings.save_provider_settings(ctx, "webhook", {"base_url": "http://127.0.0.1:9"}, {"secret": "x"})
    approvals.create_policy(ctx, policy("webhook"))
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    job_ctx = ctx.runtime.context(source="scheduler", session=sessions())
    assert deliver_due(job_ctx)["retry"] == 1  # nothing listens on port 9
    with job_ctx.session.begin_nested():
        job_ctx.session.add(OACallback(provider="webhook", dedupe_key="webhook:AP-9:approved", external_id="AP-9",
                                       event_type="approval.status", payload={}, status="failed", error="boom"))
    job_ctx.session.commit()
    root = user_svc.create_user(ctx, "root", None, "admin")
    admin = app.test_client()
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(admin, ctx, root)
    page = admin.get("/admin/approval_inbox/monitor").text
    assert "approval.submit" in page and "ConnectionError" in page
    assert "AP-9" in admin.get("/admin/oa/callbacks/").text  # the OA adapter's inbox page
    csrf = CSRF.search(page).group(1)
    message = sessions().query(OutboxMessage).filter_by(topic="approval.submit").one()
    assert admin.post(f"/admin/approval_inbox/monitor/outbox/{message.id}/replay", data={"csrf_token": csrf}).status_code == 302
    assert sessions().get(OutboxMessage, message.id).attempts == 0
    callback = sessions().query(OACallback).one()
    assert admin.post(f"/admin/oa/callbacks/{callback.id}/replay",
                      data={"csrf_token": csrf}).status_code == 302
    stored = sessions().get(OACallback, callback.id)
    assert stored.status == "ignored" and "no approval request" in stored.error


def test_an_approvals_manager_revokes_in_the_admin(app, client, ctx, people, sessions):
    approvals.create_policy(ctx, policy(compensation="sales.quote.back_to_draft"))
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    boss = app.test_client()
    login(boss, ctx, people["boss"])
    page = boss.get("/admin/approval_inbox/").text
    request_id = int(re.search(r'data-request="(\d+)"', page).group(1))
    boss.post(f"/admin/approval_inbox/{request_id}/decide",
              data={"csrf_token": CSRF.search(page).group(1), "decision": "approve"})
    assert sessions().get(Quote, quote_id).status == "approved"
    assert "Revoke" not in boss.get("/admin/approval_inbox/").text  # managers of approvals only
    root = user_svc.create_user(ctx, "root", None, "admin")
    admin = app.test_client()
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(admin, ctx, root)
    page = admin.get("/admin/approval_inbox/").text
    assert "Revoke" in page
    csrf = CSRF.search(page).group(1)
    admin.post(f"/admin/approval_inbox/{request_id}/revoke", data={"csrf_token": csrf, "comment": ""})
    assert sessions().get(Quote, quote_id).status == "approved"  # a reason is required
    admin.post(f"/admin/approval_inbox/{request_id}/revoke", data={"csrf_token": csrf, "comment": "price error"})
    assert sessions().get(Quote, quote_id).status == "draft"
