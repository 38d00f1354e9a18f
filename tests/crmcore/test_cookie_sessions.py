"""The session cookies' signing serializer is built once per secret key (Flask builds one on every request, API
requests without a cookie included) and still signs and checks the cookies as Flask's does."""
from __future__ import annotations

from typing import Any

from flask import session


def test_one_serializer_for_every_request_and_a_new_one_for_a_new_key(app: Any) -> None:
    interface = app.session_interface
    with app.test_request_context("/api/v1/customers"):
        first = interface.get_signing_serializer(app)
    with app.test_request_context("/admin/"):
        assert interface.get_signing_serializer(app) is first
    old_cookie = first.dumps({"who": "张三"})
    app.secret_key = "another-secret-key-of-this-test"
    try:
        with app.test_request_context("/admin/"):
            renewed = interface.get_signing_serializer(app)
            assert renewed is not first
            assert renewed.loads(renewed.dumps({"who": "李四"})) == {"who": "李四"}
            assert not renewed.loads_unsafe(old_cookie)[0]  # the old key's cookie is refused
        app.config["SECRET_KEY_FALLBACKS"] = [first.secret_keys[-1]]
        with app.test_request_context("/admin/"):
            assert interface.get_signing_serializer(app).loads(old_cookie) == {"who": "张三"}  # a fallback key: kept
    finally:
        app.config["SECRET_KEY_FALLBACKS"] = []


def test_a_session_cookie_round_trips(app: Any) -> None:
    @app.get("/_test_session_set")
    def set_value() -> Any:
        session["crm_test"] = "杭州"
        return "ok"

    @app.get("/_test_session_get")
    def get_value() -> Any:
        return session.get("crm_test", "missing")

    client = app.test_client()
    assert client.get("/_test_session_get").text == "missing"
    client.get("/_test_session_set")
    assert client.get("/_test_session_get").text == "杭州"
