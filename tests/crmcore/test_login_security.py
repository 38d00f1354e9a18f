"""Admin login hardening through the Flask test client: failed-login throttling per account and per
client (shared by workers through the database, audited), and sessions that end on logout, password
change and deactivation, with a new session and remember-me cookie on every login."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from crmcore.models import AuditLog, LoginFailure
from crmcore.services import accounts, login_throttle

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
LIMITS = {"LOGIN_MAX_FAILURES": 3, "LOGIN_CLIENT_MAX_FAILURES": 5, "LOGIN_LOCKOUT_SECONDS": 600}


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_token(client: Any, url: str) -> str:
    return csrf_from(client.get(url).text)


def login(client: Any, username: str, password: str = PASSWORD, ip: str = "192.0.2.10", remember: bool = False,
          language: str = "en") -> Any:
    env = {"REMOTE_ADDR": ip}
    page = client.get("/admin/auth/login", environ_overrides=env)
    data = {"csrf_token": csrf_from(page.text), "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/admin/auth/login", data=data, environ_overrides=env, headers={"Accept-Language": language})


def logged_in(client: Any) -> bool:
    return client.get("/admin/").status_code == 200


def audit_actions(rt: Any) -> list[tuple[str, str, dict[str, Any]]]:
    with rt.db.new_session() as s:
        return [(e.action, e.entity_id, e.data) for e in s.scalars(
            select(AuditLog).where(AuditLog.action.in_(("login_failed", "login_locked"))).order_by(AuditLog.id))]


# ---- throttling ------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_account_even_for_the_right_password(make_app: Any) -> None:
    app = make_app(**LIMITS)
    rt = app.extensions["crm"]
    from crmcore.services import users

    boss = users.create_user(rt.context(source="test"), "boss", PASSWORD, "admin")
    client = app.test_client()
    assert login(client, "boss", "wrong-1").status_code == 401
    assert login(client, "boss", "wrong-2").status_code == 401
    third = login(client, "boss", "wrong-3")
    assert third.status_code == 429
    assert "Too many failed logins. Try again in 10 minute(s)." in third.text
    assert 0 < int(third.headers["Retry-After"]) <= 600
    right = login(client, "boss")  # the right password no longer helps, from any address
    assert right.status_code == 429 and not logged_in(client)
    assert login(app.test_client(), "boss", ip="198.51.100.7").status_code == 429
    zh = login(client, "boss", language="zh-CN")
    assert zh.status_code == 429 and "登录失败次数过多" in zh.text
    # every failure and the lock are audited, with the account and the client; the password never
    entries = audit_actions(rt)
    assert [a for a, _id, _d in entries] == ["login_failed"] * 3 + ["login_locked"]
    assert {i for _a, i, _d in entries} == {str(boss.id)}
    assert entries[-1][2]["locked"] == "account" and entries[0][2]["client"] == "192.0.2.10"
    assert all("wrong" not in str(d) for _a, _i, d in entries)


def test_the_lock_is_shared_by_every_worker(make_app: Any) -> None:
    worker_a, worker_b = make_app(**LIMITS), make_app(**LIMITS)  # two processes on one database
    from crmcore.services import users

    users.create_user(worker_a.extensions["crm"].context(source="test"), "boss", PASSWORD, "admin")
    for n in range(3):
        login((worker_a if n % 2 else worker_b).test_client(), "boss", f"wrong-{n}")
    assert login(worker_b.test_client(), "boss").status_code == 429
    assert login(worker_a.test_client(), "boss").status_code == 429


def test_one_client_guessing_many_accounts_is_locked(make_app: Any) -> None:
    app = make_app(**LIMITS)
    from crmcore.services import users

    ctx = app.extensions["crm"].context(source="test")
    for name in ("amy", "bob", "cat", "dan"):
        users.create_user(ctx, name, PASSWORD, "sales")
    client = app.test_client()
    for name in ("amy", "bob", "cat", "nobody", "amy"):  # five failures, at most two per account
        assert login(client, name, "guess").status_code in (401, 429)
    refused = login(client, "dan")  # an account nobody guessed at, from the locked address
    assert refused.status_code == 429 and not logged_in(client)
    entries = audit_actions(app.extensions["crm"])
    assert entries[-1][0] == "login_locked" and entries[-1][2]["locked"] == "client"
    assert entries[3][1] == "-" and entries[3][2]["username"] == "nobody"
    other = app.test_client()  # another address is still welcome
    assert login(other, "dan", ip="198.51.100.7").status_code == 302 and logged_in(other)


def test_a_right_password_resets_the_account_count(make_app: Any) -> None:
    app = make_app(**LIMITS)
    from crmcore.services import users

    users.create_user(app.extensions["crm"].context(source="test"), "boss", PASSWORD, "admin")
    for _round in range(2):
        client = app.test_client()
        assert login(client, "boss", "wrong", ip="192.0.2.1").status_code == 401
        assert login(client, "boss", "wrong", ip="192.0.2.2").status_code == 401
        assert login(client, "boss", ip="192.0.2.3").status_code == 302


def test_the_lock_ends_after_the_lockout_and_zero_turns_it_off(rt: Any) -> None:
    settings = {**rt.settings, **LIMITS}
    t = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
    assert login_throttle.failed(rt.db, settings, "boss", "192.0.2.1", now=t) == []
    assert login_throttle.failed(rt.db, settings, "boss", "192.0.2.1", now=t) == []
    assert login_throttle.failed(rt.db, settings, "boss", "192.0.2.1", now=t) == ["account"]
    for seconds in (0, 599):
        try:
            login_throttle.check(rt.db, settings, "boss", "192.0.2.9", now=t + dt.timedelta(seconds=seconds))
        except login_throttle.TooManyRequests as exc:
            assert exc.retry_after == 600 - seconds
        else:
            raise AssertionError("the account is locked")
    login_throttle.check(rt.db, settings, "boss", "192.0.2.9", now=t + dt.timedelta(seconds=600))
    # after the lock a new count starts: one more failure does not lock again
    assert login_throttle.failed(rt.db, settings, "boss", "192.0.2.1", now=t + dt.timedelta(seconds=601)) == []
    off = {**settings, "LOGIN_MAX_FAILURES": 0, "LOGIN_CLIENT_MAX_FAILURES": 0}
    assert all(login_throttle.failed(rt.db, off, "x", "192.0.2.1", now=t) == [] for _ in range(10))
    login_throttle.check(rt.db, off, "x", "192.0.2.1", now=t)


# ---- sessions --------------------------------------------------------------------------------


def test_every_login_gets_a_new_session_and_remember_token(client: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    values = []
    for _ in range(2):
        assert login(client, "boss", remember=True).status_code == 302
        values.append((client.get_cookie("session").value, client.get_cookie("remember_token").value))
        client.post("/admin/auth/logout", data={"csrf_token": form_token(client, "/admin/auth/logout")})
    assert values[0][0] != values[1][0] and values[0][1] != values[1][1]


def _copy(source: Any, app: Any, names: tuple[str, ...] = ("session", "remember_token")) -> Any:
    """A new browser holding copies of ``source``'s cookies (a stolen or kept cookie)."""
    other = app.test_client()
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


def test_logout_ends_the_session_and_the_remember_cookie(app: Any, client: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    login(client, "boss", remember=True)
    kept, remember_only = _copy(client, app), _copy(client, app, ("remember_token",))
    assert logged_in(kept) and logged_in(_copy(client, app, ("remember_token",)))
    client.post("/admin/auth/logout", data={"csrf_token": form_token(client, "/admin/auth/logout")})
    assert not logged_in(client)
    assert not logged_in(kept) and not logged_in(remember_only)


def test_a_password_change_ends_every_session_of_the_user(app: Any, make_user: Any, ctx: Any) -> None:
    rep, _ = make_user("sales", username="rep")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "rep", remember=True)
    login(phone, "rep", ip="198.51.100.7")
    remember_only = _copy(laptop, app, ("remember_token",))
    assert logged_in(laptop) and logged_in(phone)
    accounts.update_user(ctx, rep.id, {"password": "a-new-secret-1"})
    assert not logged_in(laptop) and not logged_in(phone) and not logged_in(remember_only)
    assert login(phone, "rep", "a-new-secret-1").status_code == 302 and logged_in(phone)


def test_deactivating_a_user_ends_their_sessions_for_good(app: Any, make_user: Any, ctx: Any) -> None:
    rep, _ = make_user("sales", username="rep")
    browser = app.test_client()
    login(browser, "rep", remember=True)
    kept = _copy(browser, app)
    accounts.set_active(ctx, rep.id, False)
    assert not logged_in(browser)
    accounts.set_active(ctx, rep.id, True)
    assert not logged_in(kept)  # reactivating does not bring the old session back


def test_sessions_from_before_versions_are_refused(app: Any, make_user: Any) -> None:
    rep, _ = make_user("sales", username="rep")
    browser = app.test_client()
    with browser.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = str(rep.id), True  # what a session held until now
    assert not logged_in(browser)
    with browser.session_transaction() as sess:
        sess["_user_id"] = rep.get_id()
    assert logged_in(browser)


def test_a_csrf_token_from_before_the_login_is_no_good_after_it(client: Any, make_user: Any) -> None:
    """Someone who planted their own pre-login session in a browser does not know its forms' token later."""
    make_user("admin", username="boss")
    before = csrf_from(client.get("/admin/auth/login").text)
    assert login(client, "boss").status_code == 302
    assert client.post("/admin/auth/logout", data={"csrf_token": before}).status_code == 400
    assert logged_in(client)
    assert client.post("/admin/auth/logout", data={"csrf_token": form_token(client, "/admin/auth/logout")}
                       ).status_code == 302


def test_the_client_count_follows_trusted_proxies_only(make_app: Any) -> None:
    from crmcore.services import users

    def guesses(app: Any, forwarded: str) -> list[int]:
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
        return [login(client, f"user{n}", "guess", ip="10.0.0.2").status_code for n in range(3)]

    limits = {**LIMITS, "LOGIN_CLIENT_MAX_FAILURES": 3}
    direct = make_app(**limits)  # no trusted proxy: X-Forwarded-For is the client's word and ignored
    users.create_user(direct.extensions["crm"].context(source="test"), "boss", PASSWORD, "admin")
    assert guesses(direct, "203.0.113.1") == [401, 401, 429]
    assert guesses(direct, "203.0.113.2")[0] == 429  # a new forged address does not start a new count
    proxied = make_app(**limits, TRUSTED_PROXIES=1)
    with proxied.extensions["crm"].db.engine.begin() as conn:
        conn.execute(LoginFailure.__table__.delete())  # the counts of the test above
    assert guesses(proxied, "203.0.113.1") == [401, 401, 429]
    behind = proxied.test_client()  # another client behind the same proxy keeps its own count
    behind.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.2"
    assert login(behind, "boss", ip="10.0.0.2").status_code == 302


def test_changing_ones_own_password_in_the_admin_keeps_this_session_only(app: Any, make_user: Any) -> None:
    boss, _ = make_user("admin", username="boss")
    here, elsewhere = app.test_client(), app.test_client()
    login(here, "boss")
    login(elsewhere, "boss", ip="198.51.100.7")
    page = here.get(f"/admin/user/edit/?id={boss.id}").text
    resp = here.post(f"/admin/user/edit/?id={boss.id}", data={
        "csrf_token": csrf_from(page), "role": str(boss.role_id), "active": "y", "password": "a-new-secret-1"})
    assert resp.status_code == 302
    assert logged_in(here) and not logged_in(elsewhere)
