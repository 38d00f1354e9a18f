"""Field helpers shared by the sales schemas (money, percentages, currencies, the version field)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.i18n import _

_str = lambda n, **kw: fields.Str(validate=validate.Length(max=n), **kw)  # noqa: E731
Money = lambda **kw: fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731
Pct = lambda **kw: fields.Decimal(as_string=True, places=2, validate=validate.Range(min=0, max=100), **kw)  # noqa: E731
Currency = lambda **kw: fields.Str(validate=validate.Regexp(r"^[A-Za-z]{3}$", error=_("Use a three-letter code.")), **kw)  # noqa: E731
VERSION = {"description": "Version you read; a stale one gives 409"}


class VersionMixin(Schema):
    version = fields.Int(metadata=VERSION)
