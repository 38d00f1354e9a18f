"""OpenAPI rules that make the document say what the API answers: decimals as strings, nullable output."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from apispec import BasePlugin
from marshmallow import fields

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


def decimal_as_string(self: Any, field: fields.Field[Any], ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Money and other decimals travel as decimal strings (``"1234.50"``), never as floats."""
    out: dict[str, Any] = {}
    if isinstance(field, fields.Decimal):
        out.update({"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN})
    for key in ("minimum", "maximum"):  # apispec renders a Range of a Decimal field as strings: bounds are numbers
        if key in ret and not isinstance(ret[key], (int, float)):
            out[key] = float(Decimal(str(ret[key])))
    return out


def output_nullable(self: Any, field: fields.Field[Any], ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """An output-only field is null while the record has no value for it (``resolved_at``, ``user_id``)."""
    if field.dump_only and not field.allow_none and "$ref" not in ret and "allOf" not in ret:
        return {"nullable": True}
    return {}


MEDIA_TYPES = {".svg": "image/svg+xml", ".csv": "text/csv"}  # by the path's suffix; anything else answers JSON


class SuccessResponsePlugin(BasePlugin):
    """An operation that declares no success response gets a generic ``2XX`` one: its media type
    (JSON unless the path ends in ``.svg`` or ``.csv``), the body described in its summary."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        media_type = next((t for suffix, t in MEDIA_TYPES.items() if (path or "").endswith(suffix)), "application/json")
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            if not any(str(code).startswith("2") for code in responses):
                content: dict[str, Any] = {} if method == "delete" else {"content": {media_type: {"schema": {}}}}
                responses["2XX"] = {"description": "Success; the body is described in the operation's summary", **content}


def install(api: Any) -> None:
    """Add the rules to the app's flask-smorest ``Api``."""
    converter = api.ma_plugin.converter
    converter.add_attribute_function(decimal_as_string)
    converter.add_attribute_function(output_nullable)
