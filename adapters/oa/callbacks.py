"""``/oa/<provider>/callback``: verify, put events in the inbox (deduplicated), acknowledge fast.

A provider that is not loaded, or not configured to verify callbacks, is the same 404. Every
callback must pass the provider's signature, timestamp-window and nonce checks (nonces are
remembered in the database, so a replay to another worker or process is refused too); a provider
that returns without recording all three is refused as well.

Processing (fetching the authoritative state, moving the request forward) runs after the
reply is sent, and again from the ``approvals.inbox`` job for anything left over.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, request

from crmcore.config import setting_bool
from . import inbox
from .base import CHECKS, CallbackRejected
from .settings import provider as configured_provider

log = logging.getLogger(__name__)
bp = Blueprint("oa_callbacks", __name__, url_prefix="/oa")


def _process_later(rt: Any) -> None:
    ctx = rt.context(source="oa-inbox", session=rt.db.new_session())
    try:
        inbox.process_inbox(ctx)
    except Exception:  # noqa: BLE001 - the job retries what is left
        log.exception("processing OA callbacks failed")
    finally:
        ctx.session.close()


@bp.route("/<provider>/callback", methods=["GET", "POST"])
def callback(provider: str) -> Any:
    rt = current_app.extensions["crm"]
    if provider not in rt.registry.oa_providers or provider == "internal":
        return jsonify({"error": "unknown provider"}), 404
    ctx = rt.context(source=f"oa:{provider}", session=rt.db.new_session())
    try:
        oa = configured_provider(ctx, provider)
        accepts = getattr(oa, "accepts_callbacks", None)
        if accepts is None or not accepts():  # not configured: nothing could be verified
            return jsonify({"error": "unknown provider"}), 404
        keep = oa.nonce_memory()
        oa.nonces = lambda nonce: inbox.remember_nonce(ctx, provider, nonce, keep=keep)
        answer = oa.handshake(request)
        if answer is not None:
            ctx.session.commit()  # the handshake's nonce
            return answer
        if request.method != "POST":
            return jsonify({"error": "POST the callback"}), 405
        events = oa.parse_callback(request, oa.nonces)
        missing = CHECKS - set(getattr(oa, "verified", ()))
        if missing:
            log.error("OA provider %s returned a callback without checking its %s", provider, ", ".join(sorted(missing)))
            raise CallbackRejected("the callback was not verified")
        fresh = [ev for ev in events if inbox.receive_callback(ctx, provider, ev) is not None]
        ctx.session.commit()
        response = make_response(oa.acknowledge(events))
        if fresh and setting_bool(rt.settings, "OA_PROCESS_INLINE", True):  # CRM_OA_PROCESS_INLINE=0 turns it off
            response.call_on_close(lambda: _process_later(rt))
        return response
    except CallbackRejected as exc:
        ctx.session.rollback()
        log.warning("OA callback to %s refused: %s", provider, exc.reason)
        return jsonify({"error": exc.reason}), exc.status
    finally:
        ctx.session.close()
