"""/api/v1/channels and /api/v1/customers/<id>/identities: permissions, secrets never returned, 422 per field,
the unmatched queue's link and make-a-lead."""
from __future__ import annotations

from adapters.channels import inbox

from .conftest import inbound

ACCOUNT = {"platform": "wechat", "account": "wxAPI", "name": "服务号", "config": {"mode": "safe"},
           "secrets": {"token": "tok", "app_secret": "shh", "encoding_aes_key": "a" * 43}}


def test_accounts_secrets_are_write_only(client, admin_headers):
    res = client.post("/api/v1/channels/accounts", json=ACCOUNT, headers=admin_headers)
    assert res.status_code == 201, res.json
    body = res.get_data(as_text=True)
    assert "shh" not in body and res.json["secrets_set"] == ["app_secret", "encoding_aes_key", "token"]
    account_id = res.json["id"]
    res = client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "新名字", "secrets": {"token": ""}},
                       headers=admin_headers)
    assert res.status_code == 200 and res.json["name"] == "新名字" and "token" in res.json["secrets_set"]
    assert client.post("/api/v1/channels/accounts", json=ACCOUNT, headers=admin_headers).status_code == 422  # exists
    listed = client.get("/api/v1/channels/accounts", headers=admin_headers).json["items"]
    assert [a["account"] for a in listed] == ["wxAPI"]


def test_accounts_carry_an_etag_and_a_stale_write_is_refused(client, admin_headers):
    h = admin_headers
    made = client.post("/api/v1/channels/accounts", json=ACCOUNT, headers=h)
    assert made.status_code == 201 and made.headers["ETag"]
    account_id, tag = made.json["id"], made.headers["ETag"]
    read = client.get(f"/api/v1/channels/accounts/{account_id}", headers=h)
    assert read.headers["ETag"] == tag and read.json["version"] == 1
    # PATCH with the ETag read: changed, a new ETag; the old one is stale now (412), and so is its version (409)
    res = client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "新名字"}, headers={**h, "If-Match": tag})
    assert res.status_code == 200 and res.headers["ETag"] != tag and res.json["version"] == 2
    stale = client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "又一个"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 412 and stale.json["message"]
    assert client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "又一个", "version": 1},
                        headers=h).status_code == 409
    bad = client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "x"}, headers={**h, "If-Match": '"nope"'})
    assert bad.status_code == 422
    # PUT replaces the name, switches and settings (a setting left out is cleared, a secret left out is kept)
    fresh = res.headers["ETag"]
    put = client.put(f"/api/v1/channels/accounts/{account_id}", json={"name": "整体替换", "config": {"mode": "plain"}},
                     headers={**h, "If-Match": fresh})
    assert put.status_code == 200, put.json
    assert (put.json["name"], put.json["config"], put.json["version"]) == ("整体替换", {"mode": "plain"}, 3)
    assert put.json["secrets_set"] == ["app_secret", "encoding_aes_key", "token"]
    assert client.put(f"/api/v1/channels/accounts/{account_id}", json={"name": "y"},
                      headers={**h, "If-Match": fresh}).status_code == 412
    assert client.put(f"/api/v1/channels/accounts/{account_id}", json={"config": {}}, headers=h).status_code == 422
    # the same PATCH again changes nothing: the version stays
    same = client.patch(f"/api/v1/channels/accounts/{account_id}", json={"name": "整体替换"}, headers=h)
    assert same.status_code == 200 and same.json["version"] == 3
    assert client.get(f"/api/v1/channels/accounts/{account_id}", headers=h).json["name"] == "整体替换"


def test_bad_account_names_each_field(client, admin_headers):
    bad = {**ACCOUNT, "account": "", "config": {"mode": "loud", "base_url": "ftp://x", "colour": "red"},
           "secrets": {"encoding_aes_key": "short"}}
    res = client.post("/api/v1/channels/accounts", json=bad, headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert res.status_code == 422
    assert {"account", "config.mode", "config.base_url", "config.colour", "secrets.encoding_aes_key"} <= set(res.json["errors"])
    assert "43" in res.json["errors"]["secrets.encoding_aes_key"][0] and "字符" in res.json["errors"]["secrets.encoding_aes_key"][0]


def test_permissions(client, make_user):
    _user, sales = make_user("sales")
    assert client.get("/api/v1/channels/unmatched", headers=sales).status_code == 200
    assert client.post("/api/v1/channels/accounts", json=ACCOUNT, headers=sales).status_code == 403
    assert client.get("/api/v1/channels/accounts").status_code == 401


def test_unmatched_queue_link_and_lead(client, ctx, admin_headers):
    customer = client.post("/api/v1/customers", json={"name": "Alpha"}, headers=admin_headers).json
    m1 = inbox.receive(ctx, inbound(sender="oQ1"))
    m2 = inbox.receive(ctx, inbound(sender="oQ2", text="我想买"))
    queue = client.get("/api/v1/channels/unmatched", headers=admin_headers).json
    assert queue["total"] == 2 and {m["sender"] for m in queue["items"]} == {"oQ1", "oQ2"}
    res = client.post(f"/api/v1/channels/unmatched/{m1.id}/link", json={"customer_id": "x"}, headers=admin_headers)
    assert res.status_code == 422 and "customer_id" in res.json["errors"]
    res = client.post(f"/api/v1/channels/unmatched/{m1.id}/link", json={"customer_id": customer["id"]}, headers=admin_headers)
    assert res.status_code == 200 and [m["status"] for m in res.json["linked"]] == ["matched"]
    ids = client.get(f"/api/v1/customers/{customer['id']}/identities", headers=admin_headers).json["items"]
    assert [(i["platform"], i["account"], i["value"]) for i in ids] == [("wechat_openid", "wxAPP", "oQ1")]
    res = client.post(f"/api/v1/channels/unmatched/{m2.id}/lead", json={"name": "赵六", "phone": "13800138000"},
                      headers=admin_headers)
    assert res.status_code == 201 and res.json["lead_id"]
    assert client.get("/api/v1/channels/unmatched", headers=admin_headers).json["total"] == 0
    assert client.get("/api/v1/channels/messages?status=lead", headers=admin_headers).json["items"][0]["lead_id"] == res.json["lead_id"]
    assert client.post(f"/api/v1/channels/unmatched/{m2.id}/lead", json={"name": "x"}, headers=admin_headers).status_code == 400


def test_a_rep_sees_matched_messages_of_their_customers_only(client, ctx, make_user, admin_headers):
    rep, rep_headers = make_user("sales")
    other = client.post("/api/v1/customers", json={"name": "Not yours"}, headers=admin_headers).json
    msg = inbox.receive(ctx, inbound(sender="oZ"))
    inbox.link(ctx, msg.id, other["id"])
    assert client.get(f"/api/v1/channels/messages/{msg.id}", headers=rep_headers).status_code == 404
    assert client.get("/api/v1/channels/messages", headers=rep_headers).json["total"] == 0


def test_identities_api(client, admin_headers):
    a = client.post("/api/v1/customers", json={"name": "Alpha"}, headers=admin_headers).json
    b = client.post("/api/v1/customers", json={"name": "Beta"}, headers=admin_headers).json
    res = client.post(f"/api/v1/customers/{a['id']}/identities", json={"platform": "qq", "value": "12345"}, headers=admin_headers)
    assert res.status_code == 201
    assert client.post(f"/api/v1/customers/{b['id']}/identities", json={"platform": "qq", "value": "12345"},
                       headers=admin_headers).status_code == 409
    bad = client.post(f"/api/v1/customers/{a['id']}/identities", json={"platform": "fax"}, headers=admin_headers)
    assert bad.status_code == 422 and {"platform", "value"} <= set(bad.json["errors"])
    assert client.delete(f"/api/v1/customers/{b['id']}/identities/{res.json['id']}", headers=admin_headers).status_code == 404
    assert client.delete(f"/api/v1/customers/{a['id']}/identities/{res.json['id']}", headers=admin_headers).status_code == 204
