"""Custom fields: definitions, validation of values, completeness and the API."""
from __future__ import annotations

import pytest

from crmcore.errors import ValidationError
from crmcore.services import custom_fields, customers


def test_values_are_validated_by_type(ctx):
    custom_fields.create_field(ctx, {"name": "size", "label": "Size", "type": "choice", "choices": ["S", "M", "L"]})
    custom_fields.create_field(ctx, {"name": "founded", "label": "Founded", "type": "date"})
    custom_fields.create_field(ctx, {"name": "staff", "label": "Staff", "type": "integer", "required": True})
    c = customers.create_customer(ctx, {"name": "A", "attributes": {"size": "M", "founded": "2001-02-03", "staff": "12"}})
    assert c.attributes == {"size": "M", "founded": "2001-02-03", "staff": 12}
    with pytest.raises(ValidationError) as info:
        customers.create_customer(ctx, {"name": "B", "attributes": {"size": "XL", "founded": "yesterday", "nope": 1}})
    errors = info.value.errors["attributes"]
    assert set(errors) == {"size", "founded", "nope", "staff"}
    assert "Must be one of: S, M, L." in errors["size"]
    # partial update keeps the required value already stored
    c = customers.update_customer(ctx, c.id, {"attributes": {"size": "L"}})
    assert c.attributes["staff"] == 12 and c.attributes["size"] == "L"
    # clearing a required value is refused
    with pytest.raises(ValidationError):
        customers.update_customer(ctx, c.id, {"attributes": {"staff": None}})


def test_field_definition_rules(ctx):
    with pytest.raises(ValidationError) as info:
        custom_fields.create_field(ctx, {"name": "Bad Name", "type": "nope"})
    assert set(info.value.errors) == {"name", "type"}
    with pytest.raises(ValidationError):
        custom_fields.create_field(ctx, {"name": "tier", "type": "choice", "choices": []})


def test_deactivated_field_keeps_values_and_stops_validating(ctx):
    f = custom_fields.create_field(ctx, {"name": "tier", "label": "Tier", "type": "text"})
    c = customers.create_customer(ctx, {"name": "A", "attributes": {"tier": "gold"}})
    custom_fields.delete_field(ctx, f.id)
    assert customers.get_customer(ctx, c.id).attributes == {"tier": "gold"}
    with pytest.raises(ValidationError):
        customers.update_customer(ctx, c.id, {"attributes": {"tier": "silver"}})


def test_completeness_counts_custom_fields(ctx):
    c = customers.create_customer(ctx, {"name": "Only a phone", "phone": "13800138000"})
    score, missing = customers.completeness_of(ctx, c)
    assert score == 20 and "industry" in missing  # name 10 + phone 10 of 100
    custom_fields.create_field(ctx, {"name": "size", "label": "Size", "type": "text"})
    score, missing = customers.completeness_of(ctx, c)
    assert score == round(100 * 20 / 102) and "Size" in missing


def test_custom_fields_api(client, make_user, admin_headers):
    _, rep = make_user("sales")
    body = {"name": "wechat_oa", "label": "公众号", "type": "text"}
    assert client.post("/api/v1/custom-fields", json=body, headers=rep).status_code == 403
    r = client.post("/api/v1/custom-fields", json=body, headers=admin_headers)
    assert r.status_code == 201 and r.json["label"] == "公众号"
    r = client.post("/api/v1/custom-fields", json={**body, "label": "dup"}, headers=admin_headers)
    assert r.status_code == 422 and "already exists" in r.json["errors"]["name"][0]
    assert [f["name"] for f in client.get("/api/v1/custom-fields", headers=rep).json] == ["wechat_oa"]
    assert "choice" in [t["name"] for t in client.get("/api/v1/custom-fields/types", headers=rep).json]
    r = client.post("/api/v1/customers", json={"name": "A", "attributes": {"wechat_oa": "zs_trade"}}, headers=rep)
    assert r.status_code == 201 and r.json["attributes"] == {"wechat_oa": "zs_trade"}
    r = client.post("/api/v1/customers", json={"name": "B", "attributes": {"unknown": 1}}, headers=rep)
    assert r.status_code == 422 and "unknown" in r.json["errors"]["attributes"]
