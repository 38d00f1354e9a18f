"""HTTP helpers of the API: the request's service context, ETags from versions, If-Match, pagination envelopes."""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import current_app, g, request
from ..errors import AuthenticationRequired, ValidationError
from ..i18n import _, gettext
from marshmallow import Schema, ValidationError as SchemaError, missing
from werkzeug.exceptions import BadRequest
from ..services.validation import messages_text
from .blueprint import shared_schema


def runtime() -> Any:
    """The application's ``Runtime``."""
    return current_app.extensions["crm"]


def current_ctx() -> Any:
    """The ``ServiceContext`` of the authenticated API request."""
    ctx = g.get("crm_ctx")
    if ctx is None:
        raise AuthenticationRequired(_("Send 'Authorization: Bearer <token>'."))
    return ctx


def etag_of(obj: Any) -> str:
    return f'"{obj.__tablename__}-{obj.id}-v{obj.version}"'


def with_etag(obj: Any, body: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    return body, status, {"ETag": etag_of(obj)}


def expected_version() -> tuple[int | None, bool]:
    """The version the client says it read: from If-Match (412 if stale) or body ``version`` (409)."""
    header = request.headers.get("If-Match")
    if header and header.strip() != "*":
        tag = header.strip()
        tag = tag[2:] if tag.startswith("W/") else tag
        tag = tag.strip('"')
        version = tag.rsplit("-v", 1)[-1]
        if not version.isdigit():
            raise ValidationError(_("The If-Match header is not an ETag this API gave out."),
                                  errors={"If-Match": [_("Send the ETag of the last GET.")]})
        return int(version), True
    body = request.get_json(silent=True) or {}
    if isinstance(body, dict) and body.get("version") is not None:
        try:
            return int(body["version"]), False
        except (TypeError, ValueError):
            raise ValidationError(_("The version is not a number."), errors={"version": [_("Must be an integer.")]}) from None
    return None, False


def page(items: list[Any], total: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"items": items, "total": total, "page": args["page"], "page_size": args["page_size"]}


def cursor_page(result: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The envelope of a large list (a ``ListPage``): ``page`` plus ``total_estimated`` and ``next_cursor``."""
    items, total = result
    return {**page(items, total, args), "total_estimated": result.estimated, "next_cursor": result.next_cursor}


def json_object(schema: Schema) -> dict[str, Any]:
    """The request's JSON object as sent, for a service that validates it (``crmcore.services.validation``):
    400 when the body is no JSON, 422 when it is no object or names a field ``schema`` does not load."""
    body = request.get_json(silent=True)
    if body is None:  # as webargs answers a body it cannot parse
        error = BadRequest(str(_("Invalid JSON body.")))
        error.data = {"messages": {"json": ["Invalid JSON body."]}}  # type: ignore[attr-defined]
        raise error
    if not isinstance(body, dict):
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={"_schema": [_("Give the fields as an object.")]})
    known = {f.data_key or name for name, f in schema.fields.items() if not f.dump_only}
    unknown = sorted(set(body) - known)
    if unknown:  # named with the other fields' errors, as the schema alone finds them
        errors = schema.validate({k: v for k, v in body.items() if k in known})
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={**messages_text(errors), **{k: [_("Unknown field.")] for k in unknown}})
    return body


def json_body(blp: Any, schema: Schema | type[Schema], **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like ``blp.arguments(schema)`` for the OpenAPI document, but the view gets the JSON object as sent:
    the service loads the same schema, so every path (API, admin, importer, sync) has one validation."""
    instance = shared_schema(schema)

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        documented = blp.arguments(instance, **kwargs)(functools.wraps(func)(lambda *a, **k: None))

        @functools.wraps(func)
        def view(*args: Any, **kw: Any) -> Any:
            return func(json_object(instance), *args, **kw)

        view._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return view
    return decorator


def take_id(schema: Schema, data: dict[str, Any], name: str) -> int:
    """Remove and return the id ``data[name]`` as ``schema`` loads it (a required id a view passes apart,
    such as the customer of a new contact); 422 naming the field when it is missing or no id."""
    try:
        return int(schema.fields[name].deserialize(data.pop(name, missing)))
    except SchemaError as exc:
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={name: [gettext(m) if isinstance(m, str) else m for m in exc.messages]}) from None
