"""The OpenAPI document says what the API answers: numeric bounds, decimal strings, nullable output, full enums."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

import crm_plugin_loyalty
from plugins.sales.models import ACTIVITY_STATUSES, LEAD_STATUSES

PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis", "adapters.oa", "adapters.erp"]


@pytest.fixture
def spec(make_app: Any, make_user: Any) -> dict[str, Any]:
    app = make_app(plugins=[("loyalty", crm_plugin_loyalty)], PLUGINS=PLUGINS)
    from crmcore.services import users as user_svc

    ctx = app.extensions["crm"].context(source="test")
    user = user_svc.create_user(ctx, "specreader", "password123", "admin")
    _, token = user_svc.create_token(ctx, user)
    return app.test_client().get("/api/openapi.json", headers={"Authorization": f"Bearer {token}"}).json


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def test_bounds_are_numbers(spec):
    bad = [p for p, node in walk(spec) for k in ("minimum", "maximum")
           if k in node and not isinstance(node[k], (int, float))]
    assert bad == []


def test_money_is_a_decimal_string(spec):
    schemas = spec["components"]["schemas"]
    for name, field in (("Customer", "credit_limit"), ("Product", "list_price"), ("Invoice", "amount_due")):
        prop = schemas[name]["properties"][field]
        assert (prop["type"], prop["format"]) == ("string", "decimal"), (name, field)
        assert prop["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$"
    assert not [p for p, node in walk(spec) if node.get("type") == "number" and node.get("format") == "decimal"]


def test_output_fields_without_a_value_are_nullable(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["Customer"]["properties"]["phone_normalized"]["nullable"] is True
    assert schemas["Ticket"]["properties"]["resolved_at"]["nullable"] is True


def test_enums_come_from_the_state_registries(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["Lead"]["properties"]["status"]["enum"] == list(LEAD_STATUSES)
    assert schemas["Activity"]["properties"]["status"]["enum"] == list(ACTIVITY_STATUSES)


def test_every_operation_documents_a_success_response(spec):
    missing = [f"{method} {path}" for path, item in spec["paths"].items() for method, op in item.items()
               if isinstance(op, dict) and "responses" in op and not any(c.startswith("2") for c in op["responses"])]
    assert missing == []


def test_generic_success_responses_name_their_media_type(spec):
    svg = spec["paths"]["/api/v1/workflows/{workflow_id}/diagram.svg"]["get"]["responses"]["2XX"]
    assert list(svg["content"]) == ["image/svg+xml"]
    status = spec["paths"]["/api/v1/sync/status"]["get"]["responses"]["2XX"]
    assert list(status["content"]) == ["application/json"]


def test_fields_a_record_may_leave_empty_are_nullable(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["Activity"]["properties"]["done_at"]["nullable"] is True  # a planned activity
