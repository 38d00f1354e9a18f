"""The admin's customer list: the indexed search of the API, and "about N" when the total is estimated."""
from __future__ import annotations

import re
from typing import Any

from crmcore.services import customers

from test_admin import login  # noqa: E402


def test_admin_search_is_the_indexed_search(client: Any, make_user: Any, ctx: Any) -> None:
    make_user("admin", username="boss")
    assert login(client, "boss").status_code == 302
    customers.create_customer(ctx, {"name": "杭州西湖茶业", "code": "HZ1", "phone": "13800138000"})
    customers.create_customer(ctx, {"name": "100% Tea", "code": "T1", "email": "Info@Tea.example"})
    for q, name in (("+86 138-0013-8000", "杭州西湖茶业"), ("hzxh", "杭州西湖茶业"), ("西湖", "杭州西湖茶业"),
                    ("INFO@tea", "100% Tea"), ("100%", "100% Tea")):
        page = client.get("/admin/customer/", query_string={"search": q}).text
        other = "100% Tea" if name == "杭州西湖茶业" else "杭州西湖茶业"
        assert name in page and other not in page, q
    page = client.get("/admin/customer/", query_string={"search": "x" * 201}).text
    assert "The search is too long." in page and "杭州西湖茶业" not in page


def test_admin_list_shows_about_n_above_the_threshold(make_app: Any, make_user: Any, ctx: Any) -> None:
    make_user("admin", username="boss")
    client = make_app(COUNT_EXACT_MAX=2).test_client()
    assert login(client, "boss").status_code == 302
    for i in range(2):
        customers.create_customer(ctx, {"name": f"c{i}"})
    page = client.get("/admin/customer/").text
    assert "(2)" in page and "about" not in page
    customers.create_customer(ctx, {"name": "c2"})
    page = client.get("/admin/customer/").text
    about = re.search(r"\(about ([\d,]+)\)", page)  # an estimate: PostgreSQL's planner, SQLite's kept count
    assert about and int(about.group(1).replace(",", "")) >= 3 and "c2" in page
    page = client.get("/admin/customer/", headers={"Accept-Language": "zh-CN"}).text
    assert re.search(r"\(约 [\d,]+\)", page)
