"""One validation for visits, visit reports and quality records: the same bad input through the API and the
admin's ticket page (with CSRF) gets the same field error, nothing is stored, and a long note is refused,
not cut (issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import ValidationError
from crmcore.schemas.columns import length_of
from crmcore.testing.admin import admin_login, csrf_token
from plugins.service.models import QualityRecord, Visit
from plugins.service.services import quality, tickets, visits

ADDRESS_MAX = length_of(Visit.address)
START, END = "2026-03-02T09:00:00+08:00", "2026-03-02T11:00:00+08:00"


@pytest.fixture
def boss(client: Any, make_user: Any) -> dict[str, Any]:
    user, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")
    return {"headers": headers, "id": user.id}


def count(rt: Any, model: Any) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


@pytest.mark.parametrize("field,api,form,english", [
    ("address", {"address": "路" * (ADDRESS_MAX + 1)}, {"address": "路" * (ADDRESS_MAX + 1)},
     f"At most {ADDRESS_MAX} characters."),
    ("address", {"address": "  "}, {"address": "  "}, "This field cannot be empty."),
    ("technician_id", {"technician_id": 999_999}, {"technician_id": "999999"}, "No such active user."),
    ("window_end", {"window_end": START}, {"end": "09:00"}, "Give a time window with time zones, the end after the start."),
])
def test_visit_error_is_the_same_in_api_and_admin(ctx: Any, client: Any, boss: dict[str, Any], rt: Any, field: str,
                                                  api: dict[str, Any], form: dict[str, str], english: str) -> None:
    ticket = tickets.create_ticket(ctx, {"subject": "Boiler"})
    good = {"technician_id": boss["id"], "window_start": START, "window_end": END, "address": "上海市长宁路 1 号"}
    r = client.post(f"/api/v1/service/tickets/{ticket.id}/visits", json={**good, **api}, headers=boss["headers"])
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    page_url = f"/admin/service/queue/ticket/{ticket.id}"
    data = {"csrf_token": csrf_token(client.get(page_url).text), "technician_id": str(boss["id"]),
            "address": good["address"], "day": "2026-03-02", "start": "09:00", "end": "11:00",
            "timezone": "Asia/Shanghai", **form}
    page = client.post(f"{page_url}/visit", data=data, follow_redirects=True)
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, Visit) == 0


def test_a_naive_time_is_refused_on_its_field(ctx: Any, client: Any, boss: dict[str, Any]) -> None:
    ticket = tickets.create_ticket(ctx, {"subject": "Boiler"})
    r = client.post(f"/api/v1/service/tickets/{ticket.id}/visits", headers=boss["headers"], json={
        "technician_id": boss["id"], "window_start": "2026-03-02T09:00:00", "window_end": END, "address": "A"})
    assert r.status_code == 422 and r.json["errors"] == {"window_start": ["Give a time with a time zone."]}


@pytest.mark.parametrize("field,api,form,english", [
    ("outcome", {"outcome": "   "}, {"outcome": "   "}, "This field cannot be empty."),
    ("state", {"state": "maybe"}, {"state": "maybe"}, "Must be one of: done, failed."),
    ("parts_used", {"parts_used": [{"part": "阀门", "quantity": "0"}]}, {"parts": "阀门, 0"}, "A positive quantity."),
    ("parts_used", {"parts_used": [{"part": "阀门", "quantity": 1, "note": "n" * 256}]}, {"parts": "阀门, 1, " + "n" * 256},
     "At most 255 characters."),  # was cut to 255 by the service
])
def test_visit_report_error_is_the_same_in_api_and_admin(ctx: Any, client: Any, boss: dict[str, Any], rt: Any,
                                                         field: str, api: dict[str, Any], form: dict[str, str],
                                                         english: str) -> None:
    import datetime as dt

    ticket = tickets.create_ticket(ctx, {"subject": "Boiler"})
    visit = visits.schedule_visit(ctx, ticket.id, {"technician_id": boss["id"], "address": "A",
                                                   "window_start": dt.datetime.fromisoformat(START),
                                                   "window_end": dt.datetime.fromisoformat(END)})
    r = client.post(f"/api/v1/service/visits/{visit.id}/report", json={"outcome": "换了阀门", **api},
                    headers=boss["headers"])
    assert r.status_code == 422 and english in str(r.json["errors"][field]), r.json
    page_url = f"/admin/service/queue/ticket/{ticket.id}"
    data = {"csrf_token": csrf_token(client.get(page_url).text), "state": "done", "outcome": "换了阀门", **form}
    page = client.post(f"/admin/service/queue/visit/{visit.id}/report", data=data, follow_redirects=True)
    assert page.status_code == 200 and english in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.get(Visit, visit.id).state == "scheduled"


QUALITY = {"product_code": "CUP-1", "description": "Cracked glaze"}


@pytest.mark.parametrize("field,value,english", [
    ("product_code", "p" * 65, "At most 64 characters."),
    ("product_code", " ", "This field cannot be empty."),
    ("severity", "fatal", "Must be one of: minor, major, critical."),
    ("kind", "praise", "Must be one of: defect, feedback."),
    ("quantity", "-2", "A positive quantity."),
    ("description", "", "This field cannot be empty."),
    ("state", "closed", "A defect is closed with its root cause and corrective action."),
])
def test_quality_record_error_is_the_same_in_api_and_service(ctx: Any, client: Any, boss: dict[str, Any], rt: Any,
                                                             field: str, value: str, english: str) -> None:
    r = client.post("/api/v1/service/quality", json={**QUALITY, field: value}, headers=boss["headers"])
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    with pytest.raises(ValidationError) as err:
        quality.save_record(ctx, {**QUALITY, field: value})
    assert err.value.errors[field] == [english]
    assert count(rt, QualityRecord) == 0


def test_a_quality_change_is_judged_with_what_it_keeps(ctx: Any, client: Any, boss: dict[str, Any]) -> None:
    rec = client.post("/api/v1/service/quality", json={**QUALITY, "root_cause": "Kiln too hot"},
                      headers=boss["headers"]).json
    r = client.patch(f"/api/v1/service/quality/{rec['id']}", json={"state": "closed"}, headers=boss["headers"])
    assert r.status_code == 422 and list(r.json["errors"]) == ["state"]
    r = client.patch(f"/api/v1/service/quality/{rec['id']}", json={"state": "closed", "corrective_action": "Recalibrated"},
                     headers=boss["headers"])
    assert r.status_code == 200 and r.json["state"] == "closed" and r.json["closed_at"]


@pytest.mark.parametrize("score,comment,field,english", [
    ("11", "", "score", "Choose a score from 0 to 10."),
    ("great", "", "score", "Choose a score from 0 to 10."),
    ("9", "好" * 4001, "comment", "At most 4000 characters."),  # was cut to 4000
])
def test_survey_answer_error_is_the_same_on_the_page_and_in_the_service(ctx: Any, client: Any, make_customer: Any,
                                                                        score: str, comment: str, field: str,
                                                                        english: str) -> None:
    import re

    from plugins.service.services import surveys

    survey = surveys.create_nps(ctx, make_customer("Happy").id)
    token = surveys.token_for(ctx, survey)
    with pytest.raises(ValidationError) as err:
        surveys.answer(ctx, token, score, comment)
    assert err.value.errors[field] == [english]
    page = client.get(f"/service/survey/{token}", headers={"Accept-Language": "en"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post(f"/service/survey/{token}", data={"csrf_token": csrf, "score": score, "comment": comment},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 422 and english in html.unescape(r.get_data(as_text=True))
    ctx.session.expire_all()
    assert survey.answered_at is None and survey.comment is None


@pytest.mark.parametrize("field,value,english", [
    ("order_number", "  ", "This field cannot be empty."),
    ("carrier", "顺" * 121, "At most 120 characters."),
    ("dispatched_at", "2026-03-02T09:00:00", "Give a time with a time zone."),
])
def test_delivery_error_is_the_same_in_api_and_service(ctx: Any, client: Any, boss: dict[str, Any], rt: Any,
                                                       field: str, value: str, english: str) -> None:
    import datetime as dt

    from plugins.service.models import Delivery
    from plugins.service.services import logistics

    r = client.post("/api/v1/service/deliveries", json={"order_number": "SO-1", field: value}, headers=boss["headers"])
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    given = dt.datetime.fromisoformat(value) if field == "dispatched_at" else value  # a naive datetime object
    with pytest.raises(ValidationError) as err:
        logistics.record_delivery(ctx, {"order_number": "SO-1", field: given})
    assert err.value.errors[field] == [english]
    assert count(rt, Delivery) == 0


@pytest.mark.parametrize("body,field,english", [
    ({"outcome": "maybe"}, "outcome", "Must be one of: done, unreachable, cancelled."),
    ({"outcome": "done", "notes": "记" * 10_001}, "notes", "At most 10000 characters."),
])
def test_followup_outcome_error_is_the_same_in_api_and_service(ctx: Any, client: Any, boss: dict[str, Any],
                                                               make_customer: Any, body: dict[str, Any], field: str,
                                                               english: str) -> None:
    import datetime as dt

    from plugins.service.models import FollowUp
    from plugins.service.services import followups

    followups.save_rule(ctx, {"name": "回访", "trigger": "order", "offsets_days": [0]})
    followups.schedule_for_order(ctx, "SO-1", make_customer("Shop").id, dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    item = ctx.session.scalar(select(FollowUp))
    r = client.post(f"/api/v1/service/followups/{item.id}/outcome", json=body, headers=boss["headers"])
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    with pytest.raises(ValidationError) as err:
        followups.record_outcome(ctx, item.id, body["outcome"], body.get("notes"))
    assert err.value.errors[field] == [english]
    ctx.session.expire_all()
    assert item.state == "due"
