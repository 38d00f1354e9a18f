"""An ERP's country (ISO code of two or three letters, a number, or a name in English or Chinese) as the ISO code."""
from __future__ import annotations

import functools

from crmcore.normalize import fold


@functools.cache
def _known() -> tuple[frozenset[str], dict[str, str]]:
    """The two-letter codes CLDR knows, and ``{alias or name, case-folded: code}`` (``CHN``, ``156``, ``China``, ``中国``)."""
    from babel import Locale
    from babel.core import get_global

    codes = frozenset(c for c in Locale("en").territories if len(c) == 2 and c.isalpha())
    names: dict[str, str] = {}
    for alias, targets in get_global("territory_aliases").items():
        if len(targets) == 1 and targets[0] in codes:
            names[alias.casefold()] = targets[0]
    for locale in ("en", "zh", "zh_Hant"):
        for code, name in Locale.parse(locale).territories.items():
            if code in codes:
                names.setdefault(fold(name).casefold(), code)
    return codes, names


def country_code(value: str) -> str | None:
    """The ISO 3166 two-letter code of ``value`` (``cn``, ``CHN``, ``156``, ``China``, ``中国``), or None when
    it names no country (never a cut: ``Germany`` is ``DE``, not ``GE``)."""
    text = fold(value).strip()
    codes, names = _known()
    if len(text) == 2 and text.upper() in codes:
        return text.upper()
    return names.get(text.casefold())
