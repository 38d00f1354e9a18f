"""Translation into a reader's language outside a request (a mail built by a job, the scheduler or ``crm jobs``):
the app of each runtime is remembered when its catalogues are set up, and a ``gettext`` in any locale is read
from them, merged like Flask-Babel does, without pushing an app or request context."""
from __future__ import annotations

import weakref
from gettext import NullTranslations
from typing import TYPE_CHECKING, Any, Callable

from babel import Locale
from babel.support import Translations

if TYPE_CHECKING:  # typing only: the i18n set-up imports this module, the runtime imports i18n
    from .runtime import ServiceContext

_APPS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()  # plugin manager -> its Flask app


def remember_app(app: Any) -> None:
    """Note the Flask app of a runtime, so text built outside a request finds the app's catalogues."""
    _APPS[app.extensions["crm"].pm] = weakref.ref(app)


def translator(ctx: ServiceContext, locale: str | None) -> Callable[..., str]:
    """A ``gettext(msgid, **values)`` in ``locale`` (``zh_CN`` or ``en``; None: the default locale)
    from the app's catalogues, merged like Flask-Babel does. It needs no app or request context (and
    pushes none, so the caller's session stays as it is)."""
    from flask import current_app, has_app_context

    ref = _APPS.get(ctx.runtime.pm)
    app = current_app._get_current_object() if has_app_context() else (ref() if ref is not None else None)  # type: ignore[attr-defined]
    catalogue: Any = NullTranslations()
    if app is not None:
        wanted = Locale.parse(locale or app.config.get("BABEL_DEFAULT_LOCALE") or "en")
        merged = None
        for folder in str(app.config.get("BABEL_TRANSLATION_DIRECTORIES") or "").split(";"):
            if not folder:
                continue
            found = Translations.load(folder, [wanted], "messages")
            if merged is None:
                merged = found if isinstance(found, Translations) else None
            elif isinstance(found, Translations):
                merged.merge(found)
        catalogue = merged or catalogue

    def gettext(msgid: str, **values: Any) -> str:
        text = str(catalogue.gettext(msgid))
        return text % values if values else text

    return gettext
