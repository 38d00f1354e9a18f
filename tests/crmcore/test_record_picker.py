"""The condition builders' record picker: records found by name (the customer search: pinyin, code) or number under
the reader's read permission and record rules, deleted ones left out, names of ids, bad input refused with a 4xx."""
from __future__ import annotations

from typing import Any

import pytest

from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as customer_svc
from crmcore.services import record_picker
from crmcore.testing import admin_login

URL = "/admin/record_picker/"


@pytest.fixture
def people(rt: Any, ctx: Any, make_user: Any, make_customer: Any) -> dict[str, Any]:
    rita, _ = make_user("sales", username="rita")
    sam, _ = make_user("sales", username="sam")
    ours = make_customer("上海明华贸易有限公司", rita, code="MH001")
    theirs = make_customer("上海明光电子", sam)
    gone = make_customer("上海明星影业", rita)
    customer_svc.delete_customer(ctx, gone.id)
    contact_svc.create_contact(ctx, ours.id, {"name": "Wang Lei"})
    contact_svc.create_contact(ctx, theirs.id, {"name": "Wang Fang"})
    return {"rita": rita, "sam": sam, "ours": ours.id, "theirs": theirs.id, "gone": gone.id}


def names(records: list[dict[str, Any]]) -> list[str]:
    return [r["label"] for r in records]


def test_a_rep_finds_only_own_live_customers_by_name_pinyin_code_or_number(rt: Any, people: dict[str, Any]) -> None:
    rep = rt.context(actor=people["rita"])
    assert names(record_picker.search(rep, "customer", "明")) == ["上海明华贸易有限公司"]  # not Sam's, not deleted
    assert names(record_picker.search(rep, "customer", "minghua")) == ["上海明华贸易有限公司"]
    assert names(record_picker.search(rep, "customer", "mh001")) == ["上海明华贸易有限公司"]
    assert record_picker.search(rep, "customer", str(people["ours"])) == [
        {"value": people["ours"], "label": "上海明华贸易有限公司"}]
    assert record_picker.search(rep, "customer", str(people["theirs"])) == []
    assert record_picker.search(rep, "customer", str(people["gone"])) == []
    assert record_picker.search(rep, "customer", "  ") == []
    for big in ("99999999999", "9" * 18, "9" * 30, "１２"):  # past int4, past any id, full-width digits
        assert record_picker.search(rep, "customer", big) == []
    admin = rt.context()
    assert sorted(names(record_picker.search(admin, "customer", "上海明"))) == ["上海明光电子", "上海明华贸易有限公司"]


def test_other_entities_by_title_under_their_parent_record_rule(rt: Any, people: dict[str, Any]) -> None:
    rep = rt.context(actor=people["rita"])
    assert names(record_picker.search(rep, "contact", "wang")) == ["Wang Lei"]
    assert names(record_picker.search(rt.context(), "contact", "WANG")) == ["Wang Fang", "Wang Lei"]
    assert record_picker.search(rt.context(), "contact", "100%_") == []  # wildcards are plain characters


def test_labels_of_ids_in_the_order_asked_only_those_the_reader_may_see(rt: Any, people: dict[str, Any]) -> None:
    ids = f"{people['theirs']},{people['ours']},{people['gone']},999999"
    assert record_picker.labels(rt.context(), "customer", ids) == [
        {"value": people["theirs"], "label": "上海明光电子"}, {"value": people["ours"], "label": "上海明华贸易有限公司"}]
    assert names(record_picker.labels(rt.context(actor=people["rita"]), "customer", ids)) == ["上海明华贸易有限公司"]
    assert record_picker.labels(rt.context(), "customer", [people["ours"]])[0]["value"] == people["ours"]
    assert record_picker.labels(rt.context(), "customer", "") == []
    assert record_picker.labels(rt.context(), "customer", f"{2 ** 31},{2 ** 63 - 1},{people['ours']}") == [
        {"value": people["ours"], "label": "上海明华贸易有限公司"}]  # numbers past the column: no record, no error


@pytest.mark.parametrize("ids", ["1,x", "-1", "1.5", "²", "9" * 20, ",".join(["1"] * 51), {"a": 1}, None])
def test_bad_ids_are_refused(rt: Any, ctx: Any, ids: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        record_picker.labels(ctx, "customer", ids)
    assert "ids" in caught.value.errors


def test_long_searches_unknown_and_unreadable_entities_are_refused(rt: Any, ctx: Any, make_user: Any) -> None:
    with pytest.raises(ValidationError):
        record_picker.search(ctx, "customer", "x" * 201)
    with pytest.raises(NotFound):
        record_picker.search(ctx, "nothing", "x")
    rep, _ = make_user("sales", username="nora")  # users are read with user.manage, which a rep lacks
    with pytest.raises(PermissionDenied):
        record_picker.search(rt.context(actor=rep), "user", "x")
    with pytest.raises(PermissionDenied):
        record_picker.labels(rt.context(actor=rep), "user", "1")


def test_the_endpoint_needs_login_and_answers_json_with_4xx_for_bad_input(app: Any, rt: Any,
                                                                           people: dict[str, Any]) -> None:
    client = app.test_client()
    assert client.get(URL + "?entity=customer&q=明").status_code in (302, 401, 403)
    admin_login(client, "rita", "password123")
    r = client.get(URL, query_string={"entity": "customer", "q": "明"})
    assert r.status_code == 200 and r.json == {"records": [{"value": people["ours"], "label": "上海明华贸易有限公司"}]}
    r = client.get(URL, query_string={"entity": "customer", "ids": f"{people['ours']},{people['theirs']}"})
    assert r.status_code == 200 and names(r.json["records"]) == ["上海明华贸易有限公司"]
    for query, status in [({"entity": "customer", "q": "x" * 500}, 422), ({"entity": "customer", "ids": "1,a"}, 422),
                          ({"entity": "customer", "ids": "1" * 400}, 422), ({"entity": "zzz", "q": "a"}, 404),
                          ({"q": "a"}, 404), ({"entity": "customer", "q": "\x00'\"<script>"}, 422), ({"entity": "customer", "q": "'\"<b>"}, 200),
                          ({"entity": "user", "q": "a"}, 403), ({"entity": "user", "ids": "1"}, 403)]:
        r = client.get(URL, query_string=query)
        assert r.status_code == status, (query, r.status_code)
        assert r.is_json


def test_a_related_field_one_hop_away_says_which_records_it_points_to(ctx: Any) -> None:
    """``customer.owner_id`` of a contact holds a user: the builder offers people by name, not a number box."""
    from crmcore.services import condition_fields

    fields = {f["name"]: f for f in condition_fields.describe(ctx, "contact")["fields"]}
    assert fields["customer_id"]["related"] == "customer"
    assert fields["customer.owner_id"]["related"] == "user" and fields["customer.name"]["related"] is None
    from crmcore.admin import policy_form  # a reviewer is a person in a field of the record itself, not one hop away

    offered = [value for _label, options in policy_form.reviewer_options(ctx, "contact") for value, _ in options]
    assert not any("." in value for value in offered), offered


def test_the_admin_customer_search_says_a_nul_is_not_searchable(app: Any, make_user: Any, make_customer: Any) -> None:
    """The same text the picker refuses once gave the customer list a server error (SQLite's full-text match)."""
    boss, _ = make_user("admin", username="boss")
    make_customer("上海明华", boss)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    admin_login(client, "boss", "password123")
    for term in ("明华\x00", "\x00'\"<script>"):
        r = client.get("/admin/customer/", query_string={"search": term})
        assert r.status_code == 200 and "搜索内容无效" in r.text and "上海明华" not in r.text
    assert "上海明华" in client.get("/admin/customer/", query_string={"search": "明华"}).text
