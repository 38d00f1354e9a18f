"""POST /api/v1/service/intake: one raw RFC 822 message (``Content-Type: message/rfc822``) in the body."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.errors import ValidationError
from crmcore.i18n import _

from ..services.intake import intake

blp = Blueprint("service_intake", __name__, url_prefix="/api/v1/service", description="Service: e-mail intake")


@blp.route("/intake", methods=["POST"])
def intake_message() -> Any:
    """Feed one e-mail message: a new ticket or a reply threaded onto its ticket"""
    request.max_content_length = current_app.config["MAX_UPLOAD_BYTES"]  # a message with its attachments
    raw = request.get_data(cache=False)
    if not raw:
        raise ValidationError(_("Send the raw message as the request body (Content-Type: message/rfc822)."))
    result = intake(current_ctx(), raw)
    return result.to_dict(), 201 if result.status == "created" else 200
