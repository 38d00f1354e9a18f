"""The built-in custom field types; plugins add more with ``crm_register_field_types``."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .contracts import FieldType
from .normalize import fold, normalize_email, normalize_phone, tidy
from .i18n import _

_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.I)


def _text(value: Any, field: Any) -> str:
    if not isinstance(value, (str, int, float)):
        raise ValueError(_("Must be text."))
    text = tidy(str(value))  # stored as given
    if len(text) > 1000:
        raise ValueError(_("At most 1000 characters."))
    return text


def _integer(value: Any, field: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(_("Must be a whole number."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(_("Must be a whole number.")) from None
    if number != number.to_integral_value():
        raise ValueError(_("Must be a whole number."))
    return int(number)


def _decimal(value: Any, field: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(_("Must be a number."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(_("Must be a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Must be a finite number."))
    return str(number)


def _boolean(value: Any, field: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "是", "on"}:
        return True
    if text in {"0", "false", "no", "n", "否", "off"}:
        return False
    raise ValueError(_("Must be yes or no."))


def _date(value: Any, field: Any) -> str:
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValueError(_("Must be a date as YYYY-MM-DD.")) from None


def _choice(value: Any, field: Any) -> str:
    if value not in (field.choices or []):
        raise ValueError(_("Must be one of: %(choices)s.", choices=", ".join(map(str, field.choices or []))))
    return str(value)  # one of the choices: a str already


def _multichoice(value: Any, field: Any) -> list[Any]:
    values = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
    bad = [v for v in values if v not in (field.choices or [])]
    if bad:
        raise ValueError(_("Not allowed: %(values)s. Choose from: %(choices)s.", values=", ".join(map(str, bad)), choices=", ".join(map(str, field.choices or []))))
    return values


def _email(value: Any, field: Any) -> str:
    email = normalize_email(str(value))
    if email is None:
        raise ValueError(_("Not a valid e-mail address."))
    return email


def _url(value: Any, field: Any) -> str:
    text = fold(str(value))
    if not _URL.match(text):
        raise ValueError(_("Must be an http(s) URL."))
    return text


def _phone(value: Any, field: Any) -> str:
    phone = normalize_phone(str(value))
    if phone is None:
        raise ValueError(_("Not a valid phone number."))
    return phone


BUILTIN = [
    FieldType("text", _text, "Text"),
    FieldType("integer", _integer, "Whole number"),
    FieldType("decimal", _decimal, "Number"),
    FieldType("boolean", _boolean, "Yes / no"),
    FieldType("date", _date, "Date"),
    FieldType("choice", _choice, "One of a list"),
    FieldType("multichoice", _multichoice, "Several of a list"),
    FieldType("email", _email, "E-mail"),
    FieldType("url", _url, "Web address"),
    FieldType("phone", _phone, "Phone number"),
]
