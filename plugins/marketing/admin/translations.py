"""A template's translations on its form: one row per language (picked by name), checked before anything is saved."""
from __future__ import annotations

from typing import Any

from babel import Locale, UnknownLocaleError
from flask_babel import get_locale

from crmcore.errors import CRMError
from crmcore.i18n import gettext
from crmcore.runtime import ServiceContext

from ..services import languages
from .common import field_errors

# the languages offered for a new translation (any other tag a translation already has is kept and named too)
OFFERED = ("zh_CN", "zh_TW", "en", "ja", "ko", "fr", "de", "es", "it", "pt", "ru", "ar", "th", "vi", "id", "ms")
PARTS = ("subject", "html", "text")
MAX_ROWS = 100


def language_name(tag: str) -> str:
    """The language's name in the reader's language (``en`` -> 英语 for a zh_CN reader); the tag when unknown."""
    try:
        return str(Locale.parse(tag).get_display_name(get_locale() or "en") or tag)
    except (ValueError, UnknownLocaleError):
        return tag


def language_choices(existing: list[str]) -> list[tuple[str, str]]:
    """``[(tag, name)]`` of the languages a new translation may be in (not one the template has), by name."""
    return sorted(((t, language_name(t)) for t in OFFERED if t not in existing), key=lambda c: c[1])


def rows_of(ctx: ServiceContext, template_id: int | None) -> list[dict[str, Any]]:
    """The template's translations as form rows."""
    if template_id is None:
        return []
    return [{"language": t.language, "name": language_name(t.language), "subject": t.subject, "html": t.html or "",
             "text": t.text or "", "remove": False, "new": False} for t in languages.translations(ctx, template_id)]


def rows_from(form: Any) -> list[dict[str, Any]]:
    """The rows posted: ``tr-<n>-language``, ``-subject``, ``-html``, ``-text``, ``-remove``; a new row left
    empty is no row."""
    out = []
    count = form.get("tr-count") or "0"
    for n in range(min(int(count) if count.isdigit() else 0, MAX_ROWS)):
        if f"tr-{n}-language" not in form:
            continue
        row = {p: form.get(f"tr-{n}-{p}") or "" for p in ("language", *PARTS)}
        row["remove"] = bool(form.get(f"tr-{n}-remove"))
        row["new"] = bool(form.get(f"tr-{n}-new"))
        if row["new"] and not any(row[p].strip() for p in PARTS):
            continue
        row["name"] = language_name(row["language"]) if row["language"] else ""
        out.append(row)
    return out


def check(ctx: ServiceContext, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Errors by ``tr-<n>-<part>``: each kept row checked like its template, one row per language."""
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for n, row in enumerate(rows):
        if row["remove"]:
            continue
        if row["new"] and not row["language"]:
            errors[f"tr-{n}-language"] = [gettext("Pick the translation's language.")]
            continue
        try:
            languages.validate_translation(ctx, row["language"], {p: row[p] or None for p in PARTS})
        except CRMError as exc:
            errors.update({f"tr-{n}-{k}": v for k, v in field_errors(exc).items()})
        tag = languages.normalize(row["language"]) or row["language"]
        if tag in seen:
            errors[f"tr-{n}-language"] = [gettext("The template has a translation into %(language)s already.",
                                                  language=row["name"] or tag)]
        seen.add(tag)
    return errors


def save(ctx: ServiceContext, template_id: int, rows: list[dict[str, Any]]) -> None:
    """Write the kept rows and remove the ones marked (rows checked by :func:`check` first)."""
    for row in rows:
        if row["remove"]:
            if not row["new"]:
                languages.delete_translation(ctx, template_id, row["language"])
        else:
            languages.set_translation(ctx, template_id, row["language"], {p: row[p] or None for p in PARTS})
