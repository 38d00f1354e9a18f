"""One validation for the service's settings (SLA policies, assignment and follow-up rules): the same bad
input through the API and the admin form (with CSRF) gets the same field error, and nothing is stored
(issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from crmcore.testing.admin import admin_login, csrf_token
from plugins.service.models import AssignmentRule, FollowUpRule, SlaPolicy

NAME_MAX = length_of(SlaPolicy.name)


@pytest.fixture
def manager(client: Any, make_user: Any) -> dict[str, Any]:
    user, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")
    return {"headers": headers, "id": user.id}


def count(rt: Any, model: Any) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


def both_paths(client: Any, rt: Any, headers: dict[str, str], api: str, admin: str, model: Any,
               body: dict[str, Any], form: dict[str, Any], field: str, english: str) -> None:
    """``body`` refused by the API and ``form`` by the admin, each naming ``field`` with ``english``."""
    r = client.post(api, json=body, headers=headers)
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    page = client.post(admin, data={"csrf_token": csrf_token(client.get(admin).text), **form})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, model) == 0


SLA = {"name": "Gold", "priority": "high", "first_response_minutes": "30", "resolution_minutes": "240"}


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * (NAME_MAX + 1), f"At most {NAME_MAX} characters."),
    ("name", "   ", "This field cannot be empty."),
    ("priority", "whenever", "Must be one of: low, normal, high, urgent."),
    ("customer_level", "v" * 33, "At most 32 characters."),
    ("first_response_minutes", "0", "A positive number of business minutes."),
    ("resolution_minutes", "soon", "Not a valid integer."),
])
def test_sla_policy_error_is_the_same_in_api_and_admin(client: Any, manager: dict[str, Any], rt: Any, field: str,
                                                        value: str, english: str) -> None:
    both_paths(client, rt, manager["headers"], "/api/v1/service/sla-policies", "/admin/service/sla-policy/new/",
               SlaPolicy, {**SLA, field: value}, {**SLA, "active": "y", field: value}, field, english)


def test_sla_policy_update_keeps_what_it_is_not_given(ctx: Any) -> None:
    from crmcore.errors import ValidationError
    from plugins.service.services.sla import save_policy

    policy = save_policy(ctx, {"name": "Gold", "priority": "high", "first_response_minutes": 30,
                               "resolution_minutes": 240})
    save_policy(ctx, {"resolution_minutes": 480}, policy.id)
    assert (policy.name, policy.first_response_minutes, policy.resolution_minutes) == ("Gold", 30, 480)
    with pytest.raises(ValidationError) as err:
        save_policy(ctx, {"calendar_id": 999_999}, policy.id)
    assert err.value.errors == {"calendar_id": ["No such calendar."]}


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * (NAME_MAX + 1), f"At most {NAME_MAX} characters."),
    ("name", "", "This field cannot be empty."),
    ("strategy", "lottery", "Must be one of: round_robin, least_loaded, fixed."),
])
def test_assignment_rule_error_is_the_same_in_api_and_admin(client: Any, manager: dict[str, Any], rt: Any,
                                                            field: str, value: str, english: str) -> None:
    good = {"name": "Everyone", "strategy": "least_loaded"}
    both_paths(client, rt, manager["headers"], "/api/v1/service/assignment-rules",
               "/admin/service/assignment-rule/new/", AssignmentRule,
               {**good, "member_ids": [manager["id"]], field: value},
               {**good, "members": [str(manager["id"])], "position": "10", "active": "y", field: value}, field, english)


def test_an_assignment_rule_needs_members_on_every_path(client: Any, manager: dict[str, Any], rt: Any) -> None:
    english = "Give the ids of existing users."
    r = client.post("/api/v1/service/assignment-rules", json={"name": "Nobody", "member_ids": []},
                    headers=manager["headers"])
    assert r.status_code == 422 and r.json["errors"] == {"member_ids": [english]}
    r = client.post("/api/v1/service/assignment-rules", json={"name": "Ghost", "member_ids": [999_999]},
                    headers=manager["headers"])
    assert r.status_code == 422 and r.json["errors"] == {"member_ids": [english]}
    url = "/admin/service/assignment-rule/new/"
    page = client.post(url, data={"csrf_token": csrf_token(client.get(url).text), "name": "Nobody",
                                  "strategy": "fixed"})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, AssignmentRule) == 0


@pytest.mark.parametrize("field,form_field,value,english", [
    ("name", "name", "n" * (NAME_MAX + 1), f"At most {NAME_MAX} characters."),
    ("trigger", "trigger", "birthday", "Must be one of: order, ticket."),
    ("channel", "channel", "pigeon", "Must be one of: phone, email, wechat, visit."),
    ("offsets_days", "offsets", [3, -1], "Give days after the trigger, e.g. [3, 30, 90]."),
])
def test_followup_rule_error_is_the_same_in_api_and_admin(client: Any, manager: dict[str, Any], rt: Any, field: str,
                                                          form_field: str, value: Any, english: str) -> None:
    good = {"name": "回访", "trigger": "ticket", "channel": "phone"}
    typed = ", ".join(str(v) for v in value) if isinstance(value, list) else value
    both_paths(client, rt, manager["headers"], "/api/v1/service/followup-rules", "/admin/service/followup-rule/new/",
               FollowUpRule, {**good, "offsets_days": [3, 30], field: value},
               {**good, "offsets": "3, 30", "active": "y", form_field: typed}, field, english)


def test_followup_rule_errors_in_chinese(client: Any, manager: dict[str, Any], rt: Any) -> None:
    r = client.post("/api/v1/service/followup-rules", json={"name": "回访", "offsets_days": [], "trigger": "x"},
                    headers={**manager["headers"], "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert set(r.json["errors"]) == {"offsets_days", "trigger"}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in m[0]) for m in r.json["errors"].values()), r.json


@pytest.mark.parametrize("field,value,english", [
    ("key", "on hold!", "Letters, digits and underscores, at most 32."),
    ("key", "k" * 33, "At most 32 characters."),
    ("key", "new", "This key is taken."),
    ("name", " ", "This field cannot be empty."),
    ("phase", "frozen", "Must be one of: open, paused, done."),
    ("position", "first", "Not a valid integer."),
])
def test_ticket_state_error_is_the_same_in_admin_and_service(ctx: Any, client: Any, manager: dict[str, Any], rt: Any,
                                                             field: str, value: str, english: str) -> None:
    from crmcore.errors import ValidationError
    from plugins.service.models import TicketState
    from plugins.service.services import states

    states.ensure_states(ctx)
    ctx.session.commit()
    before = count(rt, TicketState)
    good = {"key": "on_hold", "name": "On hold", "phase": "paused", "position": "50"}
    url = "/admin/service/ticket-state/new/"
    page = client.post(url, data={"csrf_token": csrf_token(client.get(url).text), **good, field: value})
    assert page.status_code == 200 and english in html.unescape(page.text)
    with pytest.raises(ValidationError) as err:
        states.save_state(ctx, {**good, field: value})
    assert err.value.errors[field] == [english]
    assert count(rt, TicketState) == before


def test_a_move_between_unknown_states_is_refused_on_its_field(ctx: Any) -> None:
    from crmcore.errors import ValidationError
    from plugins.service.services import states

    with pytest.raises(ValidationError) as err:
        states.save_transition(ctx, {"from_state": "new", "to_state": "limbo"})
    assert list(err.value.errors) == ["to_state"] and "Must be one of: " in err.value.errors["to_state"][0]


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * (NAME_MAX + 1), f"At most {NAME_MAX} characters."),
    ("weekly", {"1": [["18:00", "09:00"]]}, 'Give hours as pairs such as ["09:00", "12:00"], each ending after it '
                                           "starts, none overlapping."),
    ("weekly", {"8": [["09:00", "18:00"]]}, "Name the weekdays 1 (Monday) to 7 (Sunday)."),
])
def test_calendar_error_is_the_same_in_api_and_service_and_in_the_readers_words(
        ctx: Any, client: Any, manager: dict[str, Any], rt: Any, field: str, value: Any, english: str) -> None:
    from crmcore.errors import ValidationError
    from plugins.service.models import Calendar
    from plugins.service.services import sla

    body = {"name": "SH", "timezone": "Asia/Shanghai", "weekly": {"1": [["09:00", "18:00"]]}, field: value}
    r = client.post("/api/v1/service/calendars", json=body, headers={**manager["headers"], "Accept-Language": "en"})
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    zh = client.post("/api/v1/service/calendars", json=body, headers={**manager["headers"], "Accept-Language": "zh-CN"})
    assert zh.status_code == 422 and zh.json["errors"][field] != [english]  # was the parser's English
    with pytest.raises(ValidationError) as err:
        sla.save_calendar(ctx, body)
    assert err.value.errors[field] == [english]
    assert count(rt, Calendar) == 0
