"""One validation for leads: the same bad input through the API, the admin form (with CSRF) and the
lead import gets the same field error (issue 14 §3)."""
from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.schemas.columns import length_of
from crmcore.testing.admin import csrf_token, form_token
from plugins.sales.models import Lead

# lengths, e-mail format (the schema did not check it, the service did), choices (the admin's select
# answered in its own words), number ranges and formats (the admin's DecimalField had its own)
CASES = [
    ("name", "n" * (length_of(Lead.name) + 1), f"At most {length_of(Lead.name)} characters."),
    ("name", "   ", "This field cannot be empty."),
    ("email", "li-at-example.cn", "Not a valid e-mail address."),
    ("source_channel", "pigeon", None),
    ("estimated_amount", "-1", "Must be a non-negative amount."),
    ("estimated_amount", "lots", "Not a valid number."),
    ("campaign", "c" * (length_of(Lead.campaign) + 1), f"At most {length_of(Lead.campaign)} characters."),
]


@pytest.mark.parametrize("field,value,english", CASES)
def test_lead_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                    value: str, english: str | None) -> None:
    good = {"name": "Li Lei", "phone": "13800138000", "source_channel": "phone"}
    api = client.post("/api/v1/sales/leads", json={**good, field: value}, headers=boss)
    assert api.status_code == 422, api.json
    message = api.json["errors"][field]
    assert english is None or message == [english]
    bulk = client.post("/api/v1/sales/leads/bulk", json={"leads": [{**good, field: value}]}, headers=boss)
    assert bulk.json["results"][0]["errors"][field] == message
    form = {"csrf_token": form_token(client, "/admin/sales/lead/new/"), **good, field: value}
    page = client.post("/admin/sales/lead/new/", data=form)
    assert page.status_code == 200 and message[0] in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Lead)) == 0


OPPORTUNITY_CASES = [
    ("name", "n" * 256, "At most 255 characters."),
    ("name", "", "This field cannot be empty."),
    ("amount", "-3", "Must be a non-negative amount."),
    ("probability", "101", "A whole number from 0 to 100."),
    ("probability", "half", "Not a valid integer."),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD."),
    ("competitor", "c" * 256, "At most 255 characters."),
]


@pytest.mark.parametrize("field,value,english", OPPORTUNITY_CASES)
def test_opportunity_field_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                              value: str, english: str) -> None:
    from plugins.sales.models import Opportunity

    customer_id = client.post("/api/v1/customers", json={"name": "Acme"}, headers=boss).json["id"]
    good = {"name": "Big deal", "customer_id": customer_id, "amount": "100.00"}
    api = client.post("/api/v1/sales/opportunities", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    new = client.get("/admin/sales/opportunity/new/").text
    stage_id = re.search(r'<select[^>]*name="stage"[^>]*>.*?<option[^>]*value="(\d+)"', new, re.S).group(1)
    form = {"csrf_token": csrf_token(new), "name": "Big deal",
            "customer": str(customer_id), "stage": str(stage_id), "amount": "100.00", field: value}
    page = client.post("/admin/sales/opportunity/new/", data=form)
    assert page.status_code == 200 and english in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Opportunity)) == 0


@pytest.mark.parametrize("field,value,english", [
    ("name", "s" * 65, "At most 64 characters."),
    ("name", " ", "This field cannot be empty."),
    ("probability", "150", "A whole number from 0 to 100."),
])
def test_stage_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any, field: str, value: str,
                                                  english: str) -> None:
    from plugins.sales.models import Stage

    client.get("/api/v1/sales/stages", headers=boss)  # the default stages exist
    rt.db.session.remove()
    before = rt.db.session.scalar(select(func.count()).select_from(Stage))
    api = client.post("/api/v1/sales/stages", json={"name": "Pilot", "probability": 40, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": form_token(client, "/admin/sales/stage/new/"), "name": "Pilot", "sequence": "35",
            "probability": "40", "active": "y", field: value}
    page = client.post("/admin/sales/stage/new/", data=form)
    assert page.status_code == 200 and english in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Stage)) == before


@pytest.mark.parametrize("field,value,english", [
    ("subject", "s" * 256, "At most 255 characters."),
    ("subject", "  ", "This field cannot be empty."),
    ("kind", "lunch", "Must be one of: task, call, visit."),
])
def test_activity_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                     value: str, english: str) -> None:
    from plugins.sales.models import Activity

    customer_id = client.post("/api/v1/customers", json={"name": "Acme"}, headers=boss).json["id"]
    api = client.post("/api/v1/sales/activities", json={"kind": "call", "subject": "Call back",
                                                         "customer_id": customer_id, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": form_token(client, "/admin/sales/activity/new/"), "kind": "call", "subject": "Call back",
            "customer": str(customer_id), field: value}
    page = client.post("/admin/sales/activity/new/", data=form)
    assert page.status_code == 200 and english in html.unescape(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Activity)) == 0
