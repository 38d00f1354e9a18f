"""One validation for expenses, sales plans and custom metrics: the same bad input through the API and
the admin form (with CSRF) gets the same field error, in the reader's language (issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from crmcore.testing.admin import post_form
from plugins.sales.models import Expense, Metric, SalesTarget

ZH = {"Accept-Language": "zh-CN"}


def count(rt: Any, model: type) -> int:
    rt.db.session.remove()
    return int(rt.db.session.scalar(select(func.count()).select_from(model)))


EXPENSE_CASES = [
    ("amount", "-5", "Must be a non-negative amount."),
    ("amount", "lots", "Not a valid number."),
    ("amount", None, "This field cannot be empty."),
    ("category", "lunch", "Must be one of: travel, entertainment, samples, gifts, marketing, other."),
    ("spent_on", "31/03/2026", "Not a valid date."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("description", "d" * (length_of(Expense.description) + 1), f"At most {length_of(Expense.description)} characters."),
    ("owner_id", 999999, "User 999999 does not exist."),
]


@pytest.mark.parametrize("field,value,english", EXPENSE_CASES)
def test_expense_field_error(client: Any, boss: dict[str, str], rt: Any, field: str, value: Any, english: str) -> None:
    good = {"amount": "12.50", "category": "travel", "spent_on": "2026-03-31"}
    api = client.post("/api/v1/sales/expenses", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    assert count(rt, Expense) == 0


def test_an_expense_without_date_or_category_is_today_and_other(client: Any, boss: dict[str, str]) -> None:
    api = client.post("/api/v1/sales/expenses", json={"amount": "3", "category": ""}, headers=boss)
    assert api.status_code == 201 and api.json["category"] == "other" and api.json["spent_on"], api.json
    zh = client.post("/api/v1/sales/expenses", json={"amount": "-3"}, headers={**boss, **ZH})
    assert zh.status_code == 422 and zh.json["errors"] == {"amount": ["金额不能为负数。"]}, zh.json


TARGET_CASES = [
    ("year", "1999", "A year such as 2026."),
    ("year", "soon", "A year such as 2026."),
    ("month", "13", "A month from 1 to 12."),
    ("month", "", "A month from 1 to 12."),
    ("amount", "-1", "Must be a non-negative amount."),
    ("amount", "lots", "Not a valid number."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
]


@pytest.mark.parametrize("field,value,english", TARGET_CASES)
def test_sales_plan_field_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                             value: str, english: str) -> None:
    good = {"year": "2026", "month": "3", "amount": "5000", "currency": "CNY"}
    api = client.put("/api/v1/sales/targets", json={**good, field: value or None}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    page = post_form(client, "/admin/sales/target/new/", {**good, field: value})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, SalesTarget) == 0


def test_a_plan_is_for_a_rep_or_a_team_in_both_paths(client: Any, boss: dict[str, str], rt: Any) -> None:
    api = client.put("/api/v1/sales/targets", json={"year": 2026, "month": 3, "amount": "1", "team_id": 999999},
                     headers={**boss, **ZH})
    assert api.status_code == 422 and list(api.json["errors"]) == ["team_id"], api.json
    ok = client.put("/api/v1/sales/targets", json={"year": 2026, "month": 3, "amount": "1"}, headers=boss)
    assert ok.status_code == 200 and ok.json["currency"] == "CNY", ok.json
    saved = post_form(client, "/admin/sales/target/new/", {"year": "2026", "month": "4", "amount": "7"})
    assert saved.status_code == 302
    assert count(rt, SalesTarget) == 2


def _entities() -> str:
    from plugins.sales.services.metric_entities import ENTITIES

    return ", ".join(sorted(ENTITIES))


METRIC_CASES = [
    ("name", "big deals!", "Use letters, digits and '_' (at most 64)."),
    ("name", "n" * (length_of(Metric.name) + 1), f"At most {length_of(Metric.name)} characters."),
    ("label", "   ", "This field cannot be empty."),
    ("label", "l" * (length_of(Metric.label) + 1), f"At most {length_of(Metric.label)} characters."),
    ("entity", "planet", f"Must be one of: {_entities()}."),
    ("aggregate", "median", "Must be one of: count, sum, avg."),
]


@pytest.mark.parametrize("field,value,english", METRIC_CASES)
def test_metric_field_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                         value: str, english: str) -> None:
    good = {"name": "won_deals", "label": "Won deals", "entity": "opportunity", "aggregate": "count"}
    api = client.post("/api/v1/sales/metrics", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    page = post_form(client, "/admin/sales/metric/new/", {**good, "conditions": "", "field": "", "shares": "",
                                                          field: value})
    assert page.status_code == 200 and english in html.unescape(page.text)
    assert count(rt, Metric) == 0


def test_a_metric_change_keeps_the_rules(client: Any, boss: dict[str, str]) -> None:
    good = {"name": "won_deals", "label": "Won deals", "entity": "opportunity", "aggregate": "count"}
    created = client.post("/api/v1/sales/metrics", json=good, headers=boss)
    assert created.status_code == 201, created.json
    again = client.post("/api/v1/sales/metrics", json=good, headers=boss)
    assert again.status_code == 422 and list(again.json["errors"]) == ["name"], again.json
    patch = client.patch(f"/api/v1/sales/metrics/{created.json['id']}", json={"aggregate": "sum", "field": "name"},
                         headers={**boss, **ZH})
    assert patch.status_code == 422 and list(patch.json["errors"]) == ["field"], patch.json
    patch = client.patch(f"/api/v1/sales/metrics/{created.json['id']}", json={"label": ""}, headers={**boss, **ZH})
    assert patch.status_code == 422 and patch.json["errors"] == {"label": ["此字段不能为空。"]}, patch.json
