"""A search term no database takes (a NUL) in any admin list with a search box: the list says why and shows nothing,
never a server error (PostgreSQL refused the term with one)."""
from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla import ModelView
from test_admin import login


def test_every_searchable_list_refuses_a_nul_in_words(app: Any, client: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    assert login(client, "boss").status_code == 302
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    views = [v for v in app.extensions["admin"][0]._views if isinstance(v, ModelView) and v.column_searchable_list]
    assert len(views) >= 4
    for view in views:
        url = f"{view.url}/?search=a%00b"
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        assert "搜索内容无效" in page.text, url
        ok = client.get(f"{view.url}/?search=ab")
        assert ok.status_code == 200 and "搜索内容无效" not in ok.text, url
