"""Translated messages for marshmallow's and webargs' own validation errors.

:func:`install` swaps marshmallow's default messages for lazy translations (evaluated when a
request validates input, so in the reader's language). Messages webargs hard-codes are
looked up in the catalogue when the API answers (crmcore.api).
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from .i18n import _

FIELD_MESSAGES: dict[type[Any], dict[str, Any]] = {
    fields.Field: {"required": _("Missing data for required field."), "null": _("Field may not be null."),
                   "validator_failed": _("Invalid value.")},
    fields.String: {"invalid": _("Not a valid string."), "invalid_utf8": _("Not a valid utf-8 string.")},
    fields.Integer: {"invalid": _("Not a valid integer.")},
    fields.Number: {"invalid": _("Not a valid number."), "too_large": _("Number too large.")},
    fields.Decimal: {"special": _("Special numeric values (nan or infinity) are not permitted.")},
    fields.Boolean: {"invalid": _("Not a valid boolean.")},
    fields.DateTime: {"invalid": _("Not a valid date and time."),
                      "invalid_awareness": _("Give a date and time with a time zone (e.g. 2026-11-23T10:00:00+08:00)."),
                      "format": _("Cannot be formatted as a date and time.")},
    fields.Date: {"invalid": _("Not a valid date."), "format": _("Cannot be formatted as a date.")},
    fields.List: {"invalid": _("Not a valid list.")},
    fields.Mapping: {"invalid": _("Not a valid mapping type.")},
}
# fields.Email and fields.Url must keep plain-str "invalid" messages (marshmallow refuses others);
# their English defaults are translated by catalogue lookup when the API answers (crmcore.api).
PLAIN = [_("Not a valid email address."), _("Not a valid URL.")]

# Hard-coded in webargs; translated by lookup when the API answers.
WEBARGS = [_("Invalid JSON body."), _("Unknown field.")]


def install() -> None:
    """Use translated default messages for every marshmallow field and common validators."""
    for cls, messages in FIELD_MESSAGES.items():
        cls.default_error_messages = {**cls.default_error_messages, **messages}
    fields.AwareDateTime.default_error_messages = {**fields.AwareDateTime.default_error_messages,
                                                   **FIELD_MESSAGES[fields.DateTime]}
    validate.OneOf.default_message = _("Must be one of: {choices}.")
    validate.Email.default_message = _("Not a valid email address.")
    validate.URL.default_message = _("Not a valid URL.")
