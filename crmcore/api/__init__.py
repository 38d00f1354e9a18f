"""The REST API under /api/v1: token authentication, JSON errors, the core blueprints."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from apispec.ext.marshmallow import MarshmallowPlugin
from .lazyspec import Api
from werkzeug.exceptions import HTTPException

from ..errors import AuthenticationRequired, CRMError, TooManyRequests, as_text
from ..i18n import gettext
from ..messages_marshmallow import install as install_messages
from ..services.users import user_for_token
from . import openapi
from .http import current_ctx as current_ctx  # public: plugins write `from crmcore.api import current_ctx`
from .http import runtime
from ..i18n import _

log = logging.getLogger(__name__)
API_PREFIX = "/api/"


def _authenticate() -> None:
    if not request.path.startswith(API_PREFIX):
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired(_("Send 'Authorization: Bearer <token>'; create one with 'crm token create <user>'."))
    rt = runtime()
    session = rt.db.session()
    user = user_for_token(session, token.strip(), rt.settings)
    g.crm_ctx = rt.context(actor=user, source="api", session=session)
    return None


def _crm_error(exc: CRMError) -> Any:
    if request.path.startswith(API_PREFIX) or exc.status in (401, 403) and request.accept_mimetypes.best == "application/json":
        response = jsonify(exc.to_dict())
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="crm"'
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return exc.message, exc.status


def _http_error(exc: HTTPException) -> Any:
    if not request.path.startswith(API_PREFIX):
        return exc
    data = getattr(exc, "data", None) or {}
    body: dict[str, Any] = {"code": exc.code, "status": exc.name, "message": exc.description}
    if data.get("messages"):
        body["errors"] = _flatten(data["messages"])
        body["message"] = str(_("The request is not valid; see 'errors' for each field."))
    response = jsonify(body)
    response.status_code = exc.code or 500
    for key, value in (data.get("headers") or {}).items():
        response.headers[key] = value
    return response


def _flatten(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs groups errors by location ({"json": {...}}); clients get {field: [messages]},
    each message as text in the reader's language."""
    out: dict[str, Any] = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            out.update(errors)
        else:
            out[f"_{location}"] = errors
    translated: dict[str, Any] = _translate(out)
    return translated


def _translate(value: Any) -> Any:
    if isinstance(value, dict):
        # marshmallow keeps a lone lazy message unwrapped; clients always get a list per field
        return {str(k): _translate(v if isinstance(v, (dict, list, tuple, str)) else [v]) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_translate(v) for v in value]
    if isinstance(value, str):
        return gettext(value)  # webargs' fixed strings; others pass through unchanged
    return as_text(value)


def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    rt = current_app.extensions.get("crm")
    if rt is not None:
        rt.db.session.rollback()
    if request.path.startswith(API_PREFIX):
        response = jsonify({"code": 500, "status": "internal_error",
                            "message": str(_("Something went wrong on our side; it has been logged."))})
        response.status_code = 500
        return response
    return "Internal error; it has been logged.", 500


def schema_name(schema: Any) -> str:
    """OpenAPI component names that stay unique for partial and trimmed variants of a schema."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    if not isinstance(schema, type):
        if schema.partial:
            name += "Patch"
        if schema.exclude:
            name += "Without" + "".join(x.title().replace("_", "") for x in sorted(schema.exclude))
        if schema.only:
            name += "Only" + "".join(x.title().replace("_", "") for x in sorted(schema.only))
    return name


def init_api(app: Flask, blueprints: list[Any]) -> Api:
    app.config.setdefault("API_TITLE", "CRM API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
    install_messages()
    api = Api(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name),
                                "extra_plugins": [openapi.SuccessResponsePlugin()]})
    api.when_built(openapi.install)  # the converter exists once the document is built (on first use)
    app.before_request(_authenticate)
    app.register_error_handler(CRMError, _crm_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    from . import customers, contacts, interactions, custom_fields, users
    from . import approvals, identities, jobs, meta, workflow

    for module in (customers, contacts, interactions, custom_fields, users, workflow, approvals, meta, jobs, identities):
        api.register_blueprint(module.blp)
    for bp in blueprints:
        if hasattr(bp, "_docs") or type(bp).__module__.startswith("flask_smorest"):
            api.register_blueprint(bp)
        else:
            app.register_blueprint(bp)
    return api
