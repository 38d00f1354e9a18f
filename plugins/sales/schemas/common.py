"""Field helpers shared by the sales schemas (money, percentages, currencies, the version field)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP
from typing import Any

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as FieldError

from crmcore.i18n import _

_str = lambda n, **kw: fields.Str(validate=validate.Length(max=n), **kw)  # noqa: E731
Money = lambda **kw: fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731
Pct = lambda **kw: fields.Decimal(as_string=True, places=2, validate=validate.Range(min=0, max=100), **kw)  # noqa: E731
Currency = lambda **kw: fields.Str(validate=validate.Regexp(r"^[A-Za-z]{3}$", error=_("Use a three-letter code.")), **kw)  # noqa: E731
VERSION = {"description": "Version you read; a stale one gives 409"}


class VersionMixin(Schema):
    version = fields.Int(metadata=VERSION)


class Lines(fields.List):
    """A document's lines (``fields.List`` of ``Nested(schema)``), each loaded whole: a change of the
    document (``partial``) still gives every line with its required fields, as the lines replace all."""

    def __init__(self, schema: Any, **kwargs: Any) -> None:
        super().__init__(_WholeNested(schema), **kwargs)


class _WholeNested(fields.Nested):
    loads_whole = True  # the compiled load (crmcore.schemas.compiled) follows this override without it

    def _deserialize(self, value: Any, attr: Any, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        return super()._deserialize(value, attr, data, partial=False, **kwargs)


def _discount(value: Any) -> Any:
    if value is not None and value < 0:
        raise FieldError([_("Must be a non-negative number.")])
    if value is not None and value > 100:
        raise FieldError([_("A discount is at most 100 percent.")])
    return value


def more_than_zero(value: Any) -> Any:
    """A validator: a number more than zero (a quantity of a quote, a payment)."""
    if value is not None and value <= 0:
        raise FieldError([_("Must be more than zero.")])
    return value


def _not_negative(value: Any) -> Any:
    if value is not None and value < 0:
        raise FieldError([_("Must be a non-negative number.")])
    return value


def Discount(**kwargs: Any) -> fields.Decimal:
    """A discount in percent, 0 to 100, two places (half up)."""
    return fields.Decimal(as_string=True, places=2, rounding=ROUND_HALF_UP, validate=_discount, **kwargs)


def Quantity(*, positive: bool = False, **kwargs: Any) -> fields.Decimal:
    """A quantity with three places (half up): not below zero, or more than zero (``positive``)."""
    return fields.Decimal(as_string=True, places=3, rounding=ROUND_HALF_UP,
                          validate=more_than_zero if positive else _not_negative, **kwargs)
