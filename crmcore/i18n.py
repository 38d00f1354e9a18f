"""Translations: the language follows the user's setting, then Accept-Language, then the default.

Messages are marked with ``_`` (lazy: translated when shown, so services stay usable without
Flask). Catalogues live in ``crmcore/translations/<lang>/LC_MESSAGES/messages.po``; they are
compiled to ``.mo`` in the instance folder when the app starts (no binary files in the repo).
Update them with ``make translations``.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, lazy_gettext
from flask_babel import gettext as _babel_gettext

from .declarations import call_per_plugin
from .errors import PluginError

if TYPE_CHECKING:  # flask-babel has no types: say what these give (a lazy string behaves as a str)
    def _(string: str, **variables: Any) -> str: ...

    def gettext(string: str, **variables: Any) -> str: ...
else:
    _ = lazy_gettext
    gettext = _babel_gettext
LANGUAGES = ("zh_CN", "en")
CATALOGUES = Path(__file__).parent / "translations"

__all__ = ["_", "gettext", "lazy_gettext", "LANGUAGES", "init_i18n", "compile_catalogues"]


def _norm(tag: str | None) -> str | None:
    if not tag:
        return None
    tag = tag.replace("-", "_")
    if tag.lower().startswith("zh"):
        return "zh_CN"
    if tag.lower().startswith("en"):
        return "en"
    return None


def _current_user() -> Any:
    ctx = g.get("crm_ctx") if has_request_context() else None
    if ctx is not None and ctx.actor is not None:
        return ctx.actor
    try:
        from flask_login import current_user

        return current_user if getattr(current_user, "is_authenticated", False) else None
    except Exception:  # noqa: BLE001 - no login manager or no request
        return None


def select_locale() -> str | None:
    """The user's own setting, then the browser's Accept-Language, else None (the default)."""
    if not has_request_context():
        return None
    user = _current_user()
    mine = _norm(getattr(user, "locale", None))
    if mine:
        return mine
    best = request.accept_languages.best_match(["zh_CN", "zh-CN", "zh", "en", "en-US", "en-GB"])
    return _norm(best)


def known_timezone(name: Any) -> bool:
    """Whether ``name`` is an IANA time zone both zoneinfo and Flask-Babel (pytz) know."""
    import pytz

    return isinstance(name, str) and name in pytz.all_timezones_set


def select_timezone() -> str | None:
    if not has_request_context():
        return None
    zone = getattr(_current_user(), "timezone", None) or None
    return zone if zone is None or known_timezone(zone) else None  # a bad stored zone must not break every page


class _LocaleNames:
    """Flask-Babel looks catalogues up by the parsed locale's name (zh_CN -> zh_Hans_CN); parsing loads Babel's
    global data (~2.5 MiB in every web worker, which an API request never needs), so the names once parsed are kept in
    ``locales.txt`` beside the compiled catalogues and a start with nothing new to compile reads them from there."""

    def __init__(self, target: Path) -> None:
        self.path = target / "locales.txt"
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        self.known = dict(line.split("\t", 1) for line in lines if line.count("\t") == 1)

    def folder(self, name: str) -> str:
        if name not in self.known:
            self.known[name] = str(Locale.parse(name))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:  # whole or not at all, as the catalogues below
                fh.write("".join(f"{k}\t{v}\n" for k, v in sorted(self.known.items())))
            os.replace(tmp, self.path)
        return self.known[name]


def compile_catalogues(target: Path, source: Path = CATALOGUES) -> Path:
    """Compile every ``.po`` under ``source`` to ``.mo`` under ``target`` when missing or older;
    return ``target``. Compiled once: later starts only compare modification times (and import no compiler)."""
    names = _LocaleNames(target)
    for po in Path(source).glob("*/LC_MESSAGES/*.po"):
        mo = target / names.folder(po.parent.parent.name) / "LC_MESSAGES" / po.with_suffix(".mo").name
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        # a file of its own: web workers starting together compile at the same time, and each replaces the
        # catalogue whole (a shared temporary name lost one worker's file under the other's rename)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=mo.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                write_mo(fh, catalog)
            os.chmod(tmp, 0o644)  # as an ordinary new file (mkstemp makes it private)
            os.replace(tmp, mo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target


def init_i18n(app: Flask) -> Babel:
    """Compile the core's catalogues and those plugins register (``crm_register_translations``)
    into the instance folder and hand them to Flask-Babel: plugins' first, the core's last, so
    a plugin adds its own strings and cannot change the core's."""
    rt = app.extensions["crm"]
    root = Path(rt.settings["INSTANCE_PATH"]) / "translations"
    folders = []
    for plugin, folder in _plugin_catalogues(rt):
        folders.append(str(compile_catalogues(root / "plugins" / plugin, Path(folder))))
    folders.append(str(compile_catalogues(root)))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", rt.settings.get("DEFAULT_LOCALE") or "en")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", rt.settings.get("DEFAULT_TIMEZONE") or "UTC")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(folders))
    from .translator import remember_app

    remember_app(app)  # text built outside a request (a job's mail) is read from these catalogues
    return Babel(app, locale_selector=_babel_locale, timezone_selector=select_timezone)


@functools.lru_cache(maxsize=64)
def _parsed_locale(tag: str) -> Locale:
    return Locale.parse(tag)


def _babel_locale() -> Locale | None:
    """:func:`select_locale` (else the default) as Flask-Babel's ``Locale``, parsed once per language rather
    than on every request (the parse read the locale's data file: 4 % of an API read)."""
    if not has_request_context():
        return None
    from flask_babel import get_babel

    return _parsed_locale(select_locale() or str(get_babel().default_locale))


def _plugin_catalogues(rt: Any) -> list[tuple[str, str]]:
    """(plugin name, catalogue folder) for every folder a plugin registers (``crm_register_translations``,
    ``CRM_TRANSLATIONS`` or its package's ``translations/``), in load order."""
    out = []
    count: dict[str, int] = {}
    for plugin, folder in call_per_plugin(rt.pm, "crm_register_translations"):
        if not Path(folder).is_dir():
            raise PluginError(f"plugin {plugin!r} registers translations in {folder}, which is not a folder")
        i = count[plugin] = count.get(plugin, -1) + 1
        out.append((f"{plugin}-{i}" if i else plugin, str(folder)))
    return out


def local_time(value: Any, seconds: bool = False) -> str:
    """A stored UTC time shown in the reader's time zone (user setting, else the default)."""
    if value is None:
        return ""
    from flask_babel import to_user_timezone

    shown = to_user_timezone(value) if has_request_context() else value
    return str(shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"))


def title_data(message: Any) -> dict[str, Any]:
    """``{"title": [msgid, variables]}`` for a title marked with ``_()``, to keep beside the text it
    was stored as (an interaction's ``data``), so :func:`stored_title` shows it in each reader's language."""
    args, variables = getattr(message, "_args", None), getattr(message, "_kwargs", None) or {}
    if not args or not isinstance(args[0], str):
        return {}
    return {"title": [args[0], {k: v for k, v in variables.items() if isinstance(v, (str, int, float))}]}


def stored_title(subject: str, data: Any) -> str:
    """A stored title in the reader's language when it was kept with its message id (:func:`title_data`);
    else the text as stored (typed by a person)."""
    title = data.get("title") if isinstance(data, dict) else None
    if isinstance(title, list) and len(title) == 2 and isinstance(title[0], str) and isinstance(title[1], dict):
        try:
            return str(gettext(title[0], **title[1]))
        except (KeyError, ValueError, TypeError):
            return subject
    return subject


def _locale() -> Any:
    from flask_babel import get_locale

    return (get_locale() if has_request_context() else None) or Locale.parse("en")


def local_money(amount: Any, currency: str | None) -> str:
    """An amount with its ISO currency in the reader's locale: ``¥1,234.50`` in zh_CN for CNY,
    ``CN¥1,234.50`` in English, ``US$99.00`` for USD in zh_CN. Unknown codes still show."""
    if amount is None:
        return ""
    from babel.numbers import format_currency

    return format_currency(amount, (currency or "CNY").upper(), locale=_locale())


def local_number(value: Any, digits: int | None = None) -> str:
    """A number with the locale's grouping and decimal signs (``digits`` fixes the decimals)."""
    if value is None:
        return ""
    from babel.numbers import format_decimal

    fmt = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=fmt, locale=_locale())


def local_percent(ratio: Any, digits: int = 1) -> str:
    """A ratio (0.125) as a percentage in the reader's locale (``12.5%``)."""
    if ratio is None:
        return ""
    from babel.numbers import format_percent

    return format_percent(ratio, format="#,##0" + ("." + "0" * digits if digits else "") + "%", locale=_locale())
