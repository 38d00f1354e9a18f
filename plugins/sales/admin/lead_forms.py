"""The admin page where a marketer sets up public lead forms: what each asks (check-box choices, no JSON),
the consent text, the thank-you page, and the snippet to put on the website."""
from __future__ import annotations

from typing import Any

from flask import flash, url_for
from flask_admin.actions import action
from markupsafe import Markup, escape
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from crmcore.admin.forms import active_users, blank_to_none, user_label
from crmcore.admin.views import AdminForm, SecureModelView, flash_crm_error, service_context
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_time
from crmcore.models import User
from crmcore.runtime import ServiceContext

from ..services import lead_forms
from ..webform_models import FORM_FIELDS, LeadForm

FIELD_LABELS = {"company": _l("Company"), "title": _l("Job title"), "phone": _l("Phone"), "email": _l("E-mail"),
                "wechat": _l("WeChat"), "message": _l("Message")}
ASK_CHOICES = [("", _l("Not asked")), ("optional", _l("Asked, optional")), ("required", _l("Asked, required"))]


def _owner_choices() -> list[tuple[str, str]]:
    return [("", gettext("Nobody (leads stay unassigned)"))] + [(str(u.id), user_label(u)) for u in active_users()]


class LeadFormForm(AdminForm):
    name = StringField(_l("Name (for you)"), render_kw={"required": True})
    title = StringField(_l("Title on the page"), render_kw={"required": True})
    intro = TextAreaField(_l("Text above the fields"))
    ask_company = SelectField(FIELD_LABELS["company"], choices=ASK_CHOICES, default="optional")
    ask_title = SelectField(FIELD_LABELS["title"], choices=ASK_CHOICES, default="")
    ask_phone = SelectField(FIELD_LABELS["phone"], choices=ASK_CHOICES, default="required")
    ask_email = SelectField(FIELD_LABELS["email"], choices=ASK_CHOICES, default="optional")
    ask_wechat = SelectField(FIELD_LABELS["wechat"], choices=ASK_CHOICES, default="optional")
    ask_message = SelectField(FIELD_LABELS["message"], choices=ASK_CHOICES, default="optional")
    consent_text = TextAreaField(_l("Consent text (a box the visitor must tick; empty: no box)"))
    thank_you_title = StringField(_l("Thank-you page title"))
    thank_you_text = TextAreaField(_l("Thank-you page text"))
    campaign = StringField(_l("Campaign of the leads"))
    owner_id = SelectField(_l("Assign the leads to"), choices=[], validate_choice=False)
    active = BooleanField(_l("On (the page accepts visitors)"), default=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner_id.choices = _owner_choices()


def _address(form: LeadForm) -> str:
    return url_for("sales_webform.lead_form", key=form.key, _external=True)


def embed_snippets(form: LeadForm) -> dict[str, str]:
    """What to paste into the website: the form in a frame, or a link."""
    url = _address(form)
    title = escape(form.title)
    return {"frame": f'<iframe src="{escape(url)}" title="{title}" style="width:100%;min-height:640px;border:0"></iframe>',
            "link": f'<a href="{escape(url)}">{title}</a>'}


def _embedding(view: Any, context: Any, model: LeadForm, name: str) -> Markup:
    snippets = embed_snippets(model)
    url = _address(model)
    return Markup('<p><a href="{0}" target="_blank" rel="noopener"><code>{0}</code></a></p>'
                  '<p>{1}</p><pre class="border p-2 bg-light">{2}</pre><p>{3}</p><pre class="border p-2 bg-light">{4}</pre>'
                  ).format(url, gettext("Paste into your website, as a frame:"), snippets["frame"],
                           gettext("or as a link:"), snippets["link"])


def _asked(view: Any, context: Any, model: LeadForm, name: str) -> str:
    parts = []
    for item in model.asked or []:
        label = str(FIELD_LABELS.get(item.get("field"), item.get("field")))
        parts.append(f"{label} ({gettext('required')})" if item.get("required") else label)
    return ", ".join(parts) or gettext("Only the name")


class LeadFormView(SecureModelView):
    permission = "sales.lead_form.manage"
    form = LeadFormForm
    can_view_details = True
    column_list = ("name", "title", "active", "submissions", "updated_at")
    column_details_list = ("name", "title", "intro", "asked", "consent_text", "thank_you_title", "thank_you_text",
                           "campaign", "owner", "active", "submissions", "key")
    column_labels = {"name": _l("Name"), "title": _l("Title on the page"), "intro": _l("Text above the fields"),
                     "asked": _l("Fields asked"), "consent_text": _l("Consent text"),
                     "thank_you_title": _l("Thank-you page title"), "thank_you_text": _l("Thank-you page text"),
                     "campaign": _l("Campaign"), "owner": _l("Assign the leads to"), "active": _l("On"),
                     "submissions": _l("Leads received"), "updated_at": _l("Changed"),
                     "key": _l("Address and embedding")}
    column_formatters = {"updated_at": lambda v, c, m, n: local_time(m.updated_at)}
    column_formatters_detail = {"key": _embedding, "asked": _asked,
                                "owner": lambda v, c, m, n: _owner_name(m)}
    column_default_sort = ("name", False)

    def on_form_prefill(self, form: Any, id: Any) -> None:
        model = self.get_one(id)
        if model is None:
            return
        asked = {f["field"]: f.get("required") for f in model.asked or []}
        for field in FORM_FIELDS:
            getattr(form, f"ask_{field}").data = ("required" if asked[field] else "optional") if field in asked else ""
        form.owner_id.data = str(model.owner_id) if model.owner_id else ""

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(form[k].data) for k in ("name", "title", "intro", "consent_text", "thank_you_title",
                                                          "thank_you_text", "campaign")}
        data["active"] = bool(form.active.data)
        owner = form.owner_id.data
        data["owner_id"] = int(owner) if owner and str(owner).isdigit() else None
        data["asked"] = [{"field": f, "required": form[f"ask_{f}"].data == "required"}
                         for f in FORM_FIELDS if form[f"ask_{f}"].data in ("optional", "required")]
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> LeadForm:
        return lead_forms.create_form(ctx, data)

    def service_update(self, ctx: ServiceContext, model: LeadForm, data: dict[str, Any]) -> LeadForm:
        return lead_forms.update_form(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: LeadForm) -> None:
        lead_forms.delete_form(ctx, model.id)

    @action("new_key", _l("New address"),
            _l("Give the selected forms a new address? Pages that embed the old one stop working."))
    def action_new_key(self, ids: list[str]) -> None:
        done = 0
        for raw in ids:
            try:
                lead_forms.new_key(self.ctx(), int(raw))
                done += 1
            except (CRMError, ValueError) as exc:
                self.session.rollback()
                if isinstance(exc, CRMError):
                    flash_crm_error(exc)
        if done:
            flash(gettext("%(n)s form(s) have a new address.", n=done), "success")


def _owner_name(model: LeadForm) -> str:
    if model.owner_id is None:
        return gettext("Nobody (leads stay unassigned)")
    user = service_context().session.get(User, model.owner_id)
    return user_label(user) if user is not None else ""
