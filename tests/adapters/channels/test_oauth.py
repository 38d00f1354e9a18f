"""OAuth (snsapi_base) links a follower to a customer: signed link and state, one-time code, no open redirect."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.channels.wechat_oauth import safe_next
from crmcore.services import customers, identities


@pytest.fixture
def linked_account(wechat_account, fake_wechat):
    return wechat_account(oauth_url=f"{fake_wechat.url}/connect/oauth2/authorize")


def _follow_link(client, fake, url, openid):
    """The follower opens ``url`` in WeChat, passes authorisation, and WeChat sends them back."""
    res = client.get(url)
    assert res.status_code == 302
    target = urlsplit(res.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert target.fragment == "wechat_redirect" and query["scope"] == "snsapi_base" and query["appid"] == fake.app_id
    assert len(query["state"]) <= 128
    back = urlsplit(query["redirect_uri"])
    return client.get(f"{back.path}?code={fake.authorize(openid)}&state={query['state']}"), query


def test_a_follower_is_linked_to_the_customer(client, ctx, admin_headers, fake_wechat, linked_account):
    alpha = customers.create_customer(ctx, {"name": "Alpha"})
    fake_wechat.followers["oLINK"] = {"subscribed": True, "unionid": "uLINK", "last_message": 0}
    res = client.post("/api/v1/channels/oauth-links", json={"account": fake_wechat.app_id, "customer_id": alpha.id,
                                                            "next": "/service/portal/new?channel=wechat"}, headers=admin_headers)
    assert res.status_code == 201
    back, query = _follow_link(client, fake_wechat, res.json["url"], "oLINK")
    assert back.status_code == 302 and back.headers["Location"] == "/service/portal/new?channel=wechat"
    assert identities.find_customer(ctx, "wechat_openid", "oLINK", fake_wechat.app_id).id == alpha.id
    assert identities.find_customer(ctx, "wechat_unionid", "uLINK").id == alpha.id
    # the code is good once; a forged state changes nothing
    again = client.get(f"/channels/wechat/{fake_wechat.app_id}/oauth/back?code=used&state={query['state']}")
    assert again.status_code == 400
    forged = client.get(f"/channels/wechat/{fake_wechat.app_id}/oauth/back?code={fake_wechat.authorize('oX')}&state=x.y.z")
    assert forged.status_code == 400 and identities.find_customer(ctx, "wechat_openid", "oX", fake_wechat.app_id) is None


def test_another_customers_follower_is_not_moved(client, ctx, admin_headers, fake_wechat, linked_account):
    alpha, beta = customers.create_customer(ctx, {"name": "Alpha"}), customers.create_customer(ctx, {"name": "Beta"})
    identities.add_identity(ctx, alpha.id, {"platform": "wechat_openid", "account": fake_wechat.app_id, "value": "oA"})
    url = client.post("/api/v1/channels/oauth-links", json={"account": fake_wechat.app_id, "customer_id": beta.id},
                      headers=admin_headers).json["url"]
    back, _query = _follow_link(client, fake_wechat, url, "oA")
    assert back.status_code == 409 and "Alpha" not in back.text
    assert identities.find_customer(ctx, "wechat_openid", "oA", fake_wechat.app_id).id == alpha.id


@pytest.mark.parametrize("path", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x"])
def test_no_open_redirect(client, ctx, admin_headers, fake_wechat, linked_account, path):
    assert safe_next(path) is None
    alpha = customers.create_customer(ctx, {"name": "Alpha"})
    res = client.post("/api/v1/channels/oauth-links", json={"account": fake_wechat.app_id, "customer_id": alpha.id,
                                                            "next": path}, headers=admin_headers)
    assert res.status_code == 422 and "next" in res.json["errors"]


def test_a_tampered_link_is_a_404(client, fake_wechat, linked_account):
    assert client.get(f"/channels/wechat/{fake_wechat.app_id}/oauth?t=forged").status_code == 404
