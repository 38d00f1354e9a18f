"""The tag rule form without JSON to type: conditions in the condition builder (the customer fields a tag rule may
name, segments by name, words in the reader's language); a bad condition is refused by the one condition validator,
on the field, in the reader's language, with nothing lost."""
from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.testing.admin import admin_login, post_form
from plugins.analysis.models import TagRule
from plugins.analysis.services import tags
from plugins.analysis.services.segments import ensure_segments, segment_labels

NEW = "/admin/analysis/tag-rule/new/"
META = "/admin/analysis/tag-rule/builder/meta/customer"


@pytest.fixture
def manager(client: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" id="{name}" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden input {name}"
    return html.unescape(match.group(1))


def _visible_text(page: str) -> str:
    page = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_form_has_the_builder_and_no_json(client: Any, manager: None) -> None:
    page = client.get(NEW).text
    assert 'class="condition-builder tag-rule-conditions"' in page and 'data-advanced="off"' in page
    assert 'data-entity="customer"' in page and "condition-builder.js" in page
    assert "<textarea" not in page
    assert "JSON" not in _visible_text(page) and "JSON" not in page.split("condition-builder-text")[0]
    assert "Customers who get the tag" in _visible_text(page)


def test_the_builder_offers_the_tag_rule_fields_in_words(client: Any, manager: None, ctx: Any) -> None:
    ensure_segments(ctx)
    ctx.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    meta = client.get(META).json
    fields = {f["name"]: f for f in meta["fields"]}
    accepted = tags.condition_fields(tags.metrics_select(ctx).c, tags.plugin_kinds(ctx))
    assert set(fields) == set(accepted)  # what the tag rule's validation accepts, no more
    assert all(f["label"] != f["name"] for f in fields.values()), fields
    assert fields["recency_days"]["label"] == "距上次购买天数" and fields["clv"]["type"] == "num"
    segments = {c["value"]: c["label"] for c in fields["segment"]["choices"]}
    assert set(segments) == set(segment_labels(ctx)) and segments["champions"] == "冠军客户"  # by name, in words
    assert meta["operators"]["num"][0] == "eq"
    r = client.get("/admin/analysis/tag-rule/builder/meta/nothing")
    assert r.status_code == 404 and r.json["message"]


def test_the_builder_needs_the_right_to_write_tag_rules(client: Any, make_user: Any) -> None:
    make_user("analyst", username="ana")  # reads the analyses, may not write a tag rule
    admin_login(client, "ana", lang="en")
    assert client.get(META).status_code in (302, 403)


def test_a_tag_rule_is_created_and_edited_through_the_form(client: Any, manager: None, ctx: Any) -> None:
    condition = {"all": [{"field": "frequency", "op": "gte", "value": 3}, {"field": "clv", "op": "gt", "value": 500}]}
    r = post_form(client, NEW, {"name": "Loyal", "tag": "loyal", "conditions": json.dumps(condition), "active": "y"})
    assert r.status_code == 302, _visible_text(r.text)[:2000]
    ctx.session.expire_all()
    rule = ctx.session.scalar(select(TagRule).where(TagRule.name == "Loyal"))
    assert (rule.tag, rule.conditions, rule.active) == ("loyal", condition, True)
    page = client.get(f"/admin/analysis/tag-rule/edit/?id={rule.id}").text
    assert json.loads(_hidden(page, "conditions")) == condition and "<textarea" not in page
    smaller = {"field": "churn_score", "op": "lt", "value": 0.5}
    r = post_form(client, f"/admin/analysis/tag-rule/edit/?id={rule.id}",
                  {"name": "Loyal", "tag": "loyal", "conditions": json.dumps(smaller)})
    assert r.status_code == 302, _visible_text(r.text)[:2000]
    ctx.session.expire_all()
    rule = ctx.session.get(TagRule, rule.id)
    assert (rule.conditions, rule.active) == (smaller, False)


def test_a_bad_condition_is_refused_on_the_field_in_the_readers_language(client: Any, manager: None, rt: Any) -> None:
    bad = {"all": [{"field": "frequency", "op": "gte", "value": 3}, {"field": "clv", "op": "gte", "value": "lots"}]}
    data = {"name": "带错的规则", "tag": "typo_tag", "conditions": json.dumps(bad), "active": "y"}
    for lang, words in (("en", "Condition 2: Must be a number."), ("zh-CN", "条件 2：必须是数字。")):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        page = post_form(client, NEW, data)
        assert page.status_code == 200
        text = _visible_text(page.text)
        assert words in text, text[:3000]
        assert json.loads(_hidden(page.text, "conditions")) == bad  # nothing lost
        assert 'value="typo_tag"' in page.text and 'value="带错的规则"' in page.text
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = post_form(client, NEW, {**data, "conditions": json.dumps({"field": "nope", "op": "eq", "value": 1})})
    assert page.status_code == 200 and "nope" in _visible_text(page.text)
    page = post_form(client, NEW, {**data, "conditions": "{broken"})
    assert page.status_code == 200 and _hidden(page.text, "conditions") == "{broken"
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(TagRule)) == 0
