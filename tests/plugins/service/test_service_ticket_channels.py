"""Tickets say which channel they came from: the ticket API and the portal accept the messaging channels."""
from __future__ import annotations

import re

import pytest

from plugins.service.models import Ticket


@pytest.fixture
def app(make_app):
    return make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1")


@pytest.mark.parametrize("channel", ["wechat", "wecom", "sms", "weibo"])
def test_api_opens_a_ticket_on_a_messaging_channel(client, admin_headers, channel):
    res = client.post("/api/v1/service/tickets", json={"subject": "打印机坏了", "channel": channel}, headers=admin_headers)
    assert res.status_code == 201, res.json
    assert res.json["channel"] == channel


def test_api_default_and_unknown_channel(client, admin_headers):
    res = client.post("/api/v1/service/tickets", json={"subject": "x"}, headers=admin_headers)
    assert res.status_code == 201 and res.json["channel"] == "api"
    res = client.post("/api/v1/service/tickets", json={"subject": "x", "channel": "fax"}, headers=admin_headers)
    assert res.status_code == 422 and "channel" in res.json["errors"]
    ticket = client.post("/api/v1/service/tickets", json={"subject": "y", "channel": "sms"}, headers=admin_headers).json
    res = client.patch(f"/api/v1/service/tickets/{ticket['id']}", json={"channel": "wechat"},
                       headers={**admin_headers, "If-Match": client.get(f"/api/v1/service/tickets/{ticket['id']}",
                                                                        headers=admin_headers).headers["ETag"]})
    assert res.status_code in (200, 422)
    assert client.get(f"/api/v1/service/tickets/{ticket['id']}", headers=admin_headers).json["channel"] == "sms"


def _submit(client, query=""):
    page = client.get(f"/service/portal/new{query}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    channel = re.search(r'name="channel" value="([^"]*)"', page).group(1)
    return client.post("/service/portal/new", data={"csrf_token": token, "channel": channel, "name": "王芳",
                                                    "email": "wang@example.cn", "subject": "打印机坏了",
                                                    "description": "无法开机"})


def test_portal_from_a_wechat_menu_link(client, ctx):
    assert _submit(client, "?channel=wechat").status_code == 201
    assert _submit(client).status_code == 201
    assert [t.channel for t in ctx.session.query(Ticket).order_by(Ticket.id)] == ["wechat", "web"]
    assert _submit(client, "?channel=api").status_code == 422  # not a channel a customer writes from
