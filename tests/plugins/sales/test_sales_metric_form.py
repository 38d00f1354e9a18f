"""The custom metric form without JSON to type: conditions in the condition builder (the fields a metric may name,
records by name, words in the reader's language), the number field and the sharing picked by name; a bad condition
is refused by the one condition validator, on the field, in the reader's language, with nothing lost."""
from __future__ import annotations

import html
import json
import re
from typing import Any

from sqlalchemy import func, select

from crmcore.models import Role
from crmcore.testing.admin import post_form
from plugins.sales.models import Metric, Stage
from plugins.sales.services.metric_entities import ENTITIES

NEW = "/admin/sales/metric/new/"


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" id="{name}" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden input {name}"
    return html.unescape(match.group(1))


def _visible_text(page: str) -> str:
    """The page's words a reader sees: no tags, no scripts, no attribute values."""
    page = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_form_has_the_builder_and_no_json(client: Any, boss: dict[str, str]) -> None:
    page = client.get(NEW).text
    assert 'class="condition-builder metric-conditions"' in page and 'data-advanced="off"' in page
    assert 'data-entity-from="#entity"' in page and "condition-builder.js" in page
    assert "<textarea" not in page.split('id="description"')[1]  # the description is the one text area
    assert "JSON" not in _visible_text(page) and "JSON" not in page.split("condition-builder-text")[0]
    # the field to sum and the sharing are picked by name
    assert '<optgroup label="Orders">' in page and re.search(r'<select[^>]*id="share_roles"', page)
    assert re.search(r'<select[^>]*id="share_users"', page) and re.search(r'<select[^>]*id="field"', page)
    numbers = re.search(r'<select[^>]*id="field".*?</select>', page, re.S).group(0)
    options = re.findall(r'<option[^>]*value="(\w+)"[^>]*>([^<]*)<', numbers)
    assert ("amount", "Amount") in options and all(value != label for value, label in options), options


def test_the_builder_offers_the_metric_fields_with_records_by_name(client: Any, boss: dict[str, str], ctx: Any,
                                                                   make_customer: Any, make_user: Any) -> None:
    rep, _ = make_user("sales", username="rep_a")
    make_customer("阿尔法公司", rep)
    ctx.session.add_all([Stage(name="初步接触", sequence=10), Stage(name="谈判", sequence=20)])
    ctx.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    meta = client.get("/admin/sales/metric/builder/meta/opportunity").json
    fields = {f["name"]: f for f in meta["fields"]}
    assert set(fields) == set(ENTITIES["opportunity"].fields)  # what the metric's validation accepts, no more
    stages = {c["label"] for c in fields["stage_id"]["choices"]}
    assert stages == {"初步接触", "谈判"}
    assert "阿尔法公司" in {c["label"] for c in fields["customer_id"]["choices"]}
    assert fields["owner_id"]["related"] == "user" and "rep_a" in {u["label"] for u in meta["users"]}
    assert fields["amount"]["type"] == "money" and meta["operators"]["money"][0] == "eq"
    assert fields["stage_id"]["label"] != "stage_id"  # a word, not the column
    for entity in ENTITIES:  # every field in words, also of expenses (no entity metadata of their own)
        offered = client.get(f"/admin/sales/metric/builder/meta/{entity}").json["fields"]
        assert all(f["label"] != f["name"] for f in offered), [f for f in offered if f["label"] == f["name"]]
    # a record type a metric cannot count: a clear refusal, not a page error
    r = client.get("/admin/sales/metric/builder/meta/nothing")
    assert r.status_code == 404 and r.json["message"]


def test_a_metric_is_created_and_edited_through_the_form(client: Any, boss: dict[str, str], ctx: Any,
                                                         make_user: Any) -> None:
    rep, _ = make_user("sales", username="rep_b")
    sales = ctx.session.scalar(select(Role).where(Role.name == "sales"))
    condition = {"all": [{"field": "status", "op": "eq", "value": "won"}, {"field": "amount", "op": "gte", "value": 100}]}
    r = post_form(client, NEW, {"name": "big_wins", "label": "Big wins", "entity": "opportunity",
                                "conditions": json.dumps(condition), "aggregate": "sum", "field": "amount",
                                "share_roles": [str(sales.id)], "share_users": [str(rep.id)]})
    assert r.status_code == 302, _visible_text(r.text)[:2000]
    ctx.session.expire_all()
    metric = ctx.session.scalar(select(Metric).where(Metric.name == "big_wins"))
    assert (metric.conditions, metric.aggregate, metric.field) == (condition, "sum", "amount")
    assert {(s.role_id, s.user_id) for s in metric.shares} == {(sales.id, None), (None, rep.id)}
    # the edit form shows it back: the condition in the builder's input, the field and the sharing selected
    page = client.get(f"/admin/sales/metric/edit/?id={metric.id}").text
    assert json.loads(_hidden(page, "conditions")) == condition
    assert re.search(r'<option selected value="amount">|<option value="amount" selected', page)
    assert re.search(rf'<option selected value="{rep.id}">|<option value="{rep.id}" selected', page)
    smaller = {"field": "amount", "op": "lt", "value": 50}
    r = post_form(client, f"/admin/sales/metric/edit/?id={metric.id}", {
        "name": "big_wins", "label": "Big wins", "entity": "opportunity", "conditions": json.dumps(smaller),
        "aggregate": "count", "field": "", "share_roles": [str(sales.id)]})
    assert r.status_code == 302, _visible_text(r.text)[:2000]
    ctx.session.expire_all()
    metric = ctx.session.get(Metric, metric.id)
    assert (metric.conditions, metric.aggregate, metric.field) == (smaller, "count", None)
    assert {(s.role_id, s.user_id) for s in metric.shares} == {(sales.id, None)}


def test_a_bad_condition_is_refused_on_the_field_in_the_readers_language(client: Any, boss: dict[str, str],
                                                                        ctx: Any, rt: Any) -> None:
    bad = {"all": [{"field": "status", "op": "eq", "value": "won"}, {"field": "amount", "op": "gte", "value": "lots"}]}
    data = {"name": "typo_metric", "label": "带错的指标", "entity": "opportunity", "conditions": json.dumps(bad),
            "aggregate": "count", "field": ""}
    for lang, words in (("en", "Condition 2: Must be a number."), ("zh-CN", "条件 2：必须是数字。")):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        page = post_form(client, NEW, data)
        assert page.status_code == 200
        text = _visible_text(page.text)
        assert words in text, text[:3000]
        # nothing lost: what was typed and picked is on the form again
        assert json.loads(_hidden(page.text, "conditions")) == bad
        assert 'value="typo_metric"' in page.text and 'value="带错的指标"' in page.text
    # a field the metric's records do not have: named in the message
    page = post_form(client, NEW, {**data, "conditions": json.dumps({"field": "nope", "op": "eq", "value": 1})})
    assert page.status_code == 200 and "nope" in _visible_text(page.text)
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Metric)) == 0
