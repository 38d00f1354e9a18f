"""Field helpers shared by the sales schemas (money, percentages, currencies, the version field)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

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
    def _deserialize(self, value: Any, attr: Any, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        return super()._deserialize(value, attr, data, partial=False, **kwargs)
