"""Templates per language: a template's translations (subject, HTML, text per language) and the language each
customer reads (set by them on the preference page, or through the API). A send renders each recipient's
message in their language: the translation for exactly it, else one for the same language (``zh`` for
``zh_CN``), else the template itself (its default language)."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from ..models import CustomerLanguage, MessageTemplate, TemplateTranslation
from . import templates

TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|\d{3}))?$")


def normalize(tag: Any) -> str | None:
    """``zh-cn`` -> ``zh_CN``, ``EN`` -> ``en``, ``zh-Hans-CN`` -> ``zh_Hans_CN``; None when it is no language tag."""
    match = TAG.match(str(tag or "").strip())
    if match is None:
        return None
    lang, script, region = match.groups()
    return "_".join(p for p in (lang.lower(), script.title() if script else None, region.upper() if region else None)
                    if p)


def _language_errors(value: Any) -> list[str]:
    return [] if normalize(value) else [_("Give a language tag such as zh_CN or en.")]


class TranslationSchema(Schema):
    subject = text(TemplateTranslation.subject, required=True)
    html = fields.Str(allow_none=True, validate=validate.Length(max=templates.BODY_MAX))
    text = fields.Str(allow_none=True, validate=validate.Length(max=templates.BODY_MAX))


class LanguageSchema(Schema):
    language = fields.Str(required=True, validate=validate.Length(max=16))


_TRANSLATION = TranslationSchema()
_LANGUAGE = LanguageSchema()


def validate_translation(ctx: ServiceContext, language: str, data: dict[str, Any]) -> dict[str, Any]:
    """A translation checked like its template: each part parsed (syntax by line, unknown variables with the
    ones that exist), an HTML or a text part, and a language tag."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if problems := _language_errors(language):
            errors["language"] = problems
        for part in ("subject", "html", "text"):
            if problems := templates._check_part(values.get(part)):
                errors[part] = problems
        if not (values.get("html") or values.get("text")) and "html" not in errors and "text" not in errors:
            errors["text"] = [_("Write the message: an HTML part, a text part or both.")]
        return errors

    return load(_TRANSLATION, data, partial=False, message=_("The translation is not valid."), check=check)


def translations(ctx: ServiceContext, template_id: int) -> list[TemplateTranslation]:
    templates.get_template(ctx, template_id)
    return list(ctx.session.scalars(select(TemplateTranslation).where(TemplateTranslation.template_id == template_id)
                                    .order_by(TemplateTranslation.language)))


def set_translation(ctx: ServiceContext, template_id: int, language: str, data: dict[str, Any]) -> TemplateTranslation:
    """Write (create or replace) the template's translation into ``language``."""
    ctx.require("marketing.manage")
    template = templates.get_template(ctx, template_id)
    values = validate_translation(ctx, language, data)
    tag = normalize(language) or language
    with unit_of_work(ctx):
        row = ctx.session.scalar(select(TemplateTranslation).where(TemplateTranslation.template_id == template.id,
                                                                   TemplateTranslation.language == tag))
        created = row is None
        if row is None:
            row = TemplateTranslation(template_id=template.id, language=tag)
            ctx.session.add(row)
        row.subject, row.html, row.text = values["subject"], values.get("html"), values.get("text")
        ctx.session.flush()
        record_change(ctx, "marketing_template", "translated", template.id, {"language": [None, tag]},
                      data={"created": created})
    return row


def delete_translation(ctx: ServiceContext, template_id: int, language: str) -> None:
    ctx.require("marketing.manage")
    templates.get_template(ctx, template_id)
    row = ctx.session.scalar(select(TemplateTranslation).where(TemplateTranslation.template_id == template_id,
                                                               TemplateTranslation.language == normalize(language)))
    if row is None:
        raise NotFound(_("The template has no translation into %(language)s.", language=language))
    with unit_of_work(ctx):
        ctx.session.delete(row)
        record_change(ctx, "marketing_template", "untranslated", template_id, {"language": [row.language, None]})


def set_language(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> CustomerLanguage:
    """Record the language a customer reads marketing messages in."""
    ctx.require("marketing.consent.write")
    get_customer(ctx, customer_id)  # 404 unknown, 403 outside the actor's scope
    values = load(_LANGUAGE, data, partial=False, message=_("The language is not valid."),
                  check=lambda v: {"language": p} if (p := _language_errors(v.get("language"))) else {})
    tag = normalize(values["language"]) or ""
    with unit_of_work(ctx):
        row = ctx.session.get(CustomerLanguage, customer_id)
        if row is None:
            row = CustomerLanguage(customer_id=customer_id, language=tag)
            ctx.session.add(row)
        row.language = tag
    return row


def clear_language(ctx: ServiceContext, customer_id: int) -> None:
    """Forget a customer's language: they get each template as written."""
    ctx.require("marketing.consent.write")
    get_customer(ctx, customer_id)
    row = ctx.session.get(CustomerLanguage, customer_id)
    if row is not None:
        with unit_of_work(ctx):
            ctx.session.delete(row)


def language_of(ctx: ServiceContext, customer_ids: list[int]) -> dict[int, str]:
    if not customer_ids:
        return {}
    rows = ctx.session.execute(select(CustomerLanguage.customer_id, CustomerLanguage.language)
                               .where(CustomerLanguage.customer_id.in_(customer_ids)))
    return {int(cid): str(tag) for cid, tag in rows}


def pick(found: dict[str, TemplateTranslation], language: str | None) -> TemplateTranslation | None:
    """The translation for ``language``: exactly it, else one of the same language (first by tag), else None."""
    if not language or not found:
        return None
    if language in found:
        return found[language]
    primary = language.split("_")[0]
    return next((found[tag] for tag in sorted(found) if tag.split("_")[0] == primary), None)


class Chooser:
    """Per send batch: each template's translations read once, the compiled renderer per language."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.found: dict[int, dict[str, TemplateTranslation]] = {}

    def renderer(self, template: MessageTemplate, language: str | None) -> templates.Renderer:
        if template.id not in self.found:
            self.found[template.id] = {t.language: t for t in self.ctx.session.scalars(
                select(TemplateTranslation).where(TemplateTranslation.template_id == template.id))}
        chosen = pick(self.found[template.id], language)
        if chosen is None:
            return templates.renderer(template)
        return templates.renderer(MessageTemplate(subject=chosen.subject, html=chosen.html, text=chosen.text))

