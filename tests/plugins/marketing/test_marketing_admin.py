"""The marketing admin pages with the Flask test client (CSRF on): audiences with the builder's endpoints and
static members, templates with errors by part and a preview, permissions, and zh_CN labels."""
from __future__ import annotations

import io
import json
from typing import Any

import pytest

from crmcore.services import contacts
from crmcore.testing.admin import admin_login, csrf_token
from plugins.marketing.services import audiences, templates

VIP = {"field": "level", "op": "eq", "value": "VIP"}


@pytest.fixture
def manager(client: Any, make_user: Any) -> Any:
    user, _headers = make_user("manager", username="mia")
    client.user = user  # the customers they own are in their record scope
    return admin_login(client, "mia", lang="en")


def post(client: Any, url: str, data: dict[str, Any], page: str | None = None, **kw: Any) -> Any:
    token = csrf_token(client.get(page or url).text)
    return client.post(url, data={"csrf_token": token, **data}, **kw)


def test_an_audience_is_built_from_the_form_and_previewed(manager: Any, ctx: Any, make_customer: Any) -> None:
    for i in range(3):
        make_customer(f"VIP {i}", level="VIP")
    make_customer("Plain")
    other = audiences.create_audience(ctx, {"name": "Blocked"})
    r = post(manager, "/admin/marketing/audiences/new", {"name": "Big spenders", "condition": json.dumps(VIP),
                                                          "exclude": [str(other.id)]})
    assert r.status_code == 302
    saved = audiences.list_audiences(ctx)[0]
    assert saved.name == "Big spenders" and saved.condition == VIP and saved.exclude == [other.id]
    page = manager.get(r.headers["Location"]).text
    assert 'class="preview-count">3<' in page and "VIP 0" in page and "condition-builder" in page
    assert f'<option value="{other.id}" selected>Blocked</option>' in page  # exclusions by name
    listing = manager.get("/admin/marketing/audiences/").text
    assert "Big spenders" in listing and ">3<" in listing


def test_the_builder_counts_customers_and_names_bad_fields(manager: Any, make_customer: Any) -> None:
    make_customer("Wang VIP", level="VIP")
    meta = manager.get("/admin/marketing/audiences/builder/meta/customer")
    assert meta.status_code == 200 and any(f["name"] == "level" for f in meta.json["fields"])
    assert manager.get("/admin/marketing/audiences/builder/meta/ticket").status_code == 403
    token = csrf_token(manager.get("/admin/marketing/audiences/new").text)
    r = manager.post("/admin/marketing/audiences/builder/matches/customer", json={"condition": VIP, "limit": 5},
                     headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.json["count"] == 1 and r.json["sample"][0]["title"] == "Wang VIP"
    r = manager.post("/admin/marketing/audiences/builder/matches/customer",
                     json={"condition": {"field": "lavel", "op": "eq", "value": "x"}}, headers={"X-CSRFToken": token})
    assert r.status_code == 422 and "level" in json.dumps(r.json["errors"], ensure_ascii=False)
    r = manager.post("/admin/marketing/audiences/builder/matches/customer", json={"condition": VIP})
    assert r.status_code == 400  # no CSRF token


def test_bad_audience_input_is_shown_next_to_its_field(manager: Any) -> None:
    r = post(manager, "/admin/marketing/audiences/new", {"name": "x", "condition": json.dumps(
        {"field": "lavel", "op": "eq", "value": "VIP"})})
    assert r.status_code == 200
    assert 'data-field="condition"' in r.text and "level" in r.text
    assert r.text.count('name="name" value="x"') == 1  # nothing typed is lost


def test_static_members_from_pasted_codes_and_a_csv_file(manager: Any, ctx: Any, make_customer: Any) -> None:
    a, b, c = (make_customer(n) for n in ("Ann", "Bo", "Cai"))
    audience = audiences.create_audience(ctx, {"name": "List"})
    url = f"/admin/marketing/audiences/{audience.id}"
    r = post(manager, f"{url}/members", {"codes": f"{a.code}, NOPE-1\n{b.code}"}, page=url, follow_redirects=True)
    assert "2 customers added" in r.text and "NOPE-1" in r.text
    csv_file = (io.BytesIO(f"code,name\n{c.code},Cai\n{a.code},Ann\nGHOST,\n".encode()), "list.csv")
    r = post(manager, f"{url}/members", {"file": csv_file}, page=url, content_type="multipart/form-data",
             follow_redirects=True)
    assert "1 customers added, 1 were already on the list" in r.text and "GHOST" in r.text
    assert audiences.preview(ctx, audience.id)["count"] == 3
    d = make_customer("Dong")
    saved_by_excel = (io.BytesIO(f"客户编号,名称\n{d.code},东\n".encode("gb18030")), "名单.csv")  # GB18030, not UTF-8
    r = post(manager, f"{url}/members", {"file": saved_by_excel}, page=url, content_type="multipart/form-data",
             follow_redirects=True)
    assert "1 customers added" in r.text and "unknown-codes" not in r.text
    too_big = (io.BytesIO(b"code\n" + b"X" * (1024 * 1024)), "big.csv")
    r = post(manager, f"{url}/members", {"file": too_big, "codes": "NOPE-2"}, page=url,
             content_type="multipart/form-data", follow_redirects=True)
    assert "larger than 1 MB" in r.text and audiences.preview(ctx, audience.id)["count"] == 4


def test_a_template_shows_errors_by_part_and_a_preview(manager: Any, ctx: Any, make_customer: Any) -> None:
    r = post(manager, "/admin/marketing/templates/new", {"name": "Hello", "subject": "Hi {{ customer.nam }}",
                                                          "html": "<p>{% if %}</p>", "text": ""})
    assert r.status_code == 200
    assert 'data-field="subject"' in r.text and "customer.name" in r.text and 'data-field="html"' in r.text
    assert "Hi {{ customer.nam }}" in r.text  # what was typed stays
    r = post(manager, "/admin/marketing/templates/new", {"name": "Hello", "subject": "Hi {{ customer.name }}",
                                                          "html": "<p>Dear {{ contact.name }}</p><i>{{ customer.name }}</i>",
                                                          "text": "x"})
    assert r.status_code == 302
    wang = make_customer("王芳 <b>", manager.user)
    contacts.create_contact(ctx, wang.id, {"name": "李雷", "is_primary": True})
    make_customer("王芳 Other")  # outside the manager's scope: not offered
    page = manager.get(r.headers["Location"] + "?customer=王芳").text
    assert 'class="preview-subject">Hi 王芳 &lt;b&gt;<' in page
    assert "srcdoc=\"&lt;p&gt;Dear 李雷&lt;/p&gt;&lt;i&gt;王芳 &amp;lt;b&amp;gt;&lt;/i&gt;\"" in page  # the primary contact; escaped twice


def test_a_template_that_fails_for_a_customer_says_so(manager: Any, ctx: Any, make_customer: Any) -> None:
    template = templates.create_template(ctx, {"name": "Odd", "subject": "s", "text": "{{ customer.name|int // 0 }}"})
    make_customer("Zero Ltd", manager.user)
    page = manager.get(f"/admin/marketing/templates/{template.id}?customer=zero")  # any case
    assert page.status_code == 200 and "cannot be rendered for this customer" in page.text


def test_who_may_see_and_edit(app: Any, client: Any, make_user: Any, ctx: Any) -> None:
    make_user("analyst", username="ana")
    make_user("sales", username="sam")
    templates.create_template(ctx, {"name": "T", "subject": "s", "text": "t"})
    admin_login(client, "sam", lang="en")
    assert client.get("/admin/marketing/audiences/").status_code == 403
    assert client.get("/admin/marketing/consents/").status_code == 200  # sales record consents
    client = admin_login(app.test_client(), "ana", lang="en")
    page = client.get("/admin/marketing/templates/")
    assert page.status_code == 200 and "new-template" not in page.text
    shown = audiences.create_audience(ctx, {"name": "Shown"})
    page = client.get(f"/admin/marketing/audiences/{shown.id}")
    assert page.status_code == 200 and "save-audience" not in page.text  # read only
    r = post(client, "/admin/marketing/audiences/new", {"name": "Nope"}, page=f"/admin/marketing/audiences/{shown.id}")
    assert r.status_code == 403 and [a.name for a in audiences.list_audiences(ctx)] == ["Shown"]
    assert client.get("/admin/marketing/audiences/builder/meta/customer").status_code == 403
    assert client.get("/admin/marketing/consents/").status_code == 403


def test_zh_cn_labels_and_no_codes(client: Any, make_user: Any, ctx: Any) -> None:
    make_user("manager", username="zhang")
    admin_login(client, "zhang", lang="zh-CN")
    templates.create_template(ctx, {"name": "模板", "subject": "s", "text": "t"})
    menu = client.get("/admin/marketing/templates/").text
    assert "营销" in menu and "受众" in menu and "邮箱" in menu and ">email<" not in menu
    assert "消息模板" in menu


def test_the_audit_log_and_the_role_form_show_marketing_in_words(client: Any, make_user: Any, ctx: Any) -> None:
    """Record types, actions, coded values and conditions of marketing records in the reader's words, and the
    plugin's permission family under the plugin's name; the template form says what each variable gives."""
    from plugins.marketing.services import campaigns, languages

    make_user("admin", username="root")
    admin_login(client, "root", lang="zh-CN")
    template = templates.create_template(ctx, {"name": "模板", "subject": "s", "html": "<p>h</p>"})
    languages.set_translation(ctx, template.id, "en", {"subject": "Hello", "text": "Hi"})
    audience = audiences.create_audience(ctx, {"name": "贵宾", "condition": VIP})
    campaigns.create_campaign(ctx, {"name": "活动", "audience_id": audience.id, "template_id": template.id,
                                    "purpose": "marketing", "ab_metric": "opened"})
    log = client.get("/admin/audit_log/").text
    for words in ("营销受众", "消息模板", "营销活动", "已保存翻译", "HTML 正文", "（已设置，详见该条记录）", "<ins>营销</ins>"):
        assert words in log, words
    for code in (">marketing_template<", ">marketing_campaign<", ">marketing_audience<", ">translated<", ">Html<",
                 "<ins>marketing<", "&#34;field&#34;"):
        assert code not in log, code  # (the filters' hidden data keeps the codes: the values they send)
    roles = client.get("/admin/role/new/").text
    assert "全部：营销" in roles and "全部：marketing" not in roles
    form = client.get(f"/admin/marketing/templates/{template.id}").text
    assert "<code>customer.name</code>: 客户名称" in form and "{{ 和 }}" in form


def test_translations_are_rows_of_the_template_form(manager: Any, ctx: Any) -> None:
    """A translation per language on the template's own form: the language picked by name, checked with the
    template before anything is saved (the typed text stays), changed and removed there."""
    from plugins.marketing.services import languages

    base = {"name": "Spring", "subject": "Hello {{ contact.name }}", "text": "Hi", "html": ""}
    new_row = {"tr-count": "1", "tr-0-new": "1", "tr-0-language": "zh_CN", "tr-0-subject": "{{ contact.nam }}，您好",
               "tr-0-html": "", "tr-0-text": "春季新品"}
    page = manager.get("/admin/marketing/templates/new").text
    assert '<option value="zh_CN">Chinese (Simplified, China)</option>' in page and 'name="tr-0-language"' in page
    r = post(manager, "/admin/marketing/templates/new", {**base, **new_row})
    assert r.status_code == 200 and 'data-field="tr-0-subject"' in r.text and "contact.name" in r.text
    assert "{{ contact.nam }}，您好" in r.text and "春季新品" in r.text  # what was typed stays
    assert templates.list_templates(ctx) == []  # nothing saved, not even the template
    r = post(manager, "/admin/marketing/templates/new", {**base, **new_row, "tr-0-subject": "{{ contact.name }}，您好"})
    assert r.status_code == 302
    template = templates.list_templates(ctx)[0]
    saved = languages.translations(ctx, template.id)
    assert [(t.language, t.subject, t.text) for t in saved] == [("zh_CN", "{{ contact.name }}，您好", "春季新品")]
    page = manager.get(r.headers["Location"]).text
    assert '<h4 class="h6 translation-language">Chinese (Simplified, China)</h4>' in page
    assert '<option value="zh_CN">' not in page  # a language the template has is not offered again
    url = r.headers["Location"]
    kept = {"tr-0-language": "zh_CN", "tr-0-subject": "新的主题", "tr-0-html": "", "tr-0-text": "春季新品"}
    r = post(manager, url, {**base, "tr-count": "2", **kept, "tr-1-new": "1", "tr-1-language": "",
                            "tr-1-subject": "Hi", "tr-1-text": "x"})
    assert r.status_code == 200 and 'data-field="tr-1-language"' in r.text  # a new row needs its language
    r = post(manager, url, {**base, "tr-count": "2", **kept, "tr-1-new": "1", "tr-1-language": "ja",
                            "tr-1-subject": "こんにちは", "tr-1-text": "春"})
    assert r.status_code == 302
    ctx.session.expire_all()  # the rows were written by the page's own session
    assert {t.language: t.subject for t in languages.translations(ctx, template.id)} == {"zh_CN": "新的主题", "ja": "こんにちは"}
    r = post(manager, url, {**base, "tr-count": "2", **kept, "tr-0-remove": "1", "tr-1-language": "ja",
                            "tr-1-subject": "こんにちは", "tr-1-text": "春"})
    ctx.session.expire_all()
    assert r.status_code == 302 and [t.language for t in languages.translations(ctx, template.id)] == ["ja"]
