"""HTTP helpers of the API: the request's service context, ETags from versions, If-Match, pagination envelopes."""
from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from ..errors import AuthenticationRequired, ValidationError
from ..i18n import _


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
