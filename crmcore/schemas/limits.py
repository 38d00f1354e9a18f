"""Limits every marshmallow field applies to input (API, admin, importer alike): text and integer sizes.

:func:`install` adds them to marshmallow's ``String`` and ``Integer`` fields once, so every schema of the
core, the plugins and third-party plugins gets them: text is at most ``TEXT_MAX`` characters (a shorter
``Length`` validator still applies), holds no NUL and no unpaired surrogate; an integer fits an INTEGER;
a date or time lies in the years 2 to 9998 (at the calendar's edge a time-zone shift overflows).
Values that fit the field but not a shorter database column are refused when saved (:mod:`crmcore.db`).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, has_app_context
from marshmallow import ValidationError, fields

from ..i18n import _

DEFAULT_TEXT_MAX = 65535
FIRST_YEAR, LAST_YEAR = 2, 9998
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # every integer column is an INTEGER; PostgreSQL refuses more, even to compare


def text_max() -> int:
    """The configured ``TEXT_MAX`` of the current app (the default outside a request)."""
    if not has_app_context():  # asked, not tried: a raised error per text field cost a bulk import dearly
        return DEFAULT_TEXT_MAX
    try:
        return int(current_app.extensions["crm"].settings.get("TEXT_MAX") or DEFAULT_TEXT_MAX)
    except KeyError:
        return DEFAULT_TEXT_MAX


def storable_text(value: str) -> bool:
    """Whether ``check_text`` takes ``value`` as it is (no message built: the common case, checked first)."""
    if len(value) > text_max() or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str) -> str:
    """``value`` if it is storable text; a marshmallow ValidationError saying why not."""
    if storable_text(value):
        return value
    limit = text_max()
    if len(value) > limit:
        raise ValidationError(_("At most %(n)s characters.", n=limit))
    if "\x00" in value:
        raise ValidationError(_("Text cannot contain the NUL character."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_("The text contains an unpaired surrogate (\\ud800-\\udfff), which is not a character.")) from None
    return value


def check_integer(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise ValidationError(_("Number too large."))
    return value


def check_date(value: dt.date) -> dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(_("Give a date between the years %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR))
    return value


_installed = False


def install() -> None:
    """Wrap the String, Integer and date fields' deserialisation with the checks above (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    string_deserialize = fields.String._deserialize
    integer_validated = fields.Integer._validated
    temporal_deserialize = fields._TemporalField._deserialize  # DateTime, Aware/NaiveDateTime, Date and Time

    def _deserialize(self: fields.String, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        result = string_deserialize(self, value, attr, data, **kwargs)
        return check_text(result) if isinstance(result, str) else result

    def _validated(self: fields.Integer, value: Any) -> Any:
        result = integer_validated(self, value)
        return check_integer(result) if isinstance(result, int) else result

    def _temporal(self: Any, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        result = temporal_deserialize(self, value, attr, data, **kwargs)
        return check_date(result) if isinstance(result, dt.date) else result  # a datetime is a date too

    fields._TemporalField._deserialize = _temporal  # type: ignore[method-assign]
    fields.String._deserialize = _deserialize  # type: ignore[method-assign]
    fields.Integer._validated = _validated  # type: ignore[method-assign]
