"""Entity metadata at /api/v1/meta/entities: every readable entity with its fields derived from the model,
labels in the reader's language, choices with labels, custom fields and relations one hop away."""
from __future__ import annotations

from crmcore.services import custom_fields


def test_needs_a_token(client):
    assert client.get("/api/v1/meta/entities").status_code == 401
    assert client.get("/api/v1/meta/entities/customer").status_code == 401


def test_lists_only_what_the_caller_may_read(client, admin_headers, make_user):
    names = {e["name"] for e in client.get("/api/v1/meta/entities", headers=admin_headers).json}
    assert {"customer", "contact", "interaction", "user"} <= names
    _, rep = make_user("sales")
    rep_names = {e["name"] for e in client.get("/api/v1/meta/entities", headers=rep).json}
    assert "customer" in rep_names and "user" not in rep_names
    r = client.get("/api/v1/meta/entities/user", headers=rep)
    assert r.status_code == 404 and "user" in r.json["message"]  # not told it exists


def test_fields_types_labels_and_choices_in_the_readers_language(client, admin_headers):
    zh = client.get("/api/v1/meta/entities/customer", headers={**admin_headers, "Accept-Language": "zh-CN"}).json
    en = client.get("/api/v1/meta/entities/customer", headers={**admin_headers, "Accept-Language": "en"}).json
    fields = {f["name"]: f for f in en["fields"]}
    assert fields["name"]["type"] == "str" and fields["name"]["max_length"] and fields["name"]["required"]
    assert fields["credit_limit"]["type"] == "money" and fields["created_at"]["type"] == "datetime"
    assert {c["value"] for c in fields["stage"]["choices"]} == {"lead", "prospect", "customer", "inactive"}
    assert fields["stage"]["label"] == "Stage" and en["label"] == "Customers"
    zh_fields = {f["name"]: f for f in zh["fields"]}
    assert zh_fields["stage"]["label"] != "Stage" and zh["label"] != "Customers"
    assert {c["label"] for c in zh_fields["stage"]["choices"]}.isdisjoint({"Lead", "Prospect"})
    assert not any(n in fields for n in ("search_text", "deleted_at", "merged_into_id"))
    assert fields["owner_id"]["related"] == "user"
    assert {"field": "owner_id", "entity": "user"}.items() <= next(r for r in en["related"]
                                                                    if r["field"] == "owner_id").items()


def test_no_secret_column_is_described(client, admin_headers):
    fields = {f["name"] for f in client.get("/api/v1/meta/entities/user", headers=admin_headers).json["fields"]}
    assert "username" in fields and not any("password" in f or "hash" in f for f in fields)


def test_custom_fields_are_listed_with_their_labels(client, admin_headers, ctx):
    custom_fields.create_field(ctx, {"entity": "customer", "name": "region", "label": "区域", "type": "choice",
                                     "choices": ["north", "south"]})
    fields = {f["name"]: f for f in client.get("/api/v1/meta/entities/customer", headers=admin_headers).json["fields"]}
    region = fields["attributes.region"]
    assert region["label"] == "区域" and region["source"] == "custom"
    assert [c["value"] for c in region["choices"]] == ["north", "south"]


def test_unknown_entity_is_404(client, admin_headers):
    assert client.get("/api/v1/meta/entities/nope", headers=admin_headers).status_code == 404


def test_every_entity_is_labelled_in_both_languages(client, admin_headers):
    for lang in ("zh-CN", "en"):
        headers = {**admin_headers, "Accept-Language": lang}
        for summary in client.get("/api/v1/meta/entities", headers=headers).json:
            entity = client.get(f"/api/v1/meta/entities/{summary['name']}", headers=headers).json
            unlabelled = [f["name"] for f in entity["fields"] if f["label"] == f["name"]]
            assert unlabelled == [], (lang, summary["name"], unlabelled)  # no stored name shown as a label
            for f in entity["fields"]:
                assert all(c["label"] for c in f["choices"]), (summary["name"], f["name"])
            if lang == "zh-CN":
                assert not summary["label"].isascii(), summary
