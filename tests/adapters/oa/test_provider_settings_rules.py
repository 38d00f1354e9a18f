"""One validation for OA provider settings: the admin form and the service refuse the same bad value with the
same field error, store nothing, keep what was typed (but never a secret) and never repeat a secret (issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest

from adapters.oa import settings as oa_settings
from adapters.oa.models import OAProviderSetting
from crmcore.errors import ValidationError
from crmcore.testing.admin import admin_login, csrf_token

SECRET = "TOPSECRET-never-echo"
URL = "/admin/oa/providers/"

CASES = [  # (field, value, is a secret, english)
    ("base_url", "ftp://oa.example", False, "Not a valid URL."),
    ("base_url", "oa.example/approvals", False, "Not a valid URL."),
    ("replay_window", "soon", False, "Not a valid integer."),
    ("replay_window", "0", False, "Use a whole number from 1 to 86400."),
    ("secret", SECRET * 60, True, "At most 1024 characters."),
]


@pytest.fixture
def admin(client: Any, make_user: Any) -> Any:
    make_user("admin", username="root")
    return admin_login(client, "root", lang="en")


def stored(rt: Any) -> int:
    rt.db.session.remove()
    return rt.db.session.query(OAProviderSetting).count()


@pytest.mark.parametrize("field,value,secret,english", CASES)
def test_provider_setting_error_is_the_same_in_admin_and_service(ctx: Any, admin: Any, rt: Any, field: str, value: str,
                                                                 secret: bool, english: str) -> None:
    config = {"base_url": "https://oa.example", "replay_window": "300"}
    secrets = {"secret": "s3"}
    (secrets if secret else config)[field] = value
    form = {"csrf_token": csrf_token(admin.get(URL).text), "provider": "webhook",
            **{f"config_{k}": v for k, v in config.items()}, **{f"secret_{k}": v for k, v in secrets.items()}}
    page = admin.post(URL, data=form)
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and f"{field}: {english}" in text
    assert SECRET not in text
    if not secret:
        assert f'value="{value}"' in text  # what was typed is shown again, not lost
    assert stored(rt) == 0
    with pytest.raises(ValidationError) as err:
        oa_settings.save_provider_settings(ctx, "webhook", config, secrets)
    assert err.value.errors == {field: [english]}
    assert SECRET not in str(err.value.errors) + str(err.value.message)


def test_good_settings_are_stored_converted_and_unknown_ones_refused(ctx: Any) -> None:
    oa_settings.save_provider_settings(ctx, "webhook", {"base_url": " https://oa.example ", "replay_window": "120"},
                                       {"secret": "s3"})
    config, secrets = oa_settings.provider_config(ctx, "webhook")
    assert config == {"base_url": "https://oa.example", "replay_window": 120} and secrets == {"secret": "s3"}
    with pytest.raises(ValidationError) as err:
        oa_settings.save_provider_settings(ctx, "webhook", {"colour": "red"}, {"password": SECRET})
    assert err.value.errors == {"colour": ["Unknown field."], "password": ["Unknown field."]}
    assert SECRET not in str(err.value.errors)


def test_dingtalk_department_is_a_number(ctx: Any) -> None:
    with pytest.raises(ValidationError) as err:  # was stored, then broke every submission with int("sales")
        oa_settings.save_provider_settings(ctx, "dingtalk", {"dept_id": "sales"}, {})
    assert err.value.errors == {"dept_id": ["Not a valid integer."]}
