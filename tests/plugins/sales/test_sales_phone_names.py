"""Phones and names through the API: an invalid number is a clear 422, never a made-up E.164; valid numbers
in any format work; names keep their full-width characters (issue 13)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("phone", ["12345", "999", "95588", "1380013800"])
@pytest.mark.parametrize("lang, words", [("en", "Not a valid phone number"), ("zh-CN", "电话号码")])
def test_an_invalid_phone_is_refused_with_a_clear_422(client, admin_headers, phone, lang, words):
    headers = {**admin_headers, "Accept-Language": lang}
    r = client.post("/api/v1/customers", json={"name": "Short Ltd", "phone": phone}, headers=headers)
    assert r.status_code == 422 and words in r.json["errors"]["phone"][0], r.json
    r = client.post("/api/v1/customers", json={"name": "Short Ltd"}, headers=headers)
    cid = r.json["id"]
    r = client.post("/api/v1/contacts", json={"customer_id": cid, "name": "Li", "mobile": phone}, headers=headers)
    assert r.status_code == 422 and words in r.json["errors"]["mobile"][0], r.json
    r = client.post("/api/v1/sales/leads", json={"name": "Lead", "phone": phone}, headers=headers)
    assert r.status_code == 422 and "phone" in r.json["errors"], r.json


@pytest.mark.parametrize("phone, e164", [("13800138000", "+8613800138000"), ("138 0013 8000", "+8613800138000"),
                                         ("+86 138-0013-8000", "+8613800138000"), ("021-6888 1234", "+862168881234"),
                                         ("(021) 6888-1234", "+862168881234"), ("１３８００１３８０００", "+8613800138000"),
                                         ("+1 650 253 0000", "+16502530000"), ("400-820-8820", "+864008208820")])
def test_valid_numbers_in_any_format_are_kept_as_typed_and_normalised(client, admin_headers, phone, e164):
    r = client.post("/api/v1/customers", json={"name": "Number Co", "phone": phone}, headers=admin_headers)
    assert r.status_code == 201, r.json
    assert (r.json["phone"], r.json["phone_normalized"]) == (phone, e164)


def test_names_keep_full_width_characters_and_are_found_either_way(client, admin_headers):
    name = "北京（朝阳）ＸＹ科技有限公司"
    r = client.post("/api/v1/customers", json={"name": name}, headers=admin_headers)
    assert r.status_code == 201 and r.json["name"] == name
    r = client.post("/api/v1/contacts", json={"customer_id": r.json["id"], "name": "张（总）"}, headers=admin_headers)
    assert r.status_code == 201 and r.json["name"] == "张（总）"
    for q in ("(朝阳)xy", "（朝阳）ＸＹ"):
        found = client.get("/api/v1/customers", query_string={"q": q}, headers=admin_headers).json["items"]
        assert [c["name"] for c in found] == [name], q
    for q in ("张（总）", "张(总)"):
        found = client.get("/api/v1/contacts", query_string={"q": q}, headers=admin_headers).json["items"]
        assert [c["name"] for c in found] == ["张（总）"], q
    r = client.post("/api/v1/sales/products", json={"code": "ＦＷ-2", "name": "Widget（小）", "list_price": "5.00"}, headers=admin_headers)
    assert r.status_code == 201 and (r.json["name"], r.json["code"]) == ("Widget（小）", "FW-2")
    for q in ("widget(小)", "Widget（小）"):
        found = client.get("/api/v1/sales/products", query_string={"q": q}, headers=admin_headers).json["items"]
        assert [p["name"] for p in found] == ["Widget（小）"], q


def test_codes_are_keys_folded_when_stored_and_when_looked_up(ctx):
    from crmcore.services import customers as customer_svc

    customer = customer_svc.create_customer(ctx, {"name": "Code Co", "code": "ＣＵ-9"})
    assert customer.code == "CU-9"
    assert customer_svc.get_by_code(ctx, "ＣＵ-9").id == customer.id  # the sync looks ERP codes up as sent
