"""Security settings do what they say: cookie flags, API token lifetime (TOKEN_TTL_DAYS), the page
size cap (PAGE_SIZE_MAX), typed values from the environment, and trusted proxies for the login throttle."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from crmcore.config import load_settings
from crmcore.db import utcnow
from crmcore.errors import ConfigError, ValidationError
from crmcore.models import ApiToken
from crmcore.services import users as user_svc

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def login(client: Any, username: str, password: str = "password123", remember: bool = True, **kw: Any) -> Any:
    page = client.get("/admin/auth/login", **kw)
    data = {"csrf_token": CSRF.search(page.text).group(1), "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/admin/auth/login", data=data, **kw)


def set_cookies(resp: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in resp.headers.getlist("Set-Cookie")}


# ---- cookies ---------------------------------------------------------------------------------


def test_session_cookie_secure_from_the_environment(make_app: Any, make_user: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CRM_SESSION_COOKIE_SECURE", "1")
    app = make_app()
    make_user("admin", username="boss")
    client = app.test_client()
    cookies = set_cookies(login(client, "boss", base_url="https://crm.example",  # over HTTPS CSRF wants a Referer
                                headers={"Referer": "https://crm.example/admin/auth/login"}))
    for name in ("session", "remember_token"):
        assert "; Secure" in cookies[name] and "; HttpOnly" in cookies[name], cookies[name]
        assert "; SameSite=Lax" in cookies[name], cookies[name]


def test_cookies_without_secure_by_default_but_remember_has_samesite(client: Any, make_user: Any,
                                                                      monkeypatch: Any) -> None:
    make_user("admin", username="boss")
    cookies = set_cookies(login(client, "boss"))
    assert "; Secure" not in cookies["session"] and "; Secure" not in cookies["remember_token"]
    assert "; SameSite=Lax" in cookies["remember_token"] and "; HttpOnly" in cookies["remember_token"]


def test_environment_values_are_typed_and_checked() -> None:
    env = {"CRM_SESSION_COOKIE_SECURE": "off", "CRM_PAGE_SIZE_MAX": "50", "CRM_TOKEN_TTL_DAYS": "0",
           "CRM_TRUSTED_PROXIES": "1", "CRM_LOGIN_MAX_FAILURES": "7"}
    s = load_settings(environ=env)
    assert s["SESSION_COOKIE_SECURE"] is False and s["PAGE_SIZE_MAX"] == 50 and s["TOKEN_TTL_DAYS"] == 0
    assert s["TRUSTED_PROXIES"] == 1 and s["LOGIN_MAX_FAILURES"] == 7 and s["LOGIN_LOCKOUT_SECONDS"] == 900
    with pytest.raises(ConfigError, match="CRM_PAGE_SIZE_MAX must be a whole number"):
        load_settings(environ={"CRM_PAGE_SIZE_MAX": "lots"})
    with pytest.raises(ConfigError, match="CRM_SESSION_COOKIE_SECURE must be yes or no"):
        load_settings(environ={"CRM_SESSION_COOKIE_SECURE": "maybe"})


def test_plugin_yes_no_settings_read_zero_as_no() -> None:
    from crmcore.config import setting_bool, setting_int

    s = load_settings(environ={"CRM_OA_PROCESS_INLINE": "0", "CRM_SERVICE_SMTP_STARTTLS": "on", "CRM_X_DAYS": "3"})
    assert s["OA_PROCESS_INLINE"] == "0"  # plugins' settings stay text in the settings...
    assert setting_bool(s, "OA_PROCESS_INLINE", True) is False  # ...and are read by type where used
    assert setting_bool(s, "SERVICE_SMTP_STARTTLS", False) is True and setting_bool(s, "UNSET", True) is True
    assert setting_int(s, "X_DAYS", 7) == 3 and setting_int(s, "UNSET", 7) == 7
    with pytest.raises(ConfigError, match="OA_PROCESS_INLINE must be yes or no"):
        setting_bool({"OA_PROCESS_INLINE": "sometimes"}, "OA_PROCESS_INLINE", True)


# ---- API tokens ------------------------------------------------------------------------------


def me(client: Any, plain: str) -> Any:
    return client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {plain}", "Accept-Language": "en"})


def test_tokens_expire_after_token_ttl_days(make_app: Any, database: Any) -> None:
    app = make_app(TOKEN_TTL_DAYS=30)
    ctx = app.extensions["crm"].context(source="test")
    user = user_svc.create_user(ctx, "rep", "password123", "sales")
    token, plain = user_svc.create_token(ctx, user)
    assert dt.timedelta(days=29, hours=23) < token.expires_at - utcnow() <= dt.timedelta(days=30)
    client = app.test_client()
    assert me(client, plain).status_code == 200
    with database.engine.begin() as conn:
        conn.execute(update(ApiToken).values(expires_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)))
    expired = me(client, plain)
    assert expired.status_code == 401
    assert expired.json["message"] == ("This API token expired on 2026-01-02 03:04 (UTC); create a new one with "
                                       "'crm token create <user>'.")
    # a longer life than the setting allows is refused; a shorter one is kept
    with pytest.raises(ValidationError) as err:
        user_svc.create_token(ctx, user, expires_days=31)
    assert "from 1 to 30" in str(err.value.errors["expires_days"])
    short, _plain = user_svc.create_token(ctx, user, expires_days=2)
    assert short.expires_at - utcnow() <= dt.timedelta(days=2)


def test_a_token_without_its_own_expiry_lives_token_ttl_days_from_creation(make_app: Any, database: Any) -> None:
    app = make_app(TOKEN_TTL_DAYS=0)  # 0: new tokens do not expire
    ctx = app.extensions["crm"].context(source="test")
    user = user_svc.create_user(ctx, "rep", "password123", "sales")
    token, plain = user_svc.create_token(ctx, user)
    assert token.expires_at is None
    with database.engine.begin() as conn:
        conn.execute(update(ApiToken).values(created_at=utcnow() - dt.timedelta(days=100)))
    assert me(app.test_client(), plain).status_code == 200
    strict = make_app(TOKEN_TTL_DAYS=90)  # a TTL set later reaches tokens made without one
    assert me(strict.test_client(), plain).status_code == 401


def test_revoked_and_unknown_tokens_are_told_apart(client: Any, make_user: Any, ctx: Any) -> None:
    user, headers = make_user("sales")
    token = ctx.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    user_svc.revoke_token(ctx, token.id)
    plain = headers["Authorization"].split()[1]
    assert "was revoked" in me(client, plain).json["message"]
    assert me(client, "crm_not-a-token").json["message"].startswith("The API token is not valid")


def test_token_list_shows_expiry_and_state(make_app: Any, database: Any) -> None:
    from crmcore.cli import cli

    app = make_app(TOKEN_TTL_DAYS=10)
    ctx = app.extensions["crm"].context(source="test")
    user = user_svc.create_user(ctx, "rep", "password123", "sales")
    token, _plain = user_svc.create_token(ctx, user, name="laptop")
    old, _plain = user_svc.create_token(ctx, user, name="old")
    with database.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == old.id).values(
            expires_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)))
    ctx.session.expire_all()
    out = app.test_cli_runner().invoke(cli, ["token", "list", "rep"]).output
    lines = {line.split("\t")[2]: line for line in out.splitlines()}
    assert f"active\tcreated {token.created_at:%Y-%m-%d}\texpires {token.expires_at:%Y-%m-%d %H:%M}" in lines["laptop"]
    assert "\texpired\t" in lines["old"] and "expires 2026-01-02 03:04" in lines["old"]
    created = app.test_cli_runner().invoke(cli, ["token", "create", "rep", "--expires-days", "11"])
    assert created.exit_code != 0 and "from 1 to 10" in created.output


def test_the_admin_token_list_shows_the_expiry(make_app: Any) -> None:
    app = make_app(TOKEN_TTL_DAYS=0)
    ctx = app.extensions["crm"].context(source="test")
    boss = user_svc.create_user(ctx, "boss", "password123", "admin")
    user_svc.create_token(ctx, boss, name="forever")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "boss")
    page = client.get("/admin/api_token/").text
    assert "Never" in page
    form = client.get("/admin/api_token/new/").text
    assert "Leave empty for a token that does not expire." in form
    strict = make_app(TOKEN_TTL_DAYS=30).test_client()
    strict.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(strict, "boss")
    form = strict.get("/admin/api_token/new/").text
    assert "Leave empty for the longest lifetime allowed: 30 days." in form
    too_long = strict.post("/admin/api_token/new/", data={"csrf_token": CSRF.search(form).group(1), "user": str(boss.id),
                                                          "name": "long", "expires_days": "31"})
    assert too_long.status_code == 200 and "Use a whole number of days from 1 to 30." in too_long.text
    with app.extensions["crm"].db.new_session() as s:
        assert [t.name for t in s.scalars(select(ApiToken))] == ["forever"]  # nothing was issued
    assert "Never" not in strict.get("/admin/api_token/").text  # the old token now ends 30 days after creation


# ---- page size -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/contacts", "/api/v1/interactions",
                                  "/api/v1/approvals"])
def test_page_size_max_caps_every_core_list(make_app: Any, path: str) -> None:
    app = make_app(PAGE_SIZE_MAX="5")
    ctx = app.extensions["crm"].context(source="test")
    user = user_svc.create_user(ctx, "boss", "password123", "admin")
    _token, plain = user_svc.create_token(ctx, user)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plain}", "Accept-Language": "en"}
    assert client.get(f"{path}?page_size=5", headers=headers).status_code == 200
    refused = client.get(f"{path}?page_size=6", headers=headers)
    assert refused.status_code == 422
    assert refused.json["errors"]["page_size"] == ["At most 5 items per page (the PAGE_SIZE_MAX setting)."]


def test_page_size_max_caps_the_timeline_and_defaults_to_200(client: Any, admin_headers: dict[str, str],
                                                             ctx: Any) -> None:
    from crmcore.services.customers import create_customer

    customer = create_customer(ctx, {"name": "Timeline Co"})
    assert client.get("/api/v1/customers?page_size=200", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/customers?page_size=201", headers=admin_headers).status_code == 422
    url = f"/api/v1/customers/{customer.id}/timeline"
    assert client.get(f"{url}?limit=200", headers=admin_headers).status_code == 200
    assert client.get(f"{url}?limit=201", headers=admin_headers).status_code == 422


def test_page_size_max_caps_every_paginated_operation_of_every_plugin(make_app: Any) -> None:
    app = make_app(PAGE_SIZE_MAX=7, PLUGINS=["plugins.sales", "plugins.service", "plugins.analysis", "adapters.erp",
                                             "adapters.oa"])
    ctx = app.extensions["crm"].context(source="test")
    _token, plain = user_svc.create_token(ctx, user_svc.create_user(ctx, "boss", "password123", "admin"))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plain}", "Accept-Language": "en"}
    spec = client.get("/api/openapi.json", headers=headers).json
    paged = [(path, p["name"]) for path, ops in spec["paths"].items() if "get" in ops
             for p in ops["get"].get("parameters", []) if p.get("in") == "query" and p["name"] in ("page_size", "limit")
             and "PAGE_SIZE_MAX" in p.get("description", "") + p.get("schema", {}).get("description", "")]
    paged += [(f"/api/v1/analysis/{name}/customers", "page_size") for name in ("rfm", "clv", "churn")]  # read by hand
    assert len(paged) >= 12, paged
    for path, name in paged:
        url = re.sub(r"\{[^}]+\}", "1", path)
        refused = client.get(f"{url}?{name}=8", headers=headers)
        assert refused.status_code == 422, (url, refused.status_code, refused.json)
        assert client.get(f"{url}?{name}=7", headers=headers).status_code in (200, 404), url
