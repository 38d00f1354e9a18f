"""Coupons through the API (/api/v1/coupons) and the admin pages: programmes, codes, usage and its CSV;
permissions on every path."""
from __future__ import annotations

import datetime as dt

from crmcore.testing.admin import admin_login, form_token, post_form
from plugins.sales.models_coupons import Coupon, CouponProgramme
from plugins.sales.services import catalog, coupons, orders


def test_programmes_codes_and_usage_through_the_api(client, ctx, make_user, make_customer):
    _, boss = make_user("admin")
    _, rep = make_user("sales")
    acme = make_customer("Acme")
    body = {"name": "Spring 10%", "discount_kind": "percent", "amount": "10", "min_spend": "50",
            "valid_until": (dt.date.today() + dt.timedelta(days=30)).isoformat()}
    assert client.post("/api/v1/coupons/programmes", json=body, headers=rep).status_code == 403
    r = client.post("/api/v1/coupons/programmes", json=body, headers=boss)
    assert r.status_code == 201, r.json
    pid, etag = r.json["id"], r.headers["ETag"]
    assert r.json["currency"] == "CNY" and r.json["code_kind"] == "single"
    r = client.post("/api/v1/coupons/programmes", json={**body, "amount": "120"}, headers=boss)
    assert r.status_code == 422 and "amount" in r.json["errors"] and "name" in r.json["errors"]
    r = client.patch(f"/api/v1/coupons/programmes/{pid}", json={"min_spend": "60"}, headers={**boss, "If-Match": etag})
    assert r.status_code == 200 and r.json["min_spend"] == "60.00"
    r = client.patch(f"/api/v1/coupons/programmes/{pid}", json={"min_spend": "70"}, headers={**boss, "If-Match": etag})
    assert r.status_code == 412

    r = client.post(f"/api/v1/coupons/programmes/{pid}/codes", json={"count": 5, "batch": "fair"}, headers=boss)
    assert r.status_code == 201 and len({c["code"] for c in r.json}) == 5
    r = client.post(f"/api/v1/coupons/programmes/{pid}/issue", json={"customer_id": acme.id}, headers=rep)
    assert r.status_code == 201 and r.json["customer_id"] == acme.id
    code = r.json["code"]
    listed = client.get(f"/api/v1/coupons/programmes/{pid}/codes", headers=rep).json
    assert listed["total"] == 6 and listed["items"][0]["code"] == code and listed["items"][0]["uses"] == 0

    product = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    orders.record_order(ctx, {"number": "SO-1", "customer_id": acme.id, "order_date": dt.date.today().isoformat(),
                              "coupon_code": code, "lines": [{"product_id": product.id, "unit_price": "100"}]})
    [row] = client.get("/api/v1/coupons/usage", headers=rep).json
    assert row == {"programme_id": pid, "name": "Spring 10%", "currency": "CNY", "issued": 6, "redeemed": 1,
                   "released": 0, "discount_given": "10.00", "revenue": "90.00"}
    csv = client.get("/api/v1/coupons/usage?format=csv", headers={**rep, "Accept-Language": "zh-CN"})
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.text.splitlines()[0] == "\ufeff方案,币种,已发放券码,已使用,已释放,优惠金额,收入"
    assert csv.text.splitlines()[1] == "Spring 10%,CNY,6,1,0,10.00,90.00"
    assert client.get("/api/v1/coupons/usage").status_code == 401


def test_a_formula_in_a_programme_name_is_not_run_by_a_spreadsheet(ctx):
    coupons.save_programme(ctx, {"name": "=HYPERLINK(\"x\")", "amount": "1"})
    assert coupons.usage_csv(ctx).splitlines()[1].startswith('"\'=HYPERLINK')


def test_admin_programme_form_codes_page_and_usage(client, ctx, make_user, make_customer):
    make_user("admin", username="boss")
    admin_login(client, "boss", lang="zh-CN")
    product = catalog.create_product(ctx, {"code": "P9", "name": "打印机", "list_price": "100", "category": "硬件"})
    acme = make_customer("杭州甲公司")
    page = client.get("/admin/sales/coupon-programme/new/")
    assert page.status_code == 200 and "打印机 (P9)" in page.text and "硬件" in page.text and "单次使用券码" in page.text
    r = post_form(client, "/admin/sales/coupon-programme/new/", {
        "name": "会员日", "code_kind": "single", "discount_kind": "percent", "amount": "150", "currency": "",
        "product_ids": [str(product.id)], "categories": ["硬件"], "active": "y"})
    assert r.status_code == 200 and "折扣最多为 100%" in r.text  # 150 % refused, in Chinese, the form kept
    r = post_form(client, "/admin/sales/coupon-programme/new/", {
        "name": "会员日", "code_kind": "single", "discount_kind": "percent", "amount": "15", "currency": "",
        "product_ids": [str(product.id)], "categories": ["硬件"], "valid_from": "2026-01-01", "active": "y"})
    assert r.status_code == 302, r.text[-2000:]
    p = ctx.session.query(CouponProgramme).one()
    assert (p.amount, p.product_ids, p.categories, p.currency) == (15, [product.id], ["硬件"], "CNY")
    listing = client.get("/admin/sales/coupon-programme/")
    assert "15%" in listing.text and "单次使用券码" in listing.text and "single" not in listing.text

    url = f"/admin/sales/coupons/?programme_id={p.id}"
    page = client.get(url)
    assert page.status_code == 200 and "杭州甲公司" in page.text
    r = client.post("/admin/sales/coupons/generate", data={"csrf_token": form_token(client, url), "programme_id": p.id,
                                                           "count": "3", "customer_id": str(acme.id), "batch": "展会"})
    assert r.status_code == 302
    ctx.session.expire_all()
    made = ctx.session.query(Coupon).filter_by(programme_id=p.id).all()
    assert len(made) == 3 and {c.customer_id for c in made} == {acme.id} and {c.batch for c in made} == {"展会"}
    page = client.get(url)
    assert made[0].code in page.text and page.text.count("杭州甲公司") >= 4
    r = client.post("/admin/sales/coupons/generate", data={"csrf_token": form_token(client, url), "programme_id": p.id,
                                                           "count": "0"}, follow_redirects=True)
    assert "10,000" in r.text  # the refusal, in the reader's words
    assert client.post("/admin/sales/coupons/generate", data={"programme_id": p.id, "count": "1"}).status_code == 400
    csv = client.get("/admin/sales/coupons/usage.csv")
    assert csv.status_code == 200 and "会员日,CNY,3,0,0,0.00,0.00" in csv.text

    order = orders.record_order(ctx, {"number": "SO-9", "customer_id": acme.id, "coupon_code": made[0].code,
                                      "order_date": dt.date.today().isoformat(),
                                      "lines": [{"product_id": product.id, "unit_price": "200"}]})
    details = client.get(f"/admin/sales/order/details/?id={order.id}")
    assert details.status_code == 200 and made[0].code in details.text
    assert "优惠券折扣" in details.text and "30.00" in details.text  # 15 % of 200, on the order's page


def test_a_sales_rep_sees_coupons_but_cannot_set_them_up(client, make_user):
    make_user("sales", username="rep")
    admin_login(client, "rep", lang="en")
    assert client.get("/admin/sales/coupons/").status_code == 200
    assert client.get("/admin/sales/coupon-programme/new/").status_code in (302, 403)
    r = client.post("/admin/sales/coupons/generate", data={"csrf_token": form_token(client, "/admin/sales/coupons/"),
                                                           "programme_id": "1", "count": "1"}, follow_redirects=True)
    assert "sales.coupon.manage" in r.text
