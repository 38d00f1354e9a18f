"""Lead forms set up in the admin: the marketer's form (no JSON), the public page and its plain HTML post,
the thank-you page, consent kept on the lead, spam guards, the company's name and logo, escaping."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.branding import safe_logo_url
from crmcore.testing.admin import admin_login, csrf_token
from plugins.sales.models import Lead
from plugins.sales.services import lead_forms
from plugins.sales.webform_models import LeadForm


def leads(ctx: Any) -> list[Lead]:
    ctx.session.expire_all()
    return list(ctx.session.scalars(select(Lead).order_by(Lead.id)))


@pytest.fixture
def form(ctx: Any) -> LeadForm:
    return lead_forms.create_form(ctx, {
        "name": "Spring fair", "title": "Ask for a catalogue", "intro": "We answer within a day.",
        "asked": [{"field": "phone", "required": True}, {"field": "company", "required": False},
                  {"field": "message", "required": False}],
        "consent_text": "I agree that the company may contact me about its products.",
        "thank_you_title": "Thanks!", "thank_you_text": "Our sales team will call you.", "campaign": "Spring fair 2026"})


def test_the_public_page_asks_what_the_marketer_ticked(client: Any, form: LeadForm) -> None:
    page = client.get(f"/sales/forms/{form.key}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    html = page.text
    assert "Ask for a catalogue" in html and "We answer within a day." in html
    assert 'name="phone"' in html and 'name="company"' in html and 'name="message"' in html
    assert 'name="email"' not in html and 'name="wechat"' not in html
    assert 'name="consent"' in html and 'name="website_url"' in html  # consent box and honeypot
    assert "您的姓名" in html  # the visitor's language
    assert 'name="viewport"' in html  # readable on a phone
    assert client.get("/sales/forms/not-a-key").status_code == 404


def test_a_plain_html_post_lands_on_the_thank_you_page_and_keeps_the_consent(client: Any, ctx: Any,
                                                                              form: LeadForm) -> None:
    r = client.post(f"/sales/forms/{form.key}", data={"name": "王芳", "phone": "13800001111", "company": "芳华贸易",
                                                      "message": "Please send prices", "consent": "1",
                                                      "email": "not-asked@example.com"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/sales/forms/{form.key}/thanks")
    thanks = client.get(r.headers["Location"])
    assert thanks.status_code == 200 and "Thanks!" in thanks.text and "Our sales team will call you." in thanks.text
    (lead,) = leads(ctx)
    assert (lead.name, lead.contact_name, lead.phone, lead.company, lead.campaign, lead.source_channel) == (
        "王芳", "王芳", "13800001111", "芳华贸易", "Spring fair 2026", "web")
    assert lead.email is None  # a field the form does not ask is not taken
    assert lead.data["consent"]["text"] == form.consent_text and lead.data["consent"]["at"]
    assert lead.data["lead_form"]["name"] == "Spring fair"
    assert ctx.session.scalar(select(LeadForm.submissions).where(LeadForm.key == form.key)) == 1


def test_missing_fields_and_consent_show_the_form_again_with_each_field_marked(client: Any, ctx: Any,
                                                                               form: LeadForm) -> None:
    r = client.post(f"/sales/forms/{form.key}", data={"name": "", "company": "Keep me"},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.mimetype == "text/html"
    assert r.text.count("Please fill in this field.") == 2  # name and phone
    assert "Please accept to go on." in r.text
    assert 'value="Keep me"' in r.text  # nothing typed is lost
    # the lead's own rules answer by field too (an over-long phone number)
    r = client.post(f"/sales/forms/{form.key}", data={"name": "A", "phone": "1" * 300, "consent": "1"})
    assert r.status_code == 422 and 'name="phone"' in r.text and "error" in r.text
    assert leads(ctx) == []
    # a form whose ways to reach are optional still needs one of them
    optional = lead_forms.create_form(ctx, {"name": "Optional", "title": "t", "asked": [
        {"field": "email"}, {"field": "wechat"}]})
    r = client.post(f"/sales/forms/{optional.key}", data={"name": "A"}, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "Give at least one way to reach you." in r.text
    # JSON callers get JSON
    r = client.post(f"/sales/forms/{form.key}", json={"name": "A", "consent": True})
    assert r.status_code == 422 and set(r.json["errors"]) == {"phone"}
    r = client.post(f"/sales/forms/{form.key}", json={"name": "A", "phone": "13900000000", "consent": True})
    assert r.status_code == 201 and len(leads(ctx)) == 1


def test_spam_guards(make_app: Any, ctx: Any, form: LeadForm) -> None:
    app = make_app(PLUGINS=["plugins.sales"], SALES_WEB_FORM_RATE_LIMIT="2")
    client = app.test_client()
    bot = client.post(f"/sales/forms/{form.key}", data={"name": "Bot", "phone": "1", "consent": "1",
                                                        "website_url": "http://spam.example"})
    assert bot.status_code == 303 and leads(ctx) == []  # told thanks, nothing stored
    client.post(f"/sales/forms/{form.key}", data={"name": "B", "phone": "13900000001", "consent": "1"})
    r = client.post(f"/sales/forms/{form.key}", data={"name": "C", "phone": "13900000002", "consent": "1"},
                    headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 429 and "Retry-After" in r.headers and r.mimetype == "text/html"
    assert len(leads(ctx)) == 1
    # a switched-off form is gone
    lead_forms.update_form(ctx, form.id, {"active": False})
    assert client.get(f"/sales/forms/{form.key}").status_code == 404


def test_what_the_marketer_types_is_escaped_on_the_page(client: Any, ctx: Any) -> None:
    evil = lead_forms.create_form(ctx, {"name": "x", "title": "<script>alert(1)</script>", "asked": [{"field": "email"}],
                                        "intro": "<img src=x onerror=alert(1)>", "consent_text": "<b>ok</b>"})
    html = client.get(f"/sales/forms/{evil.key}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<b>ok</b>" not in html


def test_the_company_name_and_logo_head_the_public_pages(make_app: Any, ctx: Any, form: LeadForm) -> None:
    app = make_app(PLUGINS=["plugins.sales", "plugins.service"], COMPANY_NAME="星河家居",
                   COMPANY_LOGO_URL="https://cdn.example.com/logo.png")
    client = app.test_client()
    for url in (f"/sales/forms/{form.key}", "/service/portal/new"):
        html = client.get(url).text
        assert "星河家居" in html and 'src="https://cdn.example.com/logo.png"' in html, url
    unsafe = make_app(PLUGINS=["plugins.sales"], COMPANY_LOGO_URL="javascript:alert(1)").test_client()
    assert "javascript:" not in unsafe.get(f"/sales/forms/{form.key}").text


@pytest.mark.parametrize("value, expected", [
    ("https://cdn.example.com/a.png", "https://cdn.example.com/a.png"), ("/static/logo.png", "/static/logo.png"),
    ("javascript:alert(1)", None), ("data:image/png;base64,AAAA", None), ("//evil.example/x.png", None),
    ("https://", None), ('https://x.example/a.png" onerror="alert(1)', None), ("", None), (None, None)])
def test_only_safe_logo_addresses_are_shown(value: Any, expected: Any) -> None:
    assert safe_logo_url(value) == expected


def test_the_admin_sets_up_a_form_without_json(client: Any, ctx: Any, make_user: Any) -> None:
    make_user("manager", username="mia")
    admin_login(client, "mia", lang="zh-CN")
    page = client.get("/admin/sales/lead-form/new/")
    assert page.status_code == 200 and "必填" in page.text and "{" not in page.text.split("<form", 1)[1].split("</form>")[0]
    r = client.post("/admin/sales/lead-form/new/", data={
        "csrf_token": csrf_token(page.text), "name": "Website", "title": "Contact us", "ask_company": "",
        "ask_title": "", "ask_phone": "required", "ask_email": "optional", "ask_wechat": "", "ask_message": "optional",
        "consent_text": "", "active": "y"}, follow_redirects=True)
    assert r.status_code == 200
    form = ctx.session.scalars(select(LeadForm).where(LeadForm.name == "Website")).one()
    assert form.asked == [{"field": "phone", "required": True}, {"field": "email", "required": False},
                          {"field": "message", "required": False}]
    details = client.get(f"/admin/sales/lead-form/details/?id={form.id}").text
    assert f"/sales/forms/{form.key}" in details and "&lt;iframe" in details  # the snippet, shown as text
    # editing shows the choices made, and a duplicate name is refused with the service's words, by field
    edit = client.get(f"/admin/sales/lead-form/edit/?id={form.id}").text
    assert '<option selected value="required">' in edit or 'value="required" selected' in edit
    lead_forms.create_form(ctx, {"name": "Other", "title": "t"})
    r = client.post(f"/admin/sales/lead-form/edit/?id={form.id}", data={
        "csrf_token": csrf_token(edit), "name": "Other", "title": "Contact us", "ask_phone": "required", "active": "y"},
        follow_redirects=True)
    assert "Other" in r.text and ctx.session.scalar(select(func.count()).select_from(LeadForm)) == 2
    ctx.session.expire_all()
    assert ctx.session.get(LeadForm, form.id).name == "Website"


def test_the_form_settings_are_validated_once_for_every_caller(ctx: Any) -> None:
    from crmcore.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        lead_forms.create_form(ctx, {"name": "", "title": "x" * 300, "asked": [{"field": "password"}],
                                     "owner_id": 999999})
    assert {"name", "title", "asked"} <= set(exc.value.errors)
    with pytest.raises(ValidationError) as exc:  # a lead needs a way to reach it
        lead_forms.create_form(ctx, {"name": "n", "title": "t", "asked": [{"field": "company"}]})
    assert set(exc.value.errors) == {"asked"}
    with pytest.raises(ValidationError) as exc:
        lead_forms.create_form(ctx, {"name": "n", "title": "t", "owner_id": 999999,
                                     "asked": [{"field": "phone"}, {"field": "phone"}]})
    assert set(exc.value.errors) == {"owner_id", "asked"}
