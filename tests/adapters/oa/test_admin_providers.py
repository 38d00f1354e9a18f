"""The OA adapter's admin pages: provider settings with write-only secrets, approval managers only."""
from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.oa import settings as oa_settings
from adapters.oa.models import OAProviderSetting
from crmcore import hookimpl
from crmcore.services import users as user_svc
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "password123"


class SecretProvider:
    """A provider class with one config field and one secret (only its settings are exercised)."""

    name = "hooktest-oa"
    label = "Test OA"
    config_fields = ("base_url",)
    secret_fields = ("secret",)

    def __init__(self, config: dict, secrets: dict) -> None:
        self.config, self.secrets = config, secrets


class Plugin:
    @hookimpl
    def crm_register_oa_providers(self):
        return [SecretProvider]


@pytest.fixture
def app(make_app):
    return make_app(PLUGINS=["adapters.oa"], plugins=[("admintest", Plugin())])


def login(client: Any, username: str) -> None:
    admin_login(client, username, PASSWORD)


def token(client: Any, url: str) -> str:
    return CSRF.search(client.get(url).text).group(1)


@pytest.fixture
def admin(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    login(client, "root")
    return client


def test_provider_pages_need_their_permission(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "viewer", PASSWORD, "analyst")
    login(client, "viewer")
    assert client.get("/admin/workflow_designer/").status_code == 200  # workflow.read
    assert client.get("/admin/oa/providers/").status_code == 403  # workflow.manage
    assert client.get("/admin/oa/callbacks/").status_code == 403  # approval.manage


def test_provider_secrets_are_write_only(admin, ctx):
    csrf = token(admin, "/admin/oa/providers/")
    r = admin.post("/admin/oa/providers/", data={
        "csrf_token": csrf, "provider": "hooktest-oa", "config_base_url": "https://oa.example", "secret_secret": "TOPSECRET"})
    assert r.status_code == 302
    page = admin.get("/admin/oa/providers/").text
    assert "https://oa.example" in page and "TOPSECRET" not in page and ">set<" in page
    # saving again with the secret left empty keeps it
    admin.post("/admin/oa/providers/", data={
        "csrf_token": csrf, "provider": "hooktest-oa", "config_base_url": "https://oa2.example", "secret_secret": ""})
    ctx.session.expire_all()
    row = ctx.session.query(OAProviderSetting).one()
    assert row.secrets == {"secret": "TOPSECRET"} and row.config == {"base_url": "https://oa2.example"}
    assert "TOPSECRET" not in repr(row)
    config, secrets = oa_settings.provider_config(ctx, "hooktest-oa")
    assert secrets == {"secret": "TOPSECRET"}


class LabelledProvider(SecretProvider):
    """A provider with a key of its own, named in its ``setting_labels``, and one nobody names."""

    name = "labelled-oa"
    config_fields = ("base_url", "tenant_code", "region_hint")
    setting_labels = {"tenant_code": "Tenant"}


def test_setting_keys_show_as_words_with_the_vendor_key_as_a_hint(client, ctx):
    from adapters.oa.labels import setting_label

    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    admin_login(client, "root", PASSWORD, lang="zh-CN")
    page = client.get("/admin/oa/providers/").text
    label = re.search(r'<label for="hooktest-oa-secret">(.*?)<code[^>]*>secret</code>', page, re.S)
    assert label is not None and label.group(1).strip() == "签名密钥"
    label = re.search(r'<label for="hooktest-oa-base_url">(.*?)<code[^>]*>base_url</code>', page, re.S)
    assert label is not None and label.group(1).strip() == "服务器地址"
    with client.application.test_request_context(headers={"Accept-Language": "en"}):
        assert setting_label(LabelledProvider, "tenant_code") == "Tenant"  # the provider's own word first
        assert setting_label(LabelledProvider, "region_hint") == "Region Hint"  # else the key made readable
        assert setting_label(LabelledProvider, "app_secret") == "App secret"
