"""Input the fuzzer and the hardening issue found crashing the server: each is now a 4xx that says why."""
from __future__ import annotations

import json
from typing import Any

import pytest

import crm_plugin_loyalty
from crmcore.services import customers as customer_svc

PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis", "adapters.oa", "adapters.erp"]
HUGE = 2**64 + 1


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(plugins=[("loyalty", crm_plugin_loyalty)], PLUGINS=PLUGINS)


@pytest.fixture
def customer(ctx: Any) -> Any:
    return customer_svc.create_customer(ctx, {"name": "Acme"})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_ids_past_bigint_are_refused_in_queries_and_bodies(client, admin_headers, customer):
    r = client.get(f"/api/v1/sales/activities?customer_id={HUGE}", headers=admin_headers)
    assert r.status_code == 422 and "customer_id" in r.json["errors"]
    r = client.post("/api/v1/service/assignment-rules", headers=admin_headers,
                    json={"name": "East", "member_ids": [1, -HUGE]})
    assert r.status_code == 422 and "member_ids" in r.json["errors"]
    r = client.get(f"/api/v1/analysis/basket/rules?product_id={HUGE}", headers=admin_headers)
    assert r.status_code == 422 and "product_id" in r.json["errors"]


def test_ids_past_the_integer_columns_are_404_in_paths_and_422_elsewhere(client, admin_headers, customer):
    # every id column is an INTEGER: PostgreSQL refuses 2**32 even to compare with one
    assert client.get(f"/api/v1/customers/{2**32}", headers=admin_headers).status_code == 404
    assert client.get(f"/api/v1/contacts/{2**31}", headers=admin_headers).status_code == 404
    r = client.patch(f"/api/v1/customers/{customer.id}", headers=admin_headers, json={"owner_id": 2**40})
    assert r.status_code == 422 and "owner_id" in r.json["errors"]
    r = client.get("/api/v1/interactions", headers=admin_headers, query_string={"customer_id": 2**31})
    assert r.status_code == 422 and "customer_id" in r.json["errors"]


def test_deeply_nested_json_is_400_also_without_authentication(client, admin_headers):
    body = nested(5000)
    for url, headers in (("/api/v1/customers", admin_headers), ("/api/v1/customers", {}),
                         ("/sales/forms/lead", {}), ("/oa/webhook/callback", {})):
        r = client.post(url, data=body, headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 400, (url, r.status_code)
        assert "64" in r.get_data(as_text=True)


def test_moderate_nesting_still_reaches_the_view(client, admin_headers):
    r = client.post("/api/v1/workflows/conditions/check", headers=admin_headers,
                    data=json.dumps({"condition": {"all": [{"all": [{"field": "name", "op": "eq", "value": "x"}]}]},
                                     "entity": "customer"}), content_type="application/json")
    assert r.status_code != 400 or "nested" not in r.json["message"]


def test_lone_surrogates_and_nul_in_text_are_422(client, admin_headers):
    r = client.post("/api/v1/customers", headers=admin_headers,
                    data='{"name": "Acme \\ud800"}', content_type="application/json")
    assert r.status_code == 422 and "surrogate" in r.json["message"]
    r = client.post("/api/v1/customers", headers=admin_headers, json={"name": "Ac\x00me"})
    assert r.status_code == 422 and "name" in r.json["errors"]
    r = client.post("/api/v1/customers", headers=admin_headers,  # an escaped backslash is no surrogate
                    data='{"name": "Acme \\\\ud800"}', content_type="application/json")
    assert r.status_code == 201, r.json


def test_search_over_the_limit_is_422_with_the_limit(client, admin_headers, ctx):
    for url in ("/api/v1/customers", "/api/v1/sales/leads", "/api/v1/service/tickets"):
        r = client.get(url, headers=admin_headers, query_string={"q": "a" * 50_001})
        assert r.status_code == 422 and "200" in json.dumps(r.json["errors"]["q"]), url
    with pytest.raises(Exception) as err:  # the admin's and the export's path: the service itself
        customer_svc.list_customers(ctx, q="a" * 50_001)
    assert getattr(err.value, "status", None) == 422


@pytest.mark.parametrize("period", ["0001", "0001-01", "9999", "9999-12", "9999-Q4", "2026-13", "2026-00",
                                    "0001-01-01..0001-01-31", "9999-12-01..9999-12-31", "2026-02-30..2026-03-01"])
def test_kpi_periods_at_the_calendars_edge_are_422(client, admin_headers, period):
    r = client.get("/api/v1/sales/kpis", headers=admin_headers, query_string={"period": period})
    assert r.status_code == 422, (period, r.status_code)
    assert "period" in r.json["errors"]


@pytest.mark.parametrize("body", [{"min_confidence": "lots"}, {"min_confidence": [1]}, {"days": {"a": 1}},
                                  {"min_confidence": 1e400}])
def test_non_numeric_values_in_basket_run_are_422(client, admin_headers, body):
    r = client.post("/api/v1/analysis/basket/run", headers=admin_headers,
                    data=json.dumps(body), content_type="application/json")
    assert r.status_code == 422, r.json


@pytest.mark.parametrize("body", [{"horizon_days": "a year"}, {"months": [12]}, {"monthly_discount": "none"},
                                  {"currency": ["CNY"]}, {"currency": "C\x00Y"}])
def test_non_numeric_values_in_clv_run_are_422(client, admin_headers, body):
    r = client.post("/api/v1/analysis/clv/run", headers=admin_headers, json=body)
    assert r.status_code == 422, r.json
    assert set(r.json["errors"]) == set(body)


@pytest.mark.parametrize("zone", ["Asia/Shang\x00hai", "Asia", "../../etc/passwd", "Mars/Olympus"])
def test_a_bad_time_zone_is_422(client, admin_headers, make_user, zone):
    tech, _ = make_user("service")
    r = client.get("/api/v1/service/visits/day", headers=admin_headers,
                   query_string={"technician_id": tech.id, "day": "2026-03-01", "timezone": zone})
    assert r.status_code == 422 and "timezone" in r.json["errors"]
    r = client.post("/api/v1/service/calendars", headers=admin_headers, json={"name": "Office", "timezone": zone})
    assert r.status_code == 422 and "timezone" in r.json["errors"]


def test_text_longer_than_text_max_is_422_naming_field_and_limit(make_app, make_user, ctx):
    app = make_app(TEXT_MAX=1000)
    client = app.test_client()
    _, headers = make_user("admin", username="boss")
    r = client.post("/api/v1/customers", headers=headers, json={"name": "Acme", "notes": "n" * 1001})
    assert r.status_code == 422
    assert r.json["errors"] == {"notes": ["At most 1000 characters."]}
    assert client.post("/api/v1/customers", headers=headers, json={"name": "Acme", "notes": "n" * 1000}).status_code == 201


def test_text_max_defaults_to_65535(client, admin_headers):
    r = client.post("/api/v1/customers", headers=admin_headers, json={"name": "Acme", "notes": "n" * 65536})
    assert r.status_code == 422 and r.json["errors"]["notes"] == ["At most 65535 characters."]


def test_text_longer_than_its_column_is_422_whoever_writes_it(ctx):
    from crmcore.errors import ValidationError
    from crmcore.models import Customer

    customer = Customer(name="x" * 300)  # String(255), written without any schema
    ctx.session.add(customer)
    with pytest.raises(ValidationError) as err:
        ctx.session.flush()
    ctx.session.rollback()
    assert err.value.errors == {"name": ["At most 255 characters."]}


def test_request_bodies_over_the_cap_are_413_with_the_limit(make_app, make_user):
    app = make_app(plugins=[("loyalty", crm_plugin_loyalty)], PLUGINS=PLUGINS, MAX_REQUEST_BYTES=10_000,
                   SALES_WEB_FORM_KEYS="k1")
    client = app.test_client()
    _, headers = make_user("admin", username="boss")
    r = client.post("/api/v1/customers", headers=headers, json={"name": "Acme", "notes": "n" * 20_000})
    assert r.status_code == 413
    assert r.is_json and "10000" in r.json["message"]
    r = client.post("/sales/forms/lead", data={"form_key": "k1", "name": "n" * 20_000})
    assert r.status_code == 413 and "10000" in r.get_data(as_text=True)


def test_the_default_cap_is_2_mb(client, admin_headers):
    r = client.post("/api/v1/customers", headers=admin_headers,
                    data=json.dumps({"name": "Acme", "notes": "n" * (2 * 1024 * 1024)}), content_type="application/json")
    assert r.status_code == 413 and str(2 * 1024 * 1024) in r.json["message"]


def test_email_intake_takes_a_message_larger_than_the_json_cap(make_app, make_user):
    app = make_app(plugins=[("loyalty", crm_plugin_loyalty)], PLUGINS=PLUGINS, MAX_REQUEST_BYTES=10_000)
    client = app.test_client()
    _, headers = make_user("admin", username="boss")
    raw = ("From: a@example.com\r\nTo: help@example.com\r\nSubject: Broken\r\nMessage-ID: <big@example.com>\r\n\r\n"
           + "x" * 20_000).encode()
    r = client.post("/api/v1/service/intake", headers=headers, data=raw, content_type="message/rfc822")
    assert r.status_code in (200, 201), r.get_data(as_text=True)[:300]


def test_a_negative_loyalty_balance_shows_on_the_360_page(client, admin_headers, ctx, customer):
    from crm_plugin_loyalty import services as loyalty

    loyalty.award(ctx, customer.id, -5, "Refund")
    r = client.get(f"/api/v1/customers/{customer.id}/panels", headers=admin_headers)
    assert r.status_code == 200
    panel = next((p for p in r.json if p["key"] == "loyalty"), None)
    assert panel is not None and ["Points", -5] in [list(row) for row in panel["rows"]]
    assert ["Tier", "No tier"] in [list(row) for row in panel["rows"]]
    r = client.get(f"/api/v1/loyalty/customers/{customer.id}", headers=admin_headers)
    assert (r.status_code, r.json["points"], r.json["tier"]) == (200, -5, "none")


def test_admin_pages_take_ids_past_the_integer_columns_as_no_record(client, make_user, customer):
    import re

    make_user("admin", username="boss")
    page = client.get("/admin/auth/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    assert client.post("/admin/auth/login", data={"csrf_token": token, "username": "boss",
                                                  "password": "password123"}).status_code == 302
    for url in (f"/admin/contact/new/?customer_id={2**40}", f"/admin/sales/board/?owner_id={2**40}",
                f"/admin/analysis/profile/?customer_id={2**40}"):
        r = client.get(url)
        assert r.status_code in (200, 302, 404), (url, r.status_code)


def test_admin_forms_apply_the_text_limit(make_app, make_user, rt):
    import re

    from sqlalchemy import func, select

    from crmcore.models import Customer

    app = make_app(TEXT_MAX=1000)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    make_user("admin", username="boss")
    page = client.get("/admin/auth/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    client.post("/admin/auth/login", data={"csrf_token": token, "username": "boss", "password": "password123"})
    page = client.get("/admin/customer/new/")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    r = client.post("/admin/customer/new/", data={"csrf_token": token, "name": "Acme", "kind": "organization",
                                                  "stage": "lead", "currency": "CNY", "notes": "n" * 1001})
    assert r.status_code == 200 and "At most 1000 characters." in r.text
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Customer)) == 0


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_dates_at_the_calendars_edge_are_422(client, admin_headers, make_user, customer, day):
    tech, _ = make_user("service")
    r = client.get("/api/v1/service/visits/day", headers=admin_headers,
                   query_string={"technician_id": tech.id, "day": day})
    assert r.status_code == 422 and "day" in r.json["errors"]
    r = client.post("/api/v1/interactions", headers=admin_headers,
                    json={"customer_id": customer.id, "channel": "phone", "subject": "Hi",
                          "occurred_at": f"{day}T00:00:00+08:00" if day.startswith("0001") else f"{day}T23:00:00-08:00"})
    assert r.status_code == 422 and "occurred_at" in r.json["errors"]
