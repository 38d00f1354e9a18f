"""Social value: paid revenue of the customers brought (decayed per level, base currency), successful referrals,
reach; stored by the job and refreshed on payments; computed fields in the condition language; top advocates."""
from __future__ import annotations

import decimal
from typing import Any

from crmcore import entities
from crmcore.conditions import compile_sql
from plugins.social.services.value import recompute_all, value_of

D = decimal.Decimal


def test_value_counts_paid_revenue_with_decay_per_level(ctx: Any, make_customer: Any, refer: Any,
                                                        paid_order: Any) -> None:
    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    d = refer(c, "丁")
    e = refer(a, "戊")  # brought, bought nothing paid
    paid_order(b, "1000")
    paid_order(c, "400")
    paid_order(d, "200")
    paid_order(e, "300", paid=False)  # an unpaid order is no revenue
    paid_order(a, "9999")  # one's own orders are no social value
    recompute_all(ctx)
    va = value_of(ctx, a.id)
    assert va["social_value"] == D("1000") + D("400") * D("0.5") + D("200") * D("0.25")
    assert (va["referral_count"], va["referral_reach"]) == (1, 4)
    vb = value_of(ctx, b.id)
    assert (vb["social_value"], vb["referral_count"], vb["referral_reach"]) == (D("400") + D("100"), 1, 2)
    assert value_of(ctx, d.id)["social_value"] == D("0")


def test_value_follows_the_programme_decay_and_base_currency(ctx: Any, make_customer: Any, refer: Any,
                                                             paid_order: Any) -> None:
    from plugins.sales.services.money import set_rate
    from plugins.social.services.programme import update_programme

    update_programme(ctx, {"decay": "0.2"})
    set_rate(ctx, "USD", "7.0")
    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    paid_order(b, "100", currency="USD")
    paid_order(c, "1000")
    paid_order(refer(a, "无汇率"), "50", currency="JPY")  # no rate: counted as 0, still a successful referral
    recompute_all(ctx)
    assert value_of(ctx, a.id)["social_value"] == D("700") + D("200")
    assert value_of(ctx, a.id)["referral_count"] == 2


def test_value_is_refreshed_by_payments_and_cancellations(ctx: Any, make_customer: Any, refer: Any,
                                                          paid_order: Any) -> None:
    from plugins.sales.services import orders

    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    order = paid_order(c, "800")  # the payment event refreshes b and a: no job run
    assert value_of(ctx, b.id)["social_value"] == D("800")
    assert value_of(ctx, a.id)["social_value"] == D("400")
    orders.record_order(ctx, {"number": order.number, "customer_id": c.id, "status": "cancelled"})
    ctx.session.expire_all()
    assert value_of(ctx, a.id)["social_value"] == D("0")


def test_social_fields_in_the_condition_language(ctx: Any, make_customer: Any, refer: Any, paid_order: Any) -> None:
    from sqlalchemy import select

    from crmcore.models import Customer

    a = make_customer("甲")
    b = refer(a, "乙")
    paid_order(b, "500")
    lonely = make_customer("独行")
    for cond, expected in (({"field": "social_value", "op": "gte", "value": 500}, {a.id}),
                           ({"field": "referral_count", "op": "eq", "value": 0}, {b.id, lonely.id}),
                           ({"field": "referral_reach", "op": "gt", "value": 0}, {a.id})):
        where = compile_sql(cond, entities.condition_fields(ctx, "customer"))
        assert set(ctx.session.scalars(select(Customer.id).where(where))) == expected, cond


def test_meta_lists_the_social_fields(client: Any, admin_headers: Any) -> None:
    res = client.get("/api/v1/meta/entities/customer", headers={**admin_headers, "Accept-Language": "zh-CN"})
    fields = {f["name"]: f for f in res.get_json()["fields"]}
    assert fields["social_value"]["source"] == "computed" and fields["social_value"]["label"] == "社交价值"


def test_top_advocates_api_and_csv(ctx: Any, client: Any, admin_headers: Any, make_customer: Any, refer: Any,
                                   paid_order: Any) -> None:
    a, z = make_customer("=甲"), make_customer("乙")
    paid_order(refer(a, "丙"), "300")
    paid_order(refer(z, "丁"), "100")
    res = client.get("/api/v1/referrals/top-advocates", headers=admin_headers)
    assert [r["name"] for r in res.get_json()] == ["=甲", "乙"] and res.get_json()[0]["social_value"] == "300.00"
    res = client.get("/api/v1/referrals/top-advocates/csv", headers={**admin_headers, "Accept-Language": "zh-CN"})
    text = res.get_data(as_text=True)
    assert res.mimetype == "text/csv" and "客户" in text.splitlines()[0] and "'=甲" in text
    one = client.get(f"/api/v1/referrals/social-value/{a.id}", headers=admin_headers).get_json()
    assert (one["social_value"], one["currency"], one["referral_count"]) == ("300.00", "CNY", 1)


def test_reads_need_permission(client: Any, make_user: Any, make_customer: Any) -> None:
    _u, headers = make_user("service")
    a = make_customer("甲")
    assert client.get("/api/v1/referrals/top-advocates", headers=headers).status_code == 403
    assert client.get(f"/api/v1/referrals/social-value/{a.id}", headers=headers).status_code == 403


def test_analysis_tag_rules_name_the_social_fields(make_app: Any, make_customer: Any, refer: Any,
                                                   paid_order: Any) -> None:
    """The RFM pages' tag rules reach the fields plugins compute: the top referrer gets the tag."""
    from plugins.analysis import models as analysis_models  # noqa: F401 - its tables in the test database
    from plugins.analysis.services import tags

    app = make_app(PLUGINS=["plugins.sales", "plugins.analysis", "plugins.social"])
    ctx = app.extensions["crm"].context(source="test")
    a = make_customer("推荐达人")
    paid_order(refer(a, "新客"), "2000")
    tags.create_rule(ctx, {"name": "推荐达人", "tag": "推荐达人",
                           "conditions": {"field": "social_value", "op": "gte", "value": 1000}})
    assert tags.apply_rules(ctx) == {"推荐达人": 1}
    ctx.session.expire_all()
    assert [t.name for t in ctx.session.get(type(a), a.id).tags] == ["推荐达人"]


def test_payments_of_one_commit_refresh_every_tree_above_them(ctx: Any, make_customer: Any, refer: Any,
                                                              paid_order: Any) -> None:
    from crmcore.services.unit import unit_of_work
    from plugins.sales.services import orders

    a, x = make_customer("甲"), make_customer("乙")
    deep = refer(refer(a, "甲的客户"), "甲的二级客户")
    other = refer(x, "乙的客户")
    first, second = paid_order(deep, "400", paid=False), paid_order(other, "300", paid=False)
    from sqlalchemy import select

    from plugins.sales.models import Invoice

    with unit_of_work(ctx):  # one commit: the events arrive together
        for order in (first, second):
            invoice = ctx.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
            orders.record_payment(ctx, invoice.id, {"paid_on": "2026-03-05", "amount": str(invoice.amount_total)})
    assert value_of(ctx, a.id)["social_value"] == D("200")
    assert value_of(ctx, x.id)["social_value"] == D("300")
