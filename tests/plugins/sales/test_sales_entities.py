"""The sales record types are in the entity metadata, labelled in both languages by the admin views that
declare them, readable only with their permission, related to customers one hop away."""
from __future__ import annotations


def test_sales_entities_are_listed_with_labels(client, admin_headers):
    for lang in ("zh-CN", "en"):
        headers = {**admin_headers, "Accept-Language": lang}
        names = {e["name"] for e in client.get("/api/v1/meta/entities", headers=headers).json}
        assert {"lead", "opportunity", "quote", "order", "invoice", "activity", "product"} <= names
        for name in names:
            entity = client.get(f"/api/v1/meta/entities/{name}", headers=headers).json
            assert [f["name"] for f in entity["fields"] if f["label"] == f["name"]] == [], (lang, name)
    opp = client.get("/api/v1/meta/entities/opportunity", headers={**admin_headers, "Accept-Language": "en"}).json
    fields = {f["name"]: f for f in opp["fields"]}
    assert fields["amount"]["type"] == "money" and fields["customer_id"]["related"] == "customer"
    assert {c["value"] for c in fields["status"]["choices"]} >= {"open", "won", "lost"}
    assert any(r["entity"] == "customer" for r in opp["related"])


def test_a_rep_sees_the_sales_entities_but_not_users(client, make_user):
    _, headers = make_user("sales")
    names = {e["name"] for e in client.get("/api/v1/meta/entities", headers=headers).json}
    assert "opportunity" in names and "user" not in names
