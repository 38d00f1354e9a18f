"""The service record types are in the entity metadata, every field labelled in both languages."""
from __future__ import annotations


def test_service_entities_are_listed_with_labels(client, admin_headers):
    for lang in ("zh-CN", "en"):
        headers = {**admin_headers, "Accept-Language": lang}
        names = {e["name"] for e in client.get("/api/v1/meta/entities", headers=headers).json}
        assert {"ticket", "followup", "quality_record", "ticket_category"} <= names
        for name in names:
            entity = client.get(f"/api/v1/meta/entities/{name}", headers=headers).json
            assert [f["name"] for f in entity["fields"] if f["label"] == f["name"]] == [], (lang, name)
    ticket = client.get("/api/v1/meta/entities/ticket", headers={**admin_headers, "Accept-Language": "en"}).json
    fields = {f["name"]: f for f in ticket["fields"]}
    assert fields["subject"]["max_length"] and fields["customer_id"]["related"] == "customer"
    assert fields["priority"]["choices"] and all(c["label"] for c in fields["priority"]["choices"])
