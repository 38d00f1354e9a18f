"""Coupons on sales orders: the discount computed on the server through the order's one validation,
every refusal with its reason (en and zh_CN), uses released when an order is cancelled, limits."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crmcore.errors import ValidationError
from plugins.sales.services import catalog, coupons, orders

TODAY = dt.date.today()


@pytest.fixture
def products(ctx):
    printer = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100", "category": "Hardware"})
    toner = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "40", "category": "Supplies"})
    return printer, toner


@pytest.fixture
def acme(make_customer):
    return make_customer("Acme")


def order_body(customer_id: int, printer: Any, toner: Any, number: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "customer_id": customer_id, "order_date": TODAY.isoformat(), "currency": "CNY",
            "lines": [{"product_id": printer.id, "quantity": "2", "unit_price": "100"},  # 200.00
                      {"product_id": toner.id, "quantity": "1", "unit_price": "40"}], **extra}  # 40.00


def single_code(ctx: Any, **programme: Any) -> str:
    p = coupons.save_programme(ctx, {"name": programme.pop("name", "P"), "amount": "10", **programme})
    return coupons.generate_codes(ctx, p.id, {"count": 1})[0].code


def test_a_percentage_coupon_for_a_category_is_taken_off_the_order_and_shown_with_it(client, ctx, make_user, acme,
                                                                                    products):
    printer, toner = products
    p = coupons.save_programme(ctx, {"name": "Hardware 15%", "discount_kind": "percent", "amount": "15",
                                     "categories": ["Hardware"], "min_spend": "100"})
    code = coupons.generate_codes(ctx, p.id, {"count": 3})[1].code
    _, h = make_user("admin")
    r = client.post("/api/v1/sales/orders", json=order_body(acme.id, printer, toner, "SO-1",
                                                            coupon_code=f"  {code.lower()} "), headers=h)
    assert r.status_code == 200, r.json
    assert r.json["coupon_code"] == code and r.json["coupon_discount"] == "30.00"  # 15 % of the printers' 200
    assert r.json["total"] == "210.00"
    got = client.get(f"/api/v1/sales/orders/{r.json['id']}", headers=h).json
    assert (got["coupon_code"], got["coupon_discount"], got["total"]) == (code, "30.00", "210.00")
    # new lines: the discount follows them
    body = order_body(acme.id, printer, toner, "SO-1")
    body["lines"][0]["quantity"] = "1"
    r = client.post("/api/v1/sales/orders", json=body, headers=h)
    assert (r.json["coupon_discount"], r.json["total"]) == ("15.00", "125.00")
    # removed: the full price again, and the code is free
    r = client.post("/api/v1/sales/orders", json={**body, "coupon_code": ""}, headers=h)
    assert (r.json["coupon_code"], r.json["coupon_discount"], r.json["total"]) == (None, "0.00", "140.00")
    assert coupons.usage(ctx, p.id)[0]["redeemed"] == 0


def test_an_amount_coupon_never_takes_more_than_the_lines_it_covers(ctx, acme, products):
    printer, toner = products
    code = single_code(ctx, amount="500", product_ids=[toner.id])
    order = orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-2", coupon_code=code))
    assert order.coupon_discount == 40 and order.total == 200


@pytest.mark.parametrize("programme, expected_en, expected_zh", [
    ({"valid_until": (TODAY - dt.timedelta(days=1)).isoformat()}, "expired on", "已于"),
    ({"valid_from": (TODAY + dt.timedelta(days=2)).isoformat()}, "not valid yet", "尚未生效"),
    ({"min_spend": "1000"}, "needs a spend of at least 1000.00", "至少"),
    ({"categories": ["Furniture"]}, "not for the products of this order", "不适用于"),
    ({"currency": "USD"}, "in USD; the order is in CNY", "USD"),
    ({"active": False}, "is closed", "已关闭"),
])
def test_each_refusal_says_why_in_the_readers_language_and_nothing_is_stored(client, ctx, make_user, acme, products,
                                                                             programme, expected_en, expected_zh):
    printer, toner = products
    code = single_code(ctx, **programme)
    _, h = make_user("admin")
    for lang, expected in (("en", expected_en), ("zh-CN", expected_zh)):
        r = client.post("/api/v1/sales/orders", json=order_body(acme.id, printer, toner, "SO-3", coupon_code=code),
                        headers={**h, "Accept-Language": lang})
        assert r.status_code == 422, r.json
        assert expected in r.json["errors"]["coupon_code"][0], r.json
    assert client.get("/api/v1/sales/orders", headers=h).json["total"] == 0


def test_unknown_code_and_a_code_of_another_customer_are_refused(ctx, make_customer, acme, products):
    printer, toner = products
    other = make_customer("Other")
    p = coupons.save_programme(ctx, {"name": "Gift", "amount": "10"})
    theirs = coupons.issue_coupon(ctx, p.id, other.id, source="gift").code
    with pytest.raises(ValidationError) as exc:
        orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-4", coupon_code=theirs))
    assert "another customer" in exc.value.errors["coupon_code"][0]
    with pytest.raises(ValidationError) as exc:
        orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-4", coupon_code="NOPE-NOPE"))
    assert "NOPE-NOPE" in exc.value.errors["coupon_code"][0]
    assert orders.record_order(ctx, order_body(other.id, printer, toner, "SO-4", coupon_code=theirs)).total == 230


def test_a_single_use_code_is_used_once_and_free_again_when_its_order_is_cancelled(ctx, make_customer, acme,
                                                                                   products):
    printer, toner = products
    code = single_code(ctx, name="Once")
    first = orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-5", coupon_code=code))
    orders.record_order(ctx, {"number": "SO-5", "order_date": TODAY.isoformat()})  # saved again: still one use
    with pytest.raises(ValidationError) as exc:
        orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-6", coupon_code=code))
    assert "used already" in exc.value.errors["coupon_code"][0]
    assert (coupons.usage(ctx)[0]["redeemed"], coupons.usage(ctx)[0]["discount_given"]) == (1, 10)

    orders.record_order(ctx, {"number": "SO-5", "status": "cancelled"})
    assert first.coupon_code == code  # the order still shows what it had
    report = coupons.usage(ctx)[0]
    assert (report["redeemed"], report["released"], report["discount_given"]) == (0, 1, 0)
    second = orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-6", coupon_code=code))
    assert second.total == 230 and coupons.usage(ctx)[0]["redeemed"] == 1


def test_a_shared_code_keeps_the_per_customer_and_total_limits(ctx, make_customer, acme, products):
    printer, toner = products
    p = coupons.save_programme(ctx, {"name": "Spring", "code_kind": "multi", "amount": "5",
                                     "per_customer_limit": 1, "usage_limit": 2})
    [shared] = coupons.generate_codes(ctx, p.id, {"code": "spring-2027", "count": 50})
    assert shared.code == "SPRING-2027" and shared.max_uses is None
    bob, cat = make_customer("Bob"), make_customer("Cat")
    orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-7", coupon_code="SPRING-2027"))
    with pytest.raises(ValidationError) as exc:
        orders.record_order(ctx, order_body(acme.id, printer, toner, "SO-8", coupon_code="SPRING-2027"))
    assert "limit" in exc.value.errors["coupon_code"][0]
    orders.record_order(ctx, order_body(bob.id, printer, toner, "SO-9", coupon_code="SPRING-2027"))
    with pytest.raises(ValidationError) as exc:
        orders.record_order(ctx, order_body(cat.id, printer, toner, "SO-10", coupon_code="SPRING-2027"))
    assert "used up" in exc.value.errors["coupon_code"][0]
    report = coupons.usage(ctx, p.id)[0]
    assert (report["issued"], report["redeemed"], report["discount_given"], report["revenue"]) == (1, 2, 10, 470)
