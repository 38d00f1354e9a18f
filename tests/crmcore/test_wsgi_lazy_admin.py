"""The whole app's web process (``crmcore.wsgi``): the admin pages are mounted on first use, so a worker that only
answers the API imports nothing of Flask-Admin (nor the XML parser of the callbacks); a page, ``/`` or a link built to a page mounts them."""
from __future__ import annotations

from pathlib import Path

from test_wsgi_api import PRELUDE, run_process

SCRIPT = PRELUDE + r'''
from flask import url_for
from crmcore.wsgi import app

client = app.test_client()
auth = {"Authorization": f"Bearer {token}"}
made = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司"}, headers=auth)
got = client.get(f"/api/v1/customers/{made.json['id']}", headers=auth)
print(made.status_code, got.status_code, "flask_admin" in sys.modules, "defusedxml" in sys.modules)
if sys.argv[1] == "page":
    login = client.get("/admin/")
    print(login.status_code, "/login" in login.headers.get("Location", ""), client.get("/").headers["Location"])
else:
    with app.test_request_context("/api/v1/customers"):
        print(url_for("admin.index"), url_for("customer.details_view", id=7))
print("flask_admin" in sys.modules)
'''


def run(tmp_path: Path, how: str) -> list[str]:
    return " ".join(run_process(tmp_path, SCRIPT, how)).split()


def test_the_api_alone_does_not_load_the_admin_and_a_page_mounts_it(tmp_path: Path) -> None:
    assert run(tmp_path, "page") == ["201", "200", "False", "False", "302", "True", "/admin/", "True"]


def test_a_link_to_an_admin_page_mounts_the_admin(tmp_path: Path) -> None:
    assert run(tmp_path, "link") == ["201", "200", "False", "False", "/admin/", "/admin/customer/details/?id=7", "True"]
