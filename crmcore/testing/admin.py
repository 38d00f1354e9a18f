"""Helpers for tests that drive the admin as a person does: log in through the form, post with CSRF."""
from __future__ import annotations

import re
from typing import Any

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in ``html`` (fails the test when the page has none)."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def admin_login(client: Any, username: str, password: str = "password123", *, lang: str | None = None) -> Any:
    """Log ``username`` in through the admin's login form (CSRF included) and return ``client``.

    ``lang`` sets the browser's language for the rest of the client's requests (``"zh-CN"``,
    ``"en"``). The default password is the one ``make_user`` gives its users."""
    if lang:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    page = client.get("/admin/auth/login")
    response = client.post("/admin/auth/login", data={"csrf_token": csrf_token(page.text), "username": username,
                                                      "password": password})
    assert response.status_code == 302, f"login of {username} failed ({response.status_code})"
    return client


def form_token(client: Any, url: str, headers: dict[str, str] | None = None) -> str:
    """The CSRF token of the form on the admin page at ``url`` (fails the test unless the page answers 200)."""
    page = client.get(url, headers=headers)
    assert page.status_code == 200, f"GET {url}: {page.status_code} {page.text[:300]}"
    return csrf_token(page.text)


def post_form(client: Any, url: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """Post ``data`` to the admin form at ``url`` as a browser does: the form's page read first for its CSRF
    token, then the fields posted with it. Returns the response: 302 when saved, 200 with the form's
    errors when refused."""
    return client.post(url, data={"csrf_token": form_token(client, url, headers), **data}, headers=headers)
