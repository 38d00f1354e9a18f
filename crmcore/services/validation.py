"""Loading an entity's schema inside its service: the one validation the API, admin, importer and sync share."""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from ..errors import ValidationError
from ..i18n import _, gettext
from ..schemas import compiled


def messages_text(value: Any) -> Any:
    """Messages as text in the reader's language: lazy ones rendered, marshmallow's fixed English ones looked up."""
    if isinstance(value, dict):
        return {str(k): messages_text(v if isinstance(v, (dict, list, tuple)) else [v]) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [messages_text(v) for v in value]
    return gettext(value) if isinstance(value, str) else str(value)


Check = Callable[[dict[str, Any]], dict[str, list[Any]]]


def _loadable(schema: Schema) -> frozenset[str]:
    """The keys ``schema`` loads, worked out once per schema instance (a bulk import loads thousands of rows)."""
    try:
        keys: frozenset[str] = schema.__dict__["_crm_loadable"]
    except KeyError:
        keys = schema.__dict__["_crm_loadable"] = frozenset(
            field.data_key or name for name, field in schema.fields.items() if not field.dump_only)
    return keys


def load(schema: Schema, data: Any, *, partial: bool, message: Any, check: Check | None = None) -> dict[str, Any]:
    """``data`` checked and converted by ``schema`` (``partial``: only the fields given, for an update).

    ``check`` adds the errors of rules the schema cannot judge alone (a phone number of the configured
    region, a record that must exist) for the values that loaded, so one answer names every bad field.
    Keys the schema does not load (a service's own arguments such as ``source``) pass through
    unchanged for the service to handle. Bad values raise :class:`crmcore.errors.ValidationError`
    with ``message`` and ``{field: [messages]}``, in the reader's language."""
    if not isinstance(data, dict):
        raise ValidationError(message, errors={"_schema": [_("Give the fields as an object.")]})
    loadable = _loadable(schema)
    rest = {k: v for k, v in data.items() if k not in loadable}
    try:
        loaded = compiled.load(schema, {k: v for k, v in data.items() if k in loadable}, partial=partial)
    except SchemaError as exc:
        valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        extra = check(valid) if check is not None else {}
        raise ValidationError(message, errors=messages_text({**extra, **exc.messages_dict})) from None
    errors = check(loaded) if check is not None else {}
    if errors:
        raise ValidationError(message, errors=messages_text(errors))
    return {**rest, **loaded}


def invalid_fields(schema: Schema, data: dict[str, Any], check: Check | None = None) -> dict[str, list[str]]:
    """Which of ``data``'s fields :func:`load` would refuse (``partial``), and why: for a caller that stores
    the rest, such as the ERP sync keeping a value the CRM refuses as a sync issue."""
    try:
        load(schema, data, partial=True, message="", check=check)
    except ValidationError as exc:
        return exc.errors
    return {}


def flat_errors(errors: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """Nested schema errors (``{"tiers": {"0": {"mode": [...]}}}``) as dotted paths (``tiers.0.mode``), the
    form the services name the problems of nested definitions in, so each points at its field."""
    out: dict[str, list[Any]] = {}
    for key, value in errors.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            for sub, messages in flat_errors(value, f"{path}.").items():
                out.setdefault(sub, []).extend(messages)
        else:
            out.setdefault(path, []).extend(value if isinstance(value, list) else [value])
    return out


def load_flat(schema: Schema, data: Any, *, partial: bool, message: Any, check: Check | None = None) -> dict[str, Any]:
    """:func:`load` for a nested definition: errors by dotted path (``states.0.name``)."""
    try:
        return load(schema, data, partial=partial, message=message, check=check)
    except ValidationError as exc:
        raise ValidationError(exc.message, errors=flat_errors(exc.errors)) from None
