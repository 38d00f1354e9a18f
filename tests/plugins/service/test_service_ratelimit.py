"""The portal's rate limit: submitting and replying are limited per client address and window,
counted in the database so two app instances (two gunicorn workers) share the count; over the
limit a translated 429 page with Retry-After; the address itself is never stored."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from crmcore.models import RateLimitHit
from plugins.service.models import Ticket, TicketMessage
from plugins.service.services import ratelimit

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"/service/portal/t/([A-Za-z0-9_.\-]+)")
ZH = {"Too many requests": "请求过多",
      "We received too many requests from your network. Please try again in %(minutes)s minutes.":
          "您的网络发出的请求过多，请在 %(minutes)s 分钟后再试。"}


def submit(client, ip="192.0.2.10", language="en", **fields):
    env = {"REMOTE_ADDR": ip}
    page = client.get("/service/portal/new", environ_overrides=env).get_data(as_text=True)
    data = {"csrf_token": CSRF.search(page).group(1), "name": "Amy", "email": "amy@example.com", "subject": "Help",
            "description": "Broken", **fields}
    return client.post("/service/portal/new", data=data, environ_overrides=env, headers={"Accept-Language": language})


def count(ctx, model):
    ctx.session.expire_all()
    return ctx.session.scalar(select(func.count()).select_from(model))


def test_submissions_are_limited_per_address_across_workers(make_app, zh_catalogue):
    settings = {"PLUGINS": ["plugins.service"], "SERVICE_PORTAL_RATE_LIMIT": 2, "SERVICE_PORTAL_RATE_WINDOW": 3600}
    worker_a = make_app(plugins=[zh_catalogue(ZH)], **settings)
    worker_b = make_app(plugins=[zh_catalogue(ZH)], **settings)  # another process on the same database
    ctx = worker_a.extensions["crm"].context(source="test")
    try:
        client = worker_a.test_client()
        assert submit(client).status_code == 201
        assert submit(worker_b.test_client()).status_code == 201
        refused = submit(client)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        html = refused.get_data(as_text=True)
        assert "Too many requests" in html and "Please try again in" in html
        assert count(ctx, Ticket) == 2  # nothing was created
        # the other worker refuses too: the count lives in the database
        zh = submit(worker_b.test_client(), language="zh-CN")
        assert zh.status_code == 429 and "请求过多" in zh.get_data(as_text=True)
        assert "分钟后再试" in zh.get_data(as_text=True)
        # another address is still welcome
        assert submit(client, ip="198.51.100.7").status_code == 201
        # what is stored: a keyed hash per action and window, never the address
        rows = ctx.session.scalars(select(RateLimitHit)).all()
        assert sorted(r.hits for r in rows) == [1, 4]
        assert all("192.0.2.10" not in r.bucket and len(r.bucket) == 64 for r in rows)
    finally:
        ctx.session.close()


def test_replies_are_limited_separately(make_app):
    app = make_app(PLUGINS=["plugins.service"], SERVICE_PORTAL_RATE_LIMIT=2)
    ctx = app.extensions["crm"].context(source="test")
    try:
        client = app.test_client()
        res = submit(client)
        token = LINK.search(res.get_data(as_text=True)).group(1)
        page = client.get(f"/service/portal/t/{token}").get_data(as_text=True)
        env = {"REMOTE_ADDR": "192.0.2.10"}
        for body in ("one", "two"):
            assert client.post(f"/service/portal/t/{token}/reply", data={"csrf_token": CSRF.search(page).group(1),
                                                                          "body": body},
                               environ_overrides=env).status_code == 302
        third = client.post(f"/service/portal/t/{token}/reply", data={"csrf_token": CSRF.search(page).group(1),
                                                                       "body": "three"}, environ_overrides=env)
        assert third.status_code == 429 and "Retry-After" in third.headers
        assert count(ctx, TicketMessage) == 3  # the request and two replies
        assert submit(client).status_code == 201  # one submission so far: submitting has its own count
    finally:
        ctx.session.close()


def test_windows_roll_over_and_zero_turns_it_off(rt):
    settings = {**rt.settings, "SERVICE_PORTAL_RATE_LIMIT": 2, "SERVICE_PORTAL_RATE_WINDOW": 600}
    t = dt.datetime(2026, 3, 2, 10, 1, tzinfo=dt.timezone.utc)
    verdicts = [ratelimit.hit(rt.db, settings, "submit", "192.0.2.1", now=t) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[-1].retry_after == 540  # the window started at 10:00
    later = ratelimit.hit(rt.db, settings, "submit", "192.0.2.1", now=t + dt.timedelta(minutes=9))
    assert later.allowed and later.hits == 1
    # a new window forgets the windows that are over (10:00 and 10:10 go, 10:20 stays)
    ratelimit.hit(rt.db, settings, "submit", "192.0.2.1", now=t + dt.timedelta(minutes=19))
    with rt.db.engine.connect() as conn:
        starts = sorted(r[0] for r in conn.execute(select(RateLimitHit.window_start)))
    assert starts == [dt.datetime(2026, 3, 2, 10, 20, tzinfo=dt.timezone.utc)]
    off = {**settings, "SERVICE_PORTAL_RATE_LIMIT": 0}
    assert all(ratelimit.hit(rt.db, off, "submit", "192.0.2.1", now=t).allowed for _ in range(5))


def submit_via(client, forwarded_for, proxy="10.0.0.2"):
    """A submission that reached the app through ``proxy`` with this X-Forwarded-For header."""
    env = {"REMOTE_ADDR": proxy}
    headers = {"X-Forwarded-For": forwarded_for}
    page = client.get("/service/portal/new", environ_overrides=env, headers=headers).get_data(as_text=True)
    data = {"csrf_token": CSRF.search(page).group(1), "name": "Amy", "email": "amy@example.com", "subject": "Help",
            "description": "Broken"}
    return client.post("/service/portal/new", data=data, environ_overrides=env, headers=headers)


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing(make_app):
    app = make_app(PLUGINS=["plugins.service"], SERVICE_PORTAL_RATE_LIMIT=2)  # TRUSTED_PROXIES: 0 by default
    client = app.test_client()
    assert submit_via(client, "203.0.113.1", proxy="192.0.2.10").status_code == 201
    assert submit_via(client, "203.0.113.2", proxy="192.0.2.10").status_code == 201
    assert submit_via(client, "203.0.113.3", proxy="192.0.2.10").status_code == 429  # one address, whatever it says


def test_behind_one_trusted_proxy_each_client_has_its_own_count(make_app):
    app = make_app(PLUGINS=["plugins.service"], SERVICE_PORTAL_RATE_LIMIT=2, TRUSTED_PROXIES=1)
    client = app.test_client()
    for _ in range(2):
        assert submit_via(client, "203.0.113.1").status_code == 201
    assert submit_via(client, "203.0.113.1").status_code == 429
    assert submit_via(client, "203.0.113.2").status_code == 201  # another client behind the same proxy
    # only the address the trusted proxy appended counts: a client prepending others does not escape
    assert submit_via(client, "198.51.100.9, 203.0.113.1").status_code == 429
