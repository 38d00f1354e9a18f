"""Refusals of quotes, leads and activities name the record's status in the reader's words (“已审批”, "Approved"),
never the stored code."""
from __future__ import annotations

from typing import Any

import pytest

from plugins.sales.services import catalog

WORDS = {"zh-CN": {"draft": "“草稿”", "approved": "“已审批”", "cancelled": "“已取消”", "sent": "“已发送”",
                   "disqualified": "“已作废”"},
         "en": {"draft": "Draft", "approved": "Approved", "cancelled": "Cancelled", "sent": "Sent",
                "disqualified": "Disqualified"}}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_refusals_name_the_status_in_words(client: Any, ctx: Any, make_user: Any, make_customer: Any,
                                           lang: str) -> None:
    rep, headers = make_user("sales", username="rita")
    headers = {**headers, "Accept-Language": lang}
    printer = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    body = {"customer_id": make_customer("Acme", rep).id, "lines": [{"product_id": printer.id, "quantity": "1"}]}
    url = f"/api/v1/sales/quotes/{client.post('/api/v1/sales/quotes', json=body, headers=headers).json['id']}"
    words = WORDS[lang]

    def refused(method: str, path: str, data: Any, *expected: str) -> None:
        r = client.open(path if path.startswith("/api/") else url + path, method=method, json=data, headers=headers)
        message = r.json["message"]
        assert r.status_code == 409, (path, r.status_code, message)
        for code in expected:
            assert words[code] in message, (path, message)
        if lang == "zh-CN":  # no stored code (and no English word) in a Chinese message
            assert not any(c.isascii() and c.isalpha() for c in message), message

    refused("POST", "/order", {}, "draft")
    assert client.post(url + "/submit", headers=headers).json["status"] == "approved"
    refused("POST", "/submit", None, "approved")
    assert client.post(url + "/status", json={"action": "cancel"}, headers=headers).json["status"] == "cancelled"
    refused("PATCH", "", {"notes": "x"}, "cancelled")
    refused("POST", "/status", {"action": "send"}, "cancelled", "sent")

    customer_id = body["customer_id"]
    lead = client.post("/api/v1/sales/leads", json={"name": "Wang", "phone": "13800000000"},
                       headers=headers).json["id"]
    assert client.post(f"/api/v1/sales/leads/{lead}/disqualify", json={"reason": "student"},
                       headers=headers).status_code == 200
    refused("PATCH", f"/api/v1/sales/leads/{lead}", {"name": "Wang Fang"}, "disqualified")
    refused("POST", f"/api/v1/sales/leads/{lead}/disqualify", {"reason": "again"}, "disqualified")
    call = client.post("/api/v1/sales/activities", json={"kind": "call", "subject": "Call", "customer_id": customer_id},
                       headers=headers).json["id"]
    assert client.post(f"/api/v1/sales/activities/{call}/cancel", headers=headers).status_code == 200
    refused("PATCH", f"/api/v1/sales/activities/{call}", {"subject": "Call back"}, "cancelled")
    refused("POST", f"/api/v1/sales/activities/{call}/complete", {}, "cancelled")


def test_an_order_delivered_is_not_a_delivery_time(app: Any) -> None:
    """One English word, two meanings: an order's status (已交付) and the outbox's column (投递时间)."""
    from crmcore.admin.system import OutboxView
    from plugins.sales.admin.records import code_label
    from plugins.sales.services.status_words import status_word

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert status_word("delivered") == code_label("delivered") == "已交付"
        assert str(OutboxView.column_labels["delivered_at"]) == "投递时间"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert status_word("delivered") == "Delivered"
        assert str(OutboxView.column_labels["delivered_at"]) == "Delivered at"
