"""An OA provider's settings schema, from its ``config_fields`` and ``secret_fields``: URL, number and length rules by field name."""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.i18n import _
from crmcore.schemas.columns import MaxLength, Text

MAX_VALUE = 255  # characters of a plain setting (an app key, a template id)
MAX_SECRET = 1024  # characters of a secret


def _url() -> fields.Field:
    return Text(blank_none=True, allow_none=True, validate=[MaxLength(MAX_VALUE), validate.URL(
        schemes={"http", "https"}, require_tld=False, error=_("Not a valid URL."))])


def _seconds() -> fields.Field:
    def check(value: Any) -> Any:
        if value is not None and not 1 <= value <= 86_400:
            raise ValidationError([_("Use a whole number from %(low)s to %(high)s.", low=1, high=86_400)])
        return value
    return fields.Int(allow_none=True, validate=check)


# The rule of a config field by its name; any other config field is text of at most MAX_VALUE characters.
RULES: dict[str, Callable[[], fields.Field]] = {
    "base_url": _url,
    "replay_window": _seconds,
    "dept_id": lambda: fields.Int(allow_none=True),
}


def settings_schema(provider: Any) -> Schema:
    """The schema of ``provider``'s settings: its config fields by ``RULES`` (else short text) and its secrets
    as text of at most ``MAX_SECRET`` characters (never repeated in a message)."""
    declared: dict[str, fields.Field] = {
        name: RULES.get(name, lambda: Text(allow_none=True, validate=MaxLength(MAX_VALUE)))()
        for name in getattr(provider, "config_fields", ())}
    declared.update({name: fields.Str(allow_none=True, validate=MaxLength(MAX_SECRET))
                     for name in getattr(provider, "secret_fields", ())})
    return Schema.from_dict(declared, name=f"OASettings_{getattr(provider, 'name', 'provider')}")()
