"""One validation for tickets: the same bad input through the API, the admin form (with CSRF) and the
public portal gets the same field error; a long mail subject is fitted, never refused (issue 14 §3)."""
from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from plugins.service.models import Ticket
from plugins.service.services.intake import intake

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
SUBJECT_MAX = length_of(Ticket.subject)


def token(client: Any, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text[:300]
    return CSRF.search(page.text).group(1)


@pytest.fixture
def agent(client: Any, make_user: Any) -> dict[str, str]:
    _, headers = make_user("admin", username="boss")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    r = client.post("/admin/auth/login", data={"csrf_token": token(client, "/admin/auth/login"), "username": "boss",
                                               "password": PASSWORD})
    assert r.status_code == 302
    return headers


def tickets(rt: Any) -> int:
    rt.db.session.remove()
    return rt.db.session.scalar(select(func.count()).select_from(Ticket))


# field, bad value, message: lengths (a subject was cut by the service but refused by the API), blanks,
# choices (the admin's select refused with its own words), e-mail format
CASES = [
    ("subject", "s" * (SUBJECT_MAX + 1), f"At most {SUBJECT_MAX} characters."),
    ("subject", "   ", "This field cannot be empty."),
    ("priority", "whenever", "Must be one of: low, normal, high, urgent."),
    ("kind", "rant", "Must be one of: question, incident, request, complaint."),
    ("order_number", "9" * 65, "At most 64 characters."),
]


@pytest.mark.parametrize("field,value,english", CASES)
def test_ticket_field_error_is_the_same_on_every_path(client: Any, agent: dict[str, str], rt: Any, field: str,
                                                      value: str, english: str) -> None:
    good = {"subject": "Printer", "priority": "normal", "kind": "request"}
    api = client.post("/api/v1/service/tickets", json={**good, field: value}, headers=agent)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": token(client, "/admin/service/ticket/new/"), **good, field: value}
    page = client.post("/admin/service/ticket/new/", data=form)
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert tickets(rt) == 0


def test_ticket_update_gets_the_same_rules(client: Any, agent: dict[str, str], rt: Any) -> None:
    created = client.post("/api/v1/service/tickets", json={"subject": "Printer"}, headers=agent).json
    too_long = "s" * (SUBJECT_MAX + 1)
    r = client.patch(f"/api/v1/service/tickets/{created['id']}", json={"subject": too_long}, headers=agent)
    assert r.status_code == 422 and r.json["errors"] == {"subject": [f"At most {SUBJECT_MAX} characters."]}
    url = f"/admin/service/ticket/edit/?id={created['id']}"
    page = client.post(url, data={"csrf_token": token(client, url), "subject": too_long, "priority": "normal",
                                  "kind": "request"})
    assert f"At most {SUBJECT_MAX} characters." in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.get(Ticket, created["id"]).subject == "Printer"  # refused, not cut


@pytest.mark.parametrize("field,ticket_field,value,english", [
    ("subject", "subject", "s" * (SUBJECT_MAX + 1), f"At most {SUBJECT_MAX} characters."),
    ("email", "requester_email", "wang-at-example.cn", "Not a valid e-mail address."),
    ("name", "requester_name", "王" * 256, "At most 255 characters."),
])
def test_the_portal_refuses_what_the_api_refuses(client: Any, agent: dict[str, str], rt: Any, field: str,
                                                 ticket_field: str, value: str, english: str) -> None:
    api = client.post("/api/v1/service/tickets", json={"subject": "Printer", ticket_field: value}, headers=agent)
    assert api.status_code == 422 and api.json["errors"][ticket_field] == [english]
    page = client.get("/service/portal/new")
    data = {"csrf_token": CSRF.search(page.text).group(1), "name": "王芳", "email": "wang@example.cn",
            "subject": "打印机坏了", "description": "无法开机", field: value}
    r = client.post("/service/portal/new", data=data, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and english in html.unescape(r.get_data(as_text=True))
    assert tickets(rt) == 0


def test_a_mail_with_a_long_subject_still_opens_a_ticket(ctx: Any) -> None:
    subject = "长" * (SUBJECT_MAX + 40)
    raw = (f"From: 王芳 <wang@example.cn>\r\nTo: service@example.com\r\nSubject: {subject}\r\n"
           "Message-ID: <long-1@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n无法开机\r\n").encode()
    result = intake(ctx, raw)
    assert result.status == "created" and result.ticket.subject == "长" * SUBJECT_MAX


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * 121, "At most 120 characters."),
    ("name", "  ", "This field cannot be empty."),
    ("kind", "rant", "Must be one of: question, incident, request, complaint."),
])
def test_category_error_is_the_same_in_api_and_a_scaffolded_admin_form(client: Any, agent: dict[str, str], rt: Any,
                                                                       field: str, value: str, english: str) -> None:
    from plugins.service.models import Category

    before = rt.db.session.scalar(select(func.count()).select_from(Category))
    api = client.post("/api/v1/service/categories", json={"name": "Printers", "kind": "incident", field: value},
                      headers=agent)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": token(client, "/admin/service/category/new/"), "name": "Printers", "kind": "incident",
            "active": "y", field: value}
    page = client.post("/admin/service/category/new/", data=form)
    assert page.status_code == 200 and english in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Category)) == before
