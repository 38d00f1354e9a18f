"""One validation for the analysis settings (tag rules, RFM segment rules): the same bad input through the
API and the admin form (with CSRF) gets the same field error, and nothing is stored (issue 14 §3)."""
from __future__ import annotations

import html
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from crmcore.testing.admin import admin_login, csrf_token
from plugins.analysis.models import SegmentRule, TagRule

TAG_MAX = length_of(TagRule.tag)
GOOD_CONDITION = {"field": "frequency", "op": "gte", "value": 3}


@pytest.fixture
def manager(client: Any, make_user: Any) -> dict[str, str]:
    _, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")
    return headers


def count(rt: Any, model: Any) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * (length_of(TagRule.name) + 1), f"At most {length_of(TagRule.name)} characters."),
    ("tag", "t" * (TAG_MAX + 1), f"At most {TAG_MAX} characters."),
    ("tag", "  ", "This field cannot be empty."),
    ("conditions", ["frequency"], "Not a valid mapping type."),
])
def test_tag_rule_error_is_the_same_in_api_and_admin(client: Any, manager: dict[str, str], rt: Any, field: str,
                                                     value: Any, english: str) -> None:
    body = {"name": "Frequent", "tag": "frequent", "conditions": GOOD_CONDITION, field: value}
    r = client.post("/api/v1/analysis/tag-rules", json=body, headers=manager)
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    url = "/admin/analysis/tag-rule/new/"
    form = {**body, "conditions": json.dumps(body["conditions"]), "active": "y"}
    page = client.post(url, data={"csrf_token": csrf_token(client.get(url).text), **form})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, TagRule) == 0


def test_a_tag_rule_name_is_taken_once_and_updates_keep_it(client: Any, manager: dict[str, str], rt: Any) -> None:
    body = {"name": "Frequent", "tag": "frequent", "conditions": GOOD_CONDITION}
    first = client.post("/api/v1/analysis/tag-rules", json=body, headers=manager)
    assert first.status_code == 201
    again = client.post("/api/v1/analysis/tag-rules", json={**body, "tag": "other"}, headers=manager)
    assert again.status_code == 422
    assert again.json["errors"] == {"name": ["A tag rule named 'Frequent' exists already."]}
    same = client.patch(f"/api/v1/analysis/tag-rules/{first.json['id']}", json={"name": "Frequent", "tag": "loyal"},
                        headers=manager)
    assert same.status_code == 200 and same.json["tag"] == "loyal"
    long = client.patch(f"/api/v1/analysis/tag-rules/{first.json['id']}", json={"tag": "t" * (TAG_MAX + 1)},
                        headers=manager)
    assert long.status_code == 422 and long.json["errors"] == {"tag": [f"At most {TAG_MAX} characters."]}
    assert count(rt, TagRule) == 1


def test_tag_rule_condition_errors_name_their_path_with_the_other_fields(client: Any, manager: dict[str, str]) -> None:
    r = client.post("/api/v1/analysis/tag-rules", headers=manager, json={
        "name": "", "tag": "x", "conditions": {"field": "__class__", "op": "eq", "value": 1}})
    assert r.status_code == 422 and {"name", "conditions.field"} <= set(r.json["errors"]), r.json


SEGMENT = {"name": "vip", "label": "VIP", "priority": "5", "r_min": "4", "r_max": "5", "f_min": "4", "f_max": "5",
           "m_min": "1", "m_max": "5", "action": "Call them", "active": "y"}


@pytest.mark.parametrize("field,value,english", [
    ("name", "n" * (length_of(SegmentRule.name) + 1), f"At most {length_of(SegmentRule.name)} characters."),
    ("label", "", "This field cannot be empty."),
    ("r_min", "11", "Scores run from 1 to 10 and the minimum may not exceed the maximum."),
    ("f_min", "5", "Scores run from 1 to 10 and the minimum may not exceed the maximum."),  # above f_max 4
    ("priority", "first", "Not a valid integer."),
])
def test_segment_rule_error_is_shown_on_its_field(ctx: Any, client: Any, manager: dict[str, str], rt: Any, field: str,
                                                  value: str, english: str) -> None:
    from crmcore.errors import ValidationError
    from plugins.analysis.services.segments import save_segment

    form = {**SEGMENT, "f_max": "4", field: value}
    url = "/admin/analysis/segment/new/"
    page = client.post(url, data={"csrf_token": csrf_token(client.get(url).text), **form})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, SegmentRule) == 0
    with pytest.raises(ValidationError) as err:  # the service the admin calls: the same words for the field
        save_segment(ctx, {k: v for k, v in form.items() if k != "active"})
    assert err.value.errors[field] == [english]


@pytest.fixture
def analyze(app: Any) -> Any:
    """``analyze("rfm", "--bins", "1")`` runs ``crm analyze ...`` with click's runner."""
    from crmcore.cli import cli
    from crmcore.plugins import register_commands

    register_commands(app.extensions["crm"].pm, cli)
    runner = app.test_cli_runner()
    yield lambda *args: runner.invoke(cli, ["analyze", *args])
    cli.commands.pop("analyze", None)


@pytest.mark.parametrize("kind,body,args,field,english", [
    ("rfm", {"bins": 1}, ["--bins", "1"], "bins", "Use 2 to 10 bins."),
    ("rfm", {"bins": "many"}, None, "bins", "Use 2 to 10 bins."),  # was an error 500
    ("rfm", {"frequency_edges": [3, 2]}, None, "frequency_edges", "Edges must be increasing, at most 9 of them."),
    ("rfm", {"monetary_edges": ["high"]}, None, "monetary_edges", "Edges must be numbers."),
    ("clv", {"horizon_days": 0}, ["--horizon-days", "0"], "horizon_days", "Use a whole number from 1 to 3650."),
    ("clv", {"monthly_discount": 1}, None, "monthly_discount", "Use a rate from 0 up to (not including) 1."),
    ("clv", {"months": 2.5}, None, "months", "Must be a whole number."),
])
def test_run_settings_error_is_the_same_in_api_and_cli(client: Any, manager: dict[str, str], analyze: Any, kind: str,
                                                       body: dict[str, Any], args: list[str] | None, field: str,
                                                       english: str) -> None:
    r = client.post(f"/api/v1/analysis/{kind}/run", json={"as_of": "2026-06-30", **body},
                    headers={**manager, "Accept-Language": "en"})
    assert r.status_code == 422 and r.json["errors"][field] == [english], r.json
    if args is not None:
        out = analyze(kind, "--as-of", "2026-06-30", *args)
        assert out.exit_code != 0 and english in out.output, out.output


def test_a_bad_settings_file_value_is_named_too(ctx: Any, rt: Any) -> None:
    from crmcore.errors import ValidationError
    from plugins.analysis.services import clv

    rt.settings["ANALYSIS"] = {"clv": {"penalizer": 99}}
    with pytest.raises(ValidationError) as err:
        clv.settings_of(ctx)
    assert err.value.errors == {"penalizer": ["Use a number from 0 (none) to 10."]}
