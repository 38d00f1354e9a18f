"""Translations: the language follows the user's setting, then the browser's Accept-Language."""
from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_babel import Babel, gettext, lazy_gettext  # noqa: F401 - re-exported for modules

LANGUAGES = ("zh_CN", "en")


def select_locale() -> str | None:
    from flask_login import current_user

    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in LANGUAGES:
        return user_locale
    return request.accept_languages.best_match(LANGUAGES + ("zh", "zh-CN", "en-US")) and _norm(
        request.accept_languages.best_match(LANGUAGES + ("zh", "zh-CN", "en-US")))


def _norm(tag: str) -> str:
    return "zh_CN" if tag.lower().startswith("zh") else "en"


def select_timezone() -> str | None:
    from flask_login import current_user

    return getattr(current_user, "timezone", None) or None


def init_i18n(app: Flask) -> Babel:
    rt = app.extensions["crm"]
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", rt.settings.get("DEFAULT_TIMEZONE", "UTC"))
    return Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
