"""Marshmallow fields whose rules are read from the model's column: length, choices, nullability.

A schema declares ``name = text(Customer.name, required=True)`` instead of retyping ``255``: the
length comes from ``String(255)``, the choices from an ``Enum`` or the column's ``info["choices"]``,
and whether ``null`` is allowed from the column. The messages are the catalogue's (zh_CN and en).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP
from typing import Any, Iterable

from marshmallow import ValidationError, fields, validate
from sqlalchemy import Enum, String

from ..i18n import _
from ..normalize import fold

BLANK = _("This field cannot be empty.")


def column_of(attr: Any) -> Any:
    """The one ``Column`` behind a mapped attribute such as ``Customer.name``."""
    columns = attr.property.columns
    if len(columns) != 1:
        raise TypeError(f"{attr} is not a single column")
    return columns[0]


def length_of(attr: Any) -> int | None:
    """The declared length of a text column (``String(255)`` -> 255), None when it has none."""
    kind = column_of(attr).type
    return int(kind.length) if isinstance(kind, String) and kind.length else None


def choices_of(attr: Any) -> tuple[str, ...] | None:
    """The allowed values of a column: an ``Enum``'s, or ``info["choices"]``; None when any value goes."""
    column = column_of(attr)
    if isinstance(column.type, Enum):
        return tuple(column.type.enums)
    choices = column.info.get("choices")
    return tuple(choices) if choices is not None else None


class MaxLength(validate.Validator):
    """At most ``n`` characters, with the same message the database check gives."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.n:
            raise ValidationError([_("At most %(n)s characters.", n=self.n)])
        return value


def not_blank(value: Any) -> Any:
    """A validator: text that is not empty once its outer spaces are trimmed."""
    if isinstance(value, str) and not value.strip():
        raise ValidationError([BLANK])
    return value


class Text(fields.String):
    """A string trimmed of outer white space (``strip``) as it is stored; empty means none (``blank_none``)."""

    def __init__(self, *, strip: bool = True, blank_none: bool = False, **kwargs: Any) -> None:
        self.strip, self.blank_none = strip, blank_none
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)
        if isinstance(result, str) and self.strip:
            result = result.strip()
        return None if self.blank_none and result == "" else result

    def _validate(self, value: Any) -> None:
        if value is not None:  # a blank value turned into None is no value: nothing to check
            super()._validate(value)


def text(attr: Any, *, required: bool = False, strip: bool = True, blank_none: bool = False,
         choices: Iterable[str] | None = None, validators: Iterable[Any] = (), empty: bool = False,
         **kwargs: Any) -> Text:
    """A text field for ``attr``: its column's length and choices; ``null`` as the column allows it.

    A column that cannot be null refuses null and blank text with "This field cannot be empty.", unless
    ``empty`` (the service fills an empty value in, e.g. a label from the name)."""
    column = column_of(attr)
    rules: list[Any] = []
    length = length_of(attr)
    if length:
        rules.append(MaxLength(length))
    allowed = tuple(choices) if choices is not None else choices_of(attr)
    if allowed is not None:
        rules.append(validate.OneOf(allowed, error=_("Must be one of: {choices}.")))
    if not column.nullable and not empty:
        rules.append(not_blank)
        kwargs.setdefault("error_messages", {}).setdefault("null", BLANK)
    kwargs.setdefault("allow_none", bool(column.nullable) or empty)
    kwargs.setdefault("metadata", {})
    if length:
        kwargs["metadata"].setdefault("maxLength", length)
    return Text(strip=strip, blank_none=blank_none, required=required, validate=[*rules, *validators], **kwargs)


class Email(validate.Email):
    """marshmallow's e-mail check, its message (a catalogue lookup) formatted only for an address it refuses:
    marshmallow's formats it first, for every address."""

    def __call__(self, value: str) -> str:
        try:
            return _CHECK_EMAIL(value)
        except ValidationError:
            raise ValidationError(self._format_error(value)) from None


_CHECK_EMAIL = validate.Email(error="-")  # a plain message: nothing to look up


def email(attr: Any, **kwargs: Any) -> Text:
    """The one e-mail rule: a valid address within the column's length; empty means none."""
    kwargs.setdefault("blank_none", True)
    return text(attr, validators=[Email(error=_("Not a valid e-mail address."))], **kwargs)


class Currency(Text):
    """An ISO 4217 currency code (three letters), stored upper case."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)
        if result is None:
            return None
        result = fold(result)  # ＣＮＹ is CNY
        if len(result) != 3 or not result.isascii() or not result.isalpha():
            raise ValidationError([_("Use a three-letter ISO 4217 code such as CNY or USD.")])
        return result.upper()


class Country(Text):
    """An ISO 3166 country code (two letters), stored upper case."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)
        if result is None:
            return None
        result = fold(result)
        if len(result) != 2 or not result.isascii() or not result.isalpha():
            raise ValidationError([_("Use a two-letter ISO country code.")])
        return result.upper()


def Amount(**kwargs: Any) -> fields.Decimal:
    """Money: a decimal string with two places (half up), not below zero."""
    kwargs.setdefault("validate", non_negative)
    return fields.Decimal(as_string=True, places=2, rounding=ROUND_HALF_UP, **kwargs)


def non_negative(value: Any) -> Any:
    """A validator: an amount that is not below zero."""
    if value is not None and value < 0:
        raise ValidationError([_("Must be a non-negative amount.")])
    return value
