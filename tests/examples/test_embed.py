"""examples/embed_in_flask.py: the CRM mounted under /crm beside a host app's own routes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from crmcore.services import users as user_svc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed_in_flask.py"


@pytest.fixture
def embed_module():
    spec = importlib.util.spec_from_file_location("embed_in_flask", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def host(embed_module, settings):
    app = embed_module.make_host_app({
        "SECRET_KEY": "host-secret", "TESTING": True,
        **{f"CRM_{key}": value for key, value in settings.items() if key != "SECRET_KEY"},
    })
    yield app
    app.extensions["crm_app"].extensions["crm"].db.dispose()


def test_host_routes_still_work(host):
    client = host.test_client()
    r = client.get("/")
    assert r.status_code == 200 and "The shop" in r.get_data(as_text=True)
    assert client.get("/customers/count").json == {"customers": 0}


def test_crm_api_is_mounted_and_authenticated(host):
    crm = host.extensions["crm_app"]
    assert crm.config["SECRET_KEY"] == "host-secret"  # shared from the host's config
    client = host.test_client()
    r = client.get("/crm/api/v1/customers")
    assert r.status_code == 401 and r.json["status"] == "unauthenticated"
    assert client.get("/api/v1/customers").status_code == 404  # not the host's
    r = client.get("/crm/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/crm/admin")

    rt = crm.extensions["crm"]
    user_svc.seed_roles(rt.context())
    user = user_svc.create_user(rt.context(), "clerk", "password123", "sales")
    _, token = user_svc.create_token(rt.context(), user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/crm/api/v1/users/me", headers=headers).json["username"] == "clerk"
    r = client.post("/crm/api/v1/customers", json={"name": "Walk-in Customer"}, headers=headers)
    assert r.status_code == 201, r.json
    # the host's plugin heard of it, and the host's own route sees it through the services
    assert host.extensions["crm_host_plugin"].new_customers == [r.json["id"]]
    assert client.get("/customers/count").json == {"customers": 1}
    rt.db.session.remove()


def test_admin_login_redirect_stays_under_the_mount(host):
    r = host.test_client().get("/crm/admin/customer/")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/crm/admin/auth/login")
    assert "next=/crm/admin/customer/" in r.headers["Location"]


def test_crm_session_cookie_is_its_own(host):
    crm = host.extensions["crm_app"]
    assert crm.config["SESSION_COOKIE_NAME"] == "crm_session"
    assert crm.config["SESSION_COOKIE_PATH"] == "/crm"
