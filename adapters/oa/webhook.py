"""The ``webhook`` provider: a generic HTTP OA speaking JSON, signed both ways with HMAC-SHA256.

Protocol (what an OA integrates against; docs/workflows.md has examples):

* CRM -> OA, every request signed: headers ``X-CRM-Timestamp`` (unix seconds), ``X-CRM-Nonce``,
  ``X-CRM-Signature`` = hex HMAC-SHA256(secret, ``timestamp + "\n" + nonce + "\n" + raw body``).
  ``POST {base_url}/approvals`` with ``Idempotency-Key`` -> ``{"id", "status"}`` (a repeat of
  the key returns the same approval); ``GET {base_url}/approvals/{id}`` -> ``{"id", "status",
  "decisions": [{"approver", "decision", "comment", "at"}]}``; ``GET {base_url}/approvals?
  idempotency_key=K`` -> ``{"items": [...]}``; ``POST {base_url}/approvals/{id}/cancel``.
* OA -> CRM callbacks: ``POST /oa/webhook/callback`` with JSON ``{"event_id", "approval_id",
  "status"}`` and the same three headers (``X-OA-Timestamp``, ``X-OA-Nonce``,
  ``X-OA-Signature``) over the raw body. Refused: a bad signature, a timestamp outside the
  replay window, a nonce seen before. The reply is ``{"ok": true}``; the CRM then fetches the
  approval and moves forward only.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets as pysecrets
from typing import Any, Callable
from urllib.parse import quote

from .base import CallbackRejected, OACallbackEvent, OAProvider, OAState, STATES, same


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp \\n nonce \\n body`` (the raw bytes, never re-serialised)."""
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookProvider(OAProvider):
    name = "webhook"
    label = "Generic webhook OA"
    config_fields = ("base_url", "replay_window")
    secret_fields = ("secret",)
    callback_settings = ("secret",)

    def _signed(self, body: bytes) -> dict[str, str]:
        ts, nonce = str(int(self.clock())), pysecrets.token_hex(12)
        return {"X-CRM-Timestamp": ts, "X-CRM-Nonce": nonce,
                "X-CRM-Signature": sign(self.setting("secret", secret=True), ts, nonce, body),
                "Content-Type": "application/json"}

    def _url(self, path: str) -> str:
        return str(self.setting("base_url")).rstrip("/") + path

    def _call(self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None) -> Any:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        return self.request_json(method, self._url(path), data=body or None,
                                 headers={**self._signed(body), **(headers or {})})

    @staticmethod
    def _state(data: dict[str, Any]) -> OAState:
        status = data.get("status")
        return OAState(external_id=str(data["id"]), status=status if status in STATES else "unknown",
                       decisions=list(data.get("decisions") or []), raw=data)

    def submit(self, submission: dict[str, Any]) -> OAState:
        data = self._call("POST", "/approvals", submission, {"Idempotency-Key": submission["idempotency_key"]})
        return self._state(data)

    def fetch(self, external_id: str) -> OAState:
        data = self._call("GET", f"/approvals/{quote(str(external_id), safe='')}")
        if data is None:
            return OAState(external_id=str(external_id), status="unknown")
        return self._state(data)

    def find(self, idempotency_key: str) -> OAState | None:
        data = self._call("GET", f"/approvals?idempotency_key={quote(idempotency_key, safe='')}") or {}
        items = data.get("items") or []
        return self._state(items[0]) if items else None

    def cancel(self, external_id: str) -> None:
        self._call("POST", f"/approvals/{quote(str(external_id), safe='')}/cancel", {})

    def parse_callback(self, request: Any, remember_nonce: Callable[[str], bool]) -> list[OACallbackEvent]:
        body = request.get_data(cache=True)
        ts = request.headers.get("X-OA-Timestamp", "")
        nonce = request.headers.get("X-OA-Nonce", "")
        signature = request.headers.get("X-OA-Signature", "")
        if not (ts and nonce and signature):
            raise CallbackRejected("missing signature headers")
        if not same(sign(self.setting("secret", secret=True), ts, nonce, body), signature):
            raise CallbackRejected("bad signature")
        self.mark_signed()
        self.check_timestamp(ts)
        self.check_nonce(nonce, remember_nonce)
        try:
            data = json.loads(body)
            external_id, status = str(data["approval_id"]), str(data.get("status") or "")
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("the body is not a callback", status=400) from None
        # per event, not per sender: the same approval reaching the same status is one event
        return [OACallbackEvent(dedupe_key=f"webhook:{external_id}:{status}", external_id=external_id,
                                event_type="approval.status", status_hint=status, payload=data)]
