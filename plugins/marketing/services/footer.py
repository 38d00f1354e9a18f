"""The way out every marketing e-mail carries: a footer with the preference and unsubscribe links, in the
recipient's language, added to each part (HTML, text) whose template does not place one of the links itself."""
from __future__ import annotations

import re
import weakref
from html import escape
from typing import Any

from crmcore.runtime import ServiceContext

_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_WORDS: "weakref.WeakKeyDictionary[Any, dict[str, tuple[str, str, str]]]" = weakref.WeakKeyDictionary()  # by runtime


def locale_of(ctx: ServiceContext, language: str | None) -> str:
    """The catalogue a footer is written from: the recipient's language when it is one of ours, else the
    default (``DEFAULT_LOCALE``)."""
    for tag in (language, str(ctx.settings.get("DEFAULT_LOCALE") or "")):
        if tag and tag.lower().startswith("zh"):
            return "zh_CN"
        if tag and tag.lower().startswith("en"):
            return "en"
    return "en"


def words(ctx: ServiceContext, language: str | None) -> tuple[str, str, str]:
    """The footer's sentence and its two link texts in the recipient's language (read once per language)."""
    from crmcore.translator import translator

    locale = locale_of(ctx, language)
    known = _WORDS.setdefault(ctx.runtime.pm, {})
    if locale not in known:
        gettext = translator(ctx, locale)
        known[locale] = (gettext("You receive this e-mail because you agreed to hear from us."),
                         gettext("Choose what you receive"), gettext("Unsubscribe"))
    return known[locale]


def add_text(ctx: ServiceContext, text: str, language: str | None, links: dict[str, str]) -> str:
    """The text part with the footer below a signature separator."""
    sentence, preferences, unsubscribe = words(ctx, language)
    return (f"{text.rstrip()}\n\n-- \n{sentence}\n{preferences}: {links['preferences_url']}\n"
            f"{unsubscribe}: {links['unsubscribe_url']}\n")


def add_html(ctx: ServiceContext, html: str, language: str | None, links: dict[str, str]) -> str:
    """The HTML part with the footer (escaped) before ``</body>``, else at the end."""
    sentence, preferences, unsubscribe = words(ctx, language)
    block = (f'<hr><p style="font-size:12px;color:#666666">{escape(sentence)}<br>'
             f'<a href="{escape(links["preferences_url"])}">{escape(preferences)}</a> · '
             f'<a href="{escape(links["unsubscribe_url"])}">{escape(unsubscribe)}</a></p>')
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + block
    at = ends[-1].start()
    return html[:at] + block + html[at:]
