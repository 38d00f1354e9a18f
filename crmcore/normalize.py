"""Normalising what people type: phone numbers to E.164, e-mails, names (full-width, suffixes, pinyin).

Stored text is kept as given (``tidy``: outer spaces trimmed); folding (``fold``) is for match keys only:
search text, name keys, normalised phones and e-mails, codes."""
from __future__ import annotations

import functools
import re
import unicodedata

# phonenumbers and the pinyin table (crmcore.pinyin: pypinyin's data in ~2 MiB, pypinyin itself is never loaded)
# are loaded on first use, not at start-up: a command or web worker that never needs them never loads them.

# Legal-form suffixes removed before names are compared: 张三商贸有限公司 ~ 张三商贸(有限公司).
COMPANY_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司", "分公司",
    "co., ltd.", "co. ltd.", "co ltd", "company limited", "corporation", "limited", "ltd.", "ltd",
    "inc.", "inc", "llc", "gmbh", "corp.", "corp", "plc", "s.a.", "ag", "co.",
)
_PUNCT = re.compile(r"[\s\-_.,，。·()（）\[\]【】'\"“”‘’/\\&+]+")
_SUFFIX_KEYS = tuple(_PUNCT.sub(" ", suffix).strip() for suffix in COMPANY_SUFFIXES)  # as the names are cleaned


def fold(text: str | None) -> str:
    """NFKC-fold (full-width to half-width), trim and collapse spaces: for match keys, never stored text."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def tidy(text: str | None) -> str:
    """Stored text as given: only the outer white space trimmed (``（``, ``Ａ``, inner spaces are kept)."""
    return text.strip() if text else ""


_WIDEN = {c: chr(c + 0xFEE0) for c in range(0x21, 0x7F) if not chr(c).isalnum()}  # "(" -> "（", ...


def search_variants(q: str) -> list[str]:
    """The lower-cased forms of a search ``q`` over stored text (kept as given, with no folded copy): as
    typed, folded and with its punctuation full-width, so ``(`` and ``（`` typed both find either stored."""
    folded = fold(q).lower()
    return [t for t in dict.fromkeys((tidy(q).lower(), folded, folded.translate(_WIDEN))) if t]


LIKE_ESCAPE = "\\"


def escape_like(term: str) -> str:
    """``term`` for a ``LIKE`` pattern with ``escape=LIKE_ESCAPE``: ``%``, ``_`` and ``\\`` match themselves."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_terms(q: str) -> list[str]:
    """The ``LIKE`` patterns (use ``escape=LIKE_ESCAPE``) of text containing one of ``search_variants(q)``:
    what is typed is matched literally (``%`` and ``_`` are no wildcards)."""
    return [f"%{escape_like(t)}%" for t in search_variants(q)]


@functools.lru_cache(maxsize=4096)  # a pure function, and slow: validating a row and deriving its fields ask twice
def normalize_phone(raw: str | None, region: str = "CN") -> str | None:
    """Return the number in E.164 (``+8613800138000``), or None when it is not a valid number.

    Valid means a number the numbering plan of its country has (``12345`` is possible as a length but no
    Chinese number: None, never a made-up ``+8612345``); any format of a valid number works."""
    if not raw:
        return None
    import phonenumbers

    text = fold(raw)
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str | None) -> str | None:
    """Lower-case and trim an e-mail address; None when it has no ``@``."""
    text = fold(raw).lower()
    return text if "@" in text and not text.startswith("@") and not text.endswith("@") else None


def company_key(name: str | None) -> str:
    """A comparison key for a name: folded, case-free, punctuation and legal suffixes removed."""
    text = fold(name).casefold()
    text = _PUNCT.sub(" ", text).strip()
    changed = True
    while changed and text:
        changed = False
        for s in _SUFFIX_KEYS:
            if text.endswith(s) and len(text) > len(s):
                text = text[: -len(s)].strip()
                changed = True
    return _PUNCT.sub("", text)


def search_text(*parts: str | None) -> str:
    """Text to match searches against: folded parts plus the pinyin and pinyin initials of Chinese.

    Searches match substrings, so what is contained in something already there adds nothing: a part
    inside an earlier one is left out, and so is the pinyin of a part whose Chinese characters an
    earlier part has (a name key: the name without its legal suffix and spaces)."""
    out: list[str] = []
    hans_seen: list[str] = []
    for part in parts:
        text = fold(part).casefold()
        if not text or any(text in earlier for earlier in out):
            continue
        out.append(text)
        hans = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
        if hans and not any(hans in earlier for earlier in hans_seen):
            hans_seen.append(hans)
            from crmcore.pinyin import lazy_pinyin

            syllables = lazy_pinyin(text)
            out.append("".join(syllables))
            # the initials: the first letter of each syllable is what Style.FIRST_LETTER gives (checked over
            # every character of the table), without converting the text a second time
            out.append("".join(s[0] for s in syllables if s))
    return " ".join(out)
