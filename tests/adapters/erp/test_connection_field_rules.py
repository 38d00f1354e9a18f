"""One validation for ERP connections: the same bad input through the API, the admin form (with CSRF) and
``crm sync add-connection`` gets the same field error; nothing is stored and the secret is never repeated
(issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.erp.base import STREAMS
from adapters.erp.models import ErpConnection
from crmcore.errors import ValidationError
from crmcore.schemas.columns import length_of
from crmcore.testing.admin import admin_login, csrf_token

SECRET = "hunter2-do-not-echo"
NAME_MAX = length_of(ErpConnection.name)
GOOD = {"name": "files", "adapter": "csv", "settings": {"directory": "/srv/erp-drop"}}

# field, the bad values (merged into GOOD), the CLI's arguments for them (None: no such option), english
CASES = [
    ("name", {"name": "n" * (NAME_MAX + 1)}, ["n" * (NAME_MAX + 1), "--adapter", "csv", "--setting", "directory=/d"],
     f"At most {NAME_MAX} characters."),
    ("adapter", {"adapter": "sap"}, ["files", "--adapter", "sap", "--setting", "directory=/d"],
     "Must be one of: csv, odoo, tryton."),
    ("settings.url", {"adapter": "odoo", "settings": {"url": "ftp://erp.example", "database": "erp", "login": "crm"}},
     ["files", "--adapter", "odoo", "--setting", "url=ftp://erp.example", "--setting", "database=erp",
      "--setting", "login=crm"], "Not a valid http(s) address."),
    ("settings.login", {"adapter": "tryton", "settings": {"url": "http://erp:8000", "database": "crm"}},
     ["files", "--adapter", "tryton", "--setting", "url=http://erp:8000", "--setting", "database=crm"],
     "Tryton needs this setting."),
    ("streams", {"streams": ["customers", "widgets"]},
     ["files", "--adapter", "csv", "--setting", "directory=/d", "--stream", "customers", "--stream", "widgets"],
     f"Unknown stream(s): widgets. Known: {', '.join(STREAMS)}."),
    ("page_size", {"page_size": 9999}, None, "Use a whole number from 1 to 5000."),
    ("overlap_seconds", {"overlap_seconds": -1}, None, "Use a whole number from 0 to 86400."),
    ("ownership", {"ownership": {"customer": {"email": "both"}}}, None,
     'Give each field \'erp\' or \'crm\', per entity: {"customer": {"email": "erp"}}.'),
]


@pytest.fixture
def boss(client: Any, make_user: Any) -> dict[str, str]:
    _, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")
    return {**headers, "Accept-Language": "en"}


def connections(rt: Any) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(ErpConnection)))


def form_of(values: dict[str, Any]) -> dict[str, Any]:
    """The admin form's fields for ``values``: one input per setting of the adapter, its stream checkboxes and
    the ownership grid's choices (the grid offers only ERP / CRM: a bad owner cannot be posted)."""
    adapter = values["adapter"]
    owners = {f"own__{entity}__{field}": owner for entity, rules in values.get("ownership", {}).items()
              for field, owner in rules.items() if owner in ("erp", "crm")}
    return {"name": values["name"], "adapter": adapter, "secret": SECRET, f"streams__{adapter}": values.get("streams", []),
            **{f"set__{adapter}__{k}": v for k, v in values["settings"].items()}, **owners,
            "overlap_seconds": str(values.get("overlap_seconds", 300)), "timeout_seconds": "10",
            "page_size": str(values.get("page_size", 200)), "enabled": "y"}


@pytest.mark.parametrize("field,bad,cli,english", CASES)
def test_connection_error_is_the_same_on_every_path(ctx: Any, client: Any, boss: dict[str, str], rt: Any, runner: Any,
                                                    field: str, bad: dict[str, Any], cli: list[str] | None,
                                                    english: str) -> None:
    from adapters.erp.cli import sync

    values = {**GOOD, **bad}
    r = client.post("/api/v1/sync/connections", json={**values, "secret": SECRET}, headers=boss)
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    assert SECRET not in r.get_data(as_text=True)
    url = "/admin/erp/connection/new/"
    if field != "ownership":  # the grid cannot send an owner other than the ERP or the CRM
        page = client.post(url, data={"csrf_token": csrf_token(client.get(url).text), **form_of(values)})
        assert page.status_code == 200 and english in html.unescape(page.text)
        assert SECRET not in page.text
    if cli is not None:
        result = runner.invoke(sync, ["add-connection", *cli])
        assert isinstance(result.exception, ValidationError), result.output
        assert result.exception.errors[field] == [english]
    assert connections(rt) == 0


def test_a_change_is_checked_against_what_it_keeps(ctx: Any, client: Any, boss: dict[str, str], rt: Any) -> None:
    created = client.post("/api/v1/sync/connections", json={**GOOD, "secret": SECRET}, headers=boss)
    assert created.status_code == 201 and "secret" not in created.json and created.json["has_secret"] is True
    r = client.patch("/api/v1/sync/connections/files", json={"adapter": "tryton"}, headers=boss)
    assert r.status_code == 422
    assert r.json["errors"] == {f"settings.{k}": ["Tryton needs this setting."] for k in ("url", "database", "login")}
    r = client.patch("/api/v1/sync/connections/files", json={"page_size": 50}, headers=boss)
    assert r.status_code == 200 and r.json["page_size"] == 50
    again = client.post("/api/v1/sync/connections", json={**GOOD, "settings": {"directory": "/other"}}, headers=boss)
    assert again.status_code == 422 and again.json["errors"] == {"name": ["A connection named 'files' exists already."]}
    assert connections(rt) == 1


def test_connection_errors_in_chinese(client: Any, boss: dict[str, str]) -> None:
    r = client.post("/api/v1/sync/connections", json={**GOOD, "page_size": 0, "streams": ["widgets"]},
                    headers={**boss, "Accept-Language": "zh-CN"})
    assert r.status_code == 422 and set(r.json["errors"]) == {"page_size", "streams"}
    assert "1" in r.json["errors"]["page_size"][0] and "整数" in r.json["errors"]["page_size"][0]
    assert "widgets" in r.json["errors"]["streams"][0] and "数据流" in r.json["errors"]["streams"][0]


def test_the_connection_form_names_adapters_and_their_settings_in_words(ctx: Any, client: Any, make_user: Any) -> None:
    import re

    make_user("admin", username="boss")
    admin_login(client, "boss", lang="zh-CN")
    page = client.get("/admin/erp/connection/new/").text
    options = dict((v, html.unescape(t)) for v, t in re.findall(r'<option[^>]*value="(\w+)"[^>]*>([^<]*)</option>', page))
    assert options["csv"] == "CSV 文件" and options["odoo"] == "Odoo" and options["tryton"] == "Tryton"
    for adapter, words in (("csv", ("文件夹", "读取文件的编码")), ("tryton", ("服务器地址", "数据库", "登录名"))):
        group = page[page.index(f'data-erp-adapter="{adapter}"'):]
        group = group[:group.index("</fieldset>")]
        assert all(w in group for w in words) and "CSV 文件" in page, adapter
    assert "<textarea" not in page and "{" not in html.unescape(page[page.index("<form"):page.index("</form>")])
