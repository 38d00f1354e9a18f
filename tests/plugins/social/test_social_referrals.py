"""Referral codes, who referred whom from every path (API lead and customer, public lead form via /r/<code>,
record_referral), a lead's referrer kept on qualification, the tree, no cycle, refusals in words."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crmcore.errors import Conflict, ValidationError
from plugins.social.models import Referral
from plugins.social.services.codes import ALPHABET, LENGTH, code_for
from plugins.social.services.referrals import record_referral
from plugins.social.services.tree import referral_tree


def referral_of(ctx: Any, customer_id: int) -> Referral | None:
    return ctx.session.scalar(select(Referral).where(Referral.referee_customer_id == customer_id))


def test_codes_are_short_unguessable_unique_and_stable(ctx: Any, make_customer: Any) -> None:
    a, b = make_customer("甲"), make_customer("乙")
    ca, cb = code_for(ctx, customer_id=a.id), code_for(ctx, customer_id=b.id)
    assert ca.code != cb.code and len(ca.code) == LENGTH and set(ca.code) <= set(ALPHABET)
    assert code_for(ctx, customer_id=a.id).code == ca.code  # one active code per customer


def test_customer_created_with_a_code_records_its_referrer(ctx: Any, make_customer: Any, refer: Any) -> None:
    a = make_customer("老客户")
    b = refer(a, "新客户")
    ref = referral_of(ctx, b.id)
    assert ref is not None and ref.referrer_customer_id == a.id and ref.source == "api"


def test_unknown_code_on_api_create_is_a_field_error_and_nothing_is_stored(client: Any, admin_headers: Any,
                                                                            ctx: Any) -> None:
    from crmcore.models import Customer

    res = client.post("/api/v1/customers", json={"name": "无码", "referral_code": "zzzzzzzzzz"}, headers=admin_headers)
    assert res.status_code == 422 and "referral_code" in res.get_json()["errors"]
    assert ctx.session.scalar(select(Customer).where(Customer.name == "无码")) is None
    res = client.post("/api/v1/sales/leads", json={"name": "无码线索", "phone": "13800138000",
                                                   "referral_code": "not a code"}, headers=admin_headers)
    assert res.status_code == 422 and "referral_code" in res.get_json()["errors"]


def test_lead_from_api_keeps_its_referrer_when_qualified(ctx: Any, client: Any, admin_headers: Any,
                                                        make_customer: Any) -> None:
    from plugins.sales.services.leads import qualify_lead

    a = make_customer("推荐人")
    code = code_for(ctx, customer_id=a.id).code
    res = client.post("/api/v1/sales/leads", json={"name": "线索人", "phone": "13900139000",
                                                   "referral_code": code.upper()}, headers=admin_headers)
    assert res.status_code == 201, res.get_json()
    lead_id = res.get_json()["id"]
    ref = ctx.session.scalar(select(Referral).where(Referral.lead_id == lead_id))
    assert ref is not None and ref.referrer_customer_id == a.id and ref.referee_customer_id is None
    result = qualify_lead(ctx, lead_id, {"create_opportunity": False})
    ctx.session.expire_all()
    assert referral_of(ctx, result["customer_id"]).id == ref.id


def test_referral_link_lands_on_the_lead_form_and_the_lead_keeps_the_code(ctx: Any, client: Any,
                                                                          make_customer: Any) -> None:
    from plugins.sales.services import lead_forms

    form = lead_forms.create_form(ctx, {"name": "官网", "title": "联系我们", "asked": [{"field": "phone", "required": True}]})
    a = make_customer("分享者")
    code = code_for(ctx, customer_id=a.id).code
    res = client.get(f"/r/{code}")
    assert res.status_code == 302 and f"/sales/forms/{form.key}" in res.headers["Location"]
    page = client.get(res.headers["Location"])
    assert f'name="ref" value="{code}"' in page.get_data(as_text=True)
    res = client.post(f"/sales/forms/{form.key}", data={"name": "访客", "phone": "13700137000", "ref": code})
    assert res.status_code == 303
    ref = ctx.session.scalar(select(Referral).where(Referral.referrer_customer_id == a.id))
    assert ref is not None and ref.lead_id is not None and ref.source == "form" and ref.device
    # the cookie keeps the code when the visitor comes back to the form without ?ref=
    res = client.post(f"/sales/forms/{form.key}", data={"name": "回访者", "phone": "13700137001"})
    assert res.status_code == 303
    assert len(list(ctx.session.scalars(select(Referral).where(Referral.referrer_customer_id == a.id)))) == 2


def test_unknown_link_is_404_and_an_unknown_code_on_the_form_keeps_the_lead(ctx: Any, client: Any) -> None:
    from plugins.sales.models import Lead
    from plugins.sales.services import lead_forms

    form = lead_forms.create_form(ctx, {"name": "官网", "title": "联系我们", "asked": [{"field": "phone"}]})
    assert client.get("/r/nosuchcode2").status_code == 404
    assert client.get("/r/<script>").status_code == 404
    res = client.post(f"/sales/forms/{form.key}", data={"name": "访客乙", "phone": "13700137002", "ref": "zzzzzzzzzz"})
    assert res.status_code == 303
    assert ctx.session.scalar(select(Lead).where(Lead.name == "访客乙")) is not None
    assert ctx.session.scalar(select(Referral)) is None


def test_referral_link_is_rate_limited(make_app: Any, ctx: Any, make_customer: Any) -> None:
    app = make_app(PLUGINS=["plugins.sales", "plugins.social"], SOCIAL_LINK_RATE_LIMIT=2)
    client = app.test_client()
    a = make_customer("限流")
    code = code_for(ctx, customer_id=a.id).code
    answers = [client.get(f"/r/{code}").status_code for _i in range(3)]
    assert answers[:2] == [404, 404] and answers[2] == 429  # no active form: 404; then refused


def test_a_customer_keeps_the_first_referrer(ctx: Any, make_customer: Any, refer: Any) -> None:
    a, b = make_customer("甲"), make_customer("乙")
    c = refer(a, "丙")
    again = record_referral(ctx, code_for(ctx, customer_id=b.id).code, customer_id=c.id)
    assert again.referrer_customer_id == a.id


def test_self_referral_and_cycles_are_refused(ctx: Any, make_customer: Any, refer: Any) -> None:
    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    with pytest.raises(ValidationError):
        record_referral(ctx, code_for(ctx, customer_id=a.id).code, customer_id=a.id)
    with pytest.raises(Conflict):  # a was not referred yet; c is below a: a referred by c makes a circle
        record_referral(ctx, code_for(ctx, customer_id=c.id).code, customer_id=a.id)
    assert referral_of(ctx, a.id) is None


def test_tree_ancestors_and_descendants_depth_limited(ctx: Any, make_customer: Any, refer: Any) -> None:
    a = make_customer("一")
    b = refer(a, "二")
    c = refer(b, "三")
    d = refer(c, "四")
    e = refer(b, "五")
    tree = referral_tree(ctx, b.id)
    assert [n["id"] for n in tree["ancestors"]] == [a.id]
    assert {(n["id"], n["parent_id"], n["depth"]) for n in tree["descendants"]} == {
        (c.id, b.id, 1), (e.id, b.id, 1), (d.id, c.id, 2)}
    assert [n["id"] for n in referral_tree(ctx, b.id, depth=1)["descendants"]] == sorted([c.id, e.id])
    assert [n["name"] for n in referral_tree(ctx, d.id)["ancestors"]] == ["三", "二", "一"]


def test_tree_api_hides_names_outside_the_reps_scope(ctx: Any, client: Any, make_user: Any,
                                                     make_customer: Any, refer: Any) -> None:
    rep, headers = make_user("sales")
    a = make_customer("别人的客户")
    b = refer(a, "我的客户", owner_id=rep.id)
    res = client.get(f"/api/v1/referrals/tree/{b.id}", headers=headers)
    assert res.status_code == 200
    assert res.get_json()["ancestors"] == [{"id": a.id, "name": None, "visible": False, "depth": 1, "parent_id": None}]
    assert client.get(f"/api/v1/referrals/tree/{a.id}", headers=headers).status_code == 403
    assert client.get(f"/api/v1/referrals/tree/{b.id}").status_code == 401


def test_channels_scene_hook_records_the_referral_and_drops_a_bad_code(ctx: Any, make_customer: Any) -> None:
    """``crm_channel_scene`` (the channels plugin's hook, called by its inbound pipeline) with a WeChat scan."""
    from types import SimpleNamespace

    import plugins.social as social

    a, follower, other = make_customer("分享者"), make_customer("粉丝"), make_customer("另一位粉丝")
    code = code_for(ctx, customer_id=a.id).code
    social.crm_channel_scene(ctx, SimpleNamespace(scene=f"ref_{code}"), follower, None)
    social.crm_channel_scene(ctx, SimpleNamespace(scene="ref_zzzzzzzzzz"), other, None)  # unknown: nothing, no error
    social.crm_channel_scene(ctx, SimpleNamespace(scene="menu_1"), other, None)
    social.crm_channel_scene(ctx, SimpleNamespace(scene=f"ref_{code}"), None, None)  # not matched yet: nothing
    ctx.session.commit()
    assert referral_of(ctx, follower.id).source == "wechat"
    assert referral_of(ctx, other.id) is None


def test_a_qualified_lead_whose_customer_was_referred_keeps_that_referral(ctx: Any, make_customer: Any,
                                                                           refer: Any) -> None:
    from plugins.sales.services.leads import create_lead, qualify_lead

    a, b = make_customer("甲"), make_customer("乙")
    c = refer(a, "丙", phone="13512345678")
    lead = create_lead(ctx, {"name": "丙", "phone": "13512345678"})
    assert qualify_lead(ctx, lead.id, {"create_opportunity": False})["customer_id"] == c.id
    again = record_referral(ctx, code_for(ctx, customer_id=b.id).code, lead_id=lead.id)
    assert again.referrer_customer_id == a.id  # no second referral of the customer (and no server error)
