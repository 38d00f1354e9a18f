"""``/channels/<platform>/<account>/callback``: verify a platform's callback, store its messages through the
inbound pipeline (once), answer the platform. An unknown or unconfigured account is a 404; a forged, stale
or replayed callback is refused and changes nothing (its nonce, its messages and their effects commit
together, so a callback that failed half-way can be retried by the platform).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from . import inbox, wechat
from .accounts import find_account
from .nonces import NONCE_MEMORY, remember_nonce

log = logging.getLogger(__name__)
bp = Blueprint("channel_callbacks", __name__, url_prefix="/channels")
def _wechat(ctx: ServiceContext, row: Any) -> Any:
    settings = wechat.Settings.of(row)
    if not settings.accepts_callbacks():
        return jsonify({"error": "unknown account"}), 404

    def nonces(nonce: str) -> bool:
        return remember_nonce(ctx, "wechat", row.account, nonce, keep=max(NONCE_MEMORY, 2 * settings.replay_window))

    if request.method == "GET":
        wechat.check_signature(settings, request.args, nonces)
        ctx.session.commit()
        return str(request.args.get("echostr", "")), 200, {"Content-Type": "text/plain"}
    with unit_of_work(ctx):  # the nonce, the message and its effects: one transaction, one commit
        xml = wechat.open_body(settings, request.args, request.get_data(cache=True), nonces)
        item = wechat.parse(row.account, xml)
        replies: list[str] = []
        stored = inbox.receive(ctx, item, replies)
    if stored is not None and item.event == "subscribe" and settings.welcome_text:
        replies.insert(0, settings.welcome_text)
    if replies:  # one passive reply: the welcome, then what the scanned QR code did
        return wechat.passive_reply(settings, item, "\n\n".join(replies)), 200, {"Content-Type": "application/xml"}
    return "success", 200, {"Content-Type": "text/plain"}


def _sms(ctx: ServiceContext, row: Any) -> Any:
    from .wiring import sms_callback

    return sms_callback(ctx, row)


def _wecom(ctx: ServiceContext, row: Any) -> Any:
    from .wiring import wecom_callback

    return wecom_callback(ctx, row)


HANDLERS = {"wechat": _wechat, "sms": _sms, "wecom": _wecom}


@bp.route("/<platform>/<account>/callback", methods=["GET", "POST"])
def callback(platform: str, account: str) -> Any:
    rt = current_app.extensions["crm"]
    handler = HANDLERS.get(platform)
    if handler is None:
        return jsonify({"error": "unknown account"}), 404
    ctx = rt.context(source=f"channel:{platform}", session=rt.db.new_session())
    try:
        row = find_account(ctx, platform, account)
        if row is None:
            return jsonify({"error": "unknown account"}), 404
        return handler(ctx, row)
    except wechat.Rejected as exc:
        ctx.session.rollback()
        log.warning("channel callback to %s/%s refused: %s", platform, account, exc.reason)
        return jsonify({"error": exc.reason}), exc.status
    finally:
        ctx.session.close()
