"""Limits on every request body before any view reads it: size (413), JSON nesting (400), lone surrogates (422)."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import ValidationError
from .i18n import _

MAX_JSON_DEPTH = 64  # conditions and workflows nest a few levels; Python's parser overflows near 1,000
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")  # what json_depth drops (built once, not per body)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for c in brackets:
        depth += 1 if c in (0x5B, 0x7B) else -1
        deepest = max(deepest, depth)
    return deepest


def _has_lone_surrogate(body: bytes) -> bool:
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):  # not JSON: the view's own parser says so
        return False
    return False


def _error(status: int, code: str, message: str) -> Any:
    if request.path.startswith("/api/") or request.is_json:
        response = jsonify({"code": status, "status": code, "message": message})
        response.status_code = status
        return response
    return message, status, {"Content-Type": "text/plain; charset=utf-8"}


def check_body() -> Any:
    """``before_request``: refuse a JSON body nested past ``MAX_JSON_DEPTH`` or with a lone surrogate."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return None
    body = request.get_data(cache=True)  # over the size limit: RequestEntityTooLarge (413)
    if json_depth(body) > MAX_JSON_DEPTH:
        return _error(400, "bad_request", str(_("The JSON body is nested more than %(n)s levels deep.", n=MAX_JSON_DEPTH)))
    if _has_lone_surrogate(body):
        error = ValidationError(_("The text contains an unpaired surrogate (\\ud800-\\udfff), which is not a character."))
        return _error(422, error.code, error.message)
    return None


def too_large(exc: RequestEntityTooLarge) -> Any:
    """413 with the limit in the message, as JSON for the API."""
    limit = request.max_content_length or current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _error(413, "too_large", str(_("The request body is larger than the limit of %(n)s bytes.", n=limit)))


def init_limits(app: Flask, settings: dict[str, Any]) -> None:
    """Cap request bodies at ``MAX_REQUEST_BYTES`` and check JSON bodies before any view runs."""
    app.config["MAX_CONTENT_LENGTH"] = int(settings.get("MAX_REQUEST_BYTES") or 2 * 1024 * 1024)
    app.config["MAX_UPLOAD_BYTES"] = int(settings.get("MAX_UPLOAD_BYTES") or 25 * 1024 * 1024)
    app.before_request(check_body)
    app.register_error_handler(RequestEntityTooLarge, too_large)
