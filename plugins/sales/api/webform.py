"""The public web-form endpoint: POST /sales/forms/lead from the company's website.

Not under /api (no API token): a form key from the ``SALES_WEB_FORM_KEYS`` setting (a list, or
comma-separated) identifies the form; without configured keys the endpoint is off (404). A
filled honeypot field ``website_url`` is accepted silently and dropped. The lead is created as
the system with source channel ``web``; the answer reveals nothing about existing records.

Every POST counts against its client address (the core's database-backed rate limit, shared by
all workers): over ``SALES_WEB_FORM_RATE_LIMIT`` posts (default 10; 0 turns it off) per
``SALES_WEB_FORM_RATE_WINDOW`` seconds (default 3600) the answer is 429 with ``Retry-After``.
"""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from crmcore.config import setting_int
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.services import ratelimit

from ..services.leads import create_lead

bp = Blueprint("sales_webform", __name__, url_prefix="/sales/forms")
FIELDS = ("name", "company", "contact_name", "title", "phone", "email", "wechat", "campaign", "message")
MAX_FIELD = 2000
RATE_LIMIT = 10
RATE_WINDOW = 3600


def _keys() -> list[str]:
    raw = current_app.extensions["crm"].settings.get("SALES_WEB_FORM_KEYS") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [k.strip() for k in raw if k and k.strip()]


def _limited() -> Any:
    """None while this client may post, else the 429 answer saying how long to wait."""
    rt = current_app.extensions["crm"]
    verdict = ratelimit.hit(rt.db, rt.settings, "sales-web-form", request.remote_addr or "unknown",
                            limit=setting_int(rt.settings, "SALES_WEB_FORM_RATE_LIMIT", RATE_LIMIT),
                            window=setting_int(rt.settings, "SALES_WEB_FORM_RATE_WINDOW", RATE_WINDOW, 1))
    if verdict.allowed:
        return None
    minutes = max((verdict.retry_after + 59) // 60, 1)
    message = _("Too many requests from your network. Try again in %(minutes)s minute(s).", minutes=minutes)
    return jsonify({"status": "error", "message": str(message)}), 429, {"Retry-After": str(verdict.retry_after)}


@bp.route("/lead", methods=["POST"])
def web_lead() -> Any:
    keys = _keys()
    if not keys:
        abort(404)
    limited = _limited()
    if limited is not None:
        return limited
    payload = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(payload, dict):
        return jsonify({"status": "error", "message": str(_("Send a form or a JSON object."))}), 400
    key = str(payload.get("form_key") or request.headers.get("X-Form-Key") or "")
    if not any(hmac.compare_digest(key, k) for k in keys):
        return jsonify({"status": "error", "message": str(_("Unknown form."))}), 403
    if payload.get("website_url"):
        return jsonify({"status": "ok"}), 201  # a bot filled the hidden field
    data = {k: str(payload[k])[:MAX_FIELD] for k in FIELDS if payload.get(k) not in (None, "")}
    rt = current_app.extensions["crm"]
    ctx = rt.context(source="web-form", session=rt.db.new_session())
    try:
        create_lead(ctx, data, source_channel="web")
    except ValidationError as exc:
        return jsonify({"status": "error", "message": exc.message, "errors": exc.errors}), 422
    finally:
        ctx.session.close()
    return jsonify({"status": "ok"}), 201
