"""Normalising what people type: phone numbers to E.164, e-mails, names (full-width, suffixes, pinyin)."""
from __future__ import annotations

import re
import unicodedata

import phonenumbers
from pypinyin import Style, lazy_pinyin

# Legal-form suffixes removed before names are compared: 张三商贸有限公司 ~ 张三商贸(有限公司).
COMPANY_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司", "分公司",
    "co., ltd.", "co. ltd.", "co ltd", "company limited", "corporation", "limited", "ltd.", "ltd",
    "inc.", "inc", "llc", "gmbh", "corp.", "corp", "plc", "s.a.", "ag", "co.",
)
_PUNCT = re.compile(r"[\s\-_.,，。·()（）\[\]【】'\"“”‘’/\\&+]+")


def fold(text: str | None) -> str:
    """NFKC-fold (full-width to half-width), trim and collapse spaces."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def normalize_phone(raw: str | None, region: str = "CN") -> str | None:
    """Return the number in E.164 (``+8613800138000``), or None when it is not a valid number."""
    if not raw:
        return None
    text = fold(raw)
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
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
        for suffix in COMPANY_SUFFIXES:
            s = _PUNCT.sub(" ", suffix).strip()
            if text.endswith(s) and len(text) > len(s):
                text = text[: -len(s)].strip()
                changed = True
    return _PUNCT.sub("", text)


def search_text(*parts: str | None) -> str:
    """Text to match searches against: folded parts plus the pinyin and pinyin initials of Chinese."""
    out: list[str] = []
    for part in parts:
        text = fold(part).casefold()
        if not text:
            continue
        out.append(text)
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            syllables = lazy_pinyin(text, errors="ignore")
            out.append("".join(syllables))
            out.append("".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")))
    return " ".join(out)
