"""Lead forms: set up in the admin (fields asked, required ones, consent, thank-you page), filled in by
visitors on the company's website. A submission becomes a lead through ``create_lead`` (the lead's one
validation), with the consent the visitor gave (its text, time and form) kept on the lead."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select, update

from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import User
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import MaxLength, text
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import Lead
from ..webform_models import FORM_FIELDS, LeadForm
from .leads import create_lead

TEXT_MAX = 5000
CONTACT_FIELDS = ("phone", "email", "wechat")  # a lead needs one of them
EDITABLE = ("name", "title", "intro", "asked", "consent_text", "thank_you_title", "thank_you_text", "campaign",
            "owner_id", "active")


class FormFieldSchema(Schema):
    field = fields.Str(required=True, validate=validate.OneOf(FORM_FIELDS))
    required = fields.Bool(load_default=False)


class LeadFormSchema(Schema):
    name = text(LeadForm.name, required=True)
    title = text(LeadForm.title, required=True)
    intro = fields.Str(allow_none=True, validate=MaxLength(TEXT_MAX))
    asked = fields.List(fields.Nested(FormFieldSchema), validate=validate.Length(max=len(FORM_FIELDS)))
    consent_text = fields.Str(allow_none=True, validate=MaxLength(TEXT_MAX))
    thank_you_title = text(LeadForm.thank_you_title, blank_none=True)
    thank_you_text = fields.Str(allow_none=True, validate=MaxLength(TEXT_MAX))
    campaign = text(LeadForm.campaign, blank_none=True)
    owner_id = fields.Int(allow_none=True)
    active = fields.Bool()


_SCHEMA = LeadFormSchema()


def validate_lead_form(ctx: ServiceContext, data: dict[str, Any], existing: LeadForm | None) -> dict[str, Any]:
    """A lead form's settings checked by ``LeadFormSchema`` (the admin and the CLI share it), then a name no
    other form has, each field asked once, and an owner who is an active user."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("name"):
            other = ctx.session.scalar(select(LeadForm).where(LeadForm.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("A lead form named '%(name)s' exists.", name=values["name"])]
        asked = [f.get("field") for f in values.get("asked") or [] if isinstance(f, dict) and f.get("field")]
        if len(asked) != len(set(asked)):
            errors["asked"] = [_("Each field can be asked only once.")]
        elif "asked" in values and not set(asked) & set(CONTACT_FIELDS):
            errors["asked"] = [_("Ask for a phone number, an e-mail address or a WeChat id: a lead needs one of them.")]
        if values.get("owner_id") is not None:
            owner = ctx.session.get(User, values["owner_id"])
            if owner is None or not owner.active:
                errors["owner_id"] = [_("Pick an active user.")]
        return errors

    loaded = load(_SCHEMA, data, partial=existing is not None, message=_("The lead form is not valid."), check=check)
    for key in ("intro", "consent_text", "thank_you_text"):
        if key in loaded and isinstance(loaded[key], str):
            loaded[key] = loaded[key].strip() or None
    if "asked" in loaded:  # in the form's order, whatever order they came in
        order = {name: i for i, name in enumerate(FORM_FIELDS)}
        loaded["asked"] = sorted(({"field": f["field"], "required": bool(f.get("required"))} for f in loaded["asked"]),
                                  key=lambda f: order[f["field"]])
    return loaded


def list_forms(ctx: ServiceContext) -> list[LeadForm]:
    ctx.require("sales.lead_form.manage")
    return list(ctx.session.scalars(select(LeadForm).order_by(LeadForm.name)))


def get_form(ctx: ServiceContext, form_id: int) -> LeadForm:
    ctx.require("sales.lead_form.manage")
    form = ctx.session.get(LeadForm, form_id)
    if form is None:
        raise NotFound(_("Lead form %(id)s does not exist.", id=form_id))
    return form


def create_form(ctx: ServiceContext, data: dict[str, Any]) -> LeadForm:
    ctx.require("sales.lead_form.manage")
    values = validate_lead_form(ctx, data, None)
    with unit_of_work(ctx):
        form = LeadForm(key=secrets.token_urlsafe(24), asked=[], active=True, submissions=0)
        changes = apply_changes(form, values, EDITABLE)
        ctx.session.add(form)
        ctx.session.flush()
        record_change(ctx, "lead_form", "created", form.id, changes)
    return form


def update_form(ctx: ServiceContext, form_id: int, data: dict[str, Any]) -> LeadForm:
    form = get_form(ctx, form_id)
    values = validate_lead_form(ctx, data, form)
    with unit_of_work(ctx):
        changes = apply_changes(form, values, EDITABLE)
        if changes:
            record_change(ctx, "lead_form", "updated", form.id, changes)
    return form


def delete_form(ctx: ServiceContext, form_id: int) -> None:
    form = get_form(ctx, form_id)
    with unit_of_work(ctx):
        ctx.session.delete(form)
        record_change(ctx, "lead_form", "deleted", form_id, {"name": [form.name, None]})


def new_key(ctx: ServiceContext, form_id: int) -> LeadForm:
    """A new key for the form: pages embedding the old address stop working (e.g. after spam)."""
    form = get_form(ctx, form_id)
    with unit_of_work(ctx):
        form.key = secrets.token_urlsafe(24)
        record_change(ctx, "lead_form", "key_changed", form.id, {})
    return form


def public_form(ctx: ServiceContext, key: str) -> LeadForm | None:
    """The active form with this key, for the public page; None for an unknown or switched-off form."""
    if not key or len(key) > 64:
        return None
    return ctx.session.scalar(select(LeadForm).where(LeadForm.key == key, LeadForm.active.is_(True)))


def submit(ctx: ServiceContext, form: LeadForm, values: dict[str, Any]) -> Lead:
    """A visitor's submission as a lead. Required fields, the consent box and the lead's own rules are
    checked together, so one answer names every field to correct (``ValidationError`` by field)."""
    asked = {f["field"]: bool(f.get("required")) for f in form.asked or []}
    data: dict[str, Any] = {}
    for name in ("name", *asked):
        value = values.get(name)
        if isinstance(value, str) and value.strip():
            data[name] = value.strip()
    errors: dict[str, list[Any]] = {}
    for name, required in {"name": True, **asked}.items():
        if required and name not in data:
            errors[name] = [_("Please fill in this field.")]
    reach = [name for name in CONTACT_FIELDS if name in asked]
    if reach and not any(name in data for name in reach) and not any(name in errors for name in reach):
        errors[reach[0]] = [_("Give at least one way to reach you.")]
    if form.consent_text and not values.get("consent"):
        errors["consent"] = [_("Please accept to go on.")]
    message = _("Please correct the fields marked below.")
    if errors:
        raise ValidationError(message, errors={k: [str(m) for m in v] for k, v in errors.items()})
    data["contact_name"] = data["name"]
    if form.campaign:
        data["campaign"] = form.campaign
    if form.owner_id is not None:
        data["owner_id"] = form.owner_id
    if values.get("referral_code"):  # kept from the referral link the visitor followed
        data["referral_code"] = str(values["referral_code"])[:64]
    with unit_of_work(ctx):
        try:
            lead = create_lead(ctx, data, source_channel="web")
        except ValidationError as exc:
            raise ValidationError(message, errors=exc.errors) from None
        lead.data = {**(lead.data or {}), "lead_form": {"id": form.id, "name": form.name}}
        if form.consent_text:
            lead.data["consent"] = {"text": form.consent_text, "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                                    "source": "lead_form", "form": form.name}
        ctx.session.execute(update(LeadForm).where(LeadForm.id == form.id)
                            .values(submissions=LeadForm.submissions + 1))
    return lead
