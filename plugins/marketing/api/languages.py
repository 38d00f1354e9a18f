"""Templates per language in the REST API: a template's translations, and the language a customer reads."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from crmcore.api import current_ctx
from crmcore.api.http import json_body

from ..services import languages
from .rest import blp


class TranslationOut(languages.TranslationSchema):
    language = fields.Str()
    updated_at = fields.AwareDateTime()


class LanguageOut(Schema):
    customer_id = fields.Int()
    language = fields.Str()


@blp.route("/templates/<int:template_id>/translations")
@blp.response(200, TranslationOut(many=True))
def list_translations(template_id: int) -> Any:
    """The template's translations (a recipient reading that language gets one)"""
    return languages.translations(current_ctx(), template_id)


@blp.route("/templates/<int:template_id>/translations/<string:language>", methods=["PUT"])
@json_body(blp, languages.TranslationSchema)
@blp.response(200, TranslationOut)
def put_translation(data: dict[str, Any], template_id: int, language: str) -> Any:
    """Write the template's translation into a language (zh_CN, en, ...), checked like the template"""
    return languages.set_translation(current_ctx(), template_id, language, data)


@blp.route("/templates/<int:template_id>/translations/<string:language>", methods=["DELETE"])
@blp.response(204)
def delete_translation(template_id: int, language: str) -> Any:
    """Remove a translation (its readers get the template's own text)"""
    languages.delete_translation(current_ctx(), template_id, language)
    return ""


@blp.route("/customers/<int:customer_id>/language", methods=["PUT"])
@json_body(blp, languages.LanguageSchema)
@blp.response(200, LanguageOut)
def put_language(data: dict[str, Any], customer_id: int) -> Any:
    """Set the language a customer reads marketing messages in"""
    return languages.set_language(current_ctx(), customer_id, data)
