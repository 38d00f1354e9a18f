"""The ``feishu`` provider: Feishu/Lark Approval v4 and its encrypted, signed event callbacks.

API (open.feishu.cn): ``POST /open-apis/auth/v3/tenant_access_token/internal`` (app_id,
app_secret); ``POST /open-apis/approval/v4/instances`` (approval_code, user_id, form as a JSON
string, ``uuid`` = our idempotency key; a repeated uuid answers code 60012);
``GET /open-apis/approval/v4/instances/:code``; ``GET /open-apis/approval/v4/instances``
(approval_code, start_time, end_time: the instance codes, to find one by uuid);
``POST /open-apis/approval/v4/instances/cancel``. Callbacks: ``{"encrypt": ...}`` AES-256-CBC
with key SHA256(encrypt key); ``X-Lark-Signature`` = SHA256(timestamp + nonce + encrypt key +
raw body); a ``url_verification`` is answered with its challenge; the event's token is checked.
Callbacks need both the encrypt key and the verification token: without them nothing can be
verified, and the endpoint answers 404.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from flask import jsonify

from crmcore.errors import FatalAdapterError, RetriableAdapterError

from .. import crypto
from .base import TOKENS, CallbackRejected, OACallbackEvent, OAProvider, OAState, same

STATUS = {"PENDING": "pending", "APPROVED": "approved", "REJECTED": "rejected", "CANCELED": "withdrawn",
          "DELETED": "terminated", "REVERTED": "revoked"}
DUPLICATE_UUID = 60012
TOKEN_INVALID = (99991663, 99991664, 99991668)


class FeishuProvider(OAProvider):
    name = "feishu"
    label = "Feishu / Lark approval"
    config_fields = ("base_url", "app_id", "approval_code", "replay_window")
    secret_fields = ("app_secret", "encrypt_key", "verification_token")
    callback_settings = ("encrypt_key", "verification_token")

    @property
    def base(self) -> str:
        return str(self.config.get("base_url") or "https://open.feishu.cn").rstrip("/")

    def _token(self) -> str:
        def fetch() -> tuple[str, int]:
            data = self.request_json("POST", f"{self.base}/open-apis/auth/v3/tenant_access_token/internal",
                                     json={"app_id": self.setting("app_id"),
                                           "app_secret": self.setting("app_secret", secret=True)})
            if not data or data.get("code") != 0:
                raise FatalAdapterError(f"feishu: no tenant token: {data and data.get('msg')}")
            return data["tenant_access_token"], int(data.get("expire") or 7200)

        return TOKENS.get(("feishu", self.base, str(self.config.get("app_id"))), fetch, self.clock)

    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in (1, 2):
            data = self.request_json(method, f"{self.base}{path}",
                                     headers={"Authorization": f"Bearer {self._token()}"}, **kwargs) or {}
            if data.get("code") in TOKEN_INVALID and attempt == 1:
                TOKENS.forget(("feishu", self.base, str(self.config.get("app_id"))))
                continue
            return data
        return data

    def submit(self, submission: dict[str, Any]) -> OAState:
        form = [{"id": key, "type": "input", "value": "" if value is None else str(value)}
                for key, value in (submission.get("form") or {}).items()]
        data = self._api("POST", "/open-apis/approval/v4/instances", json={
            "approval_code": submission.get("template") or self.setting("approval_code"),
            "user_id": submission.get("requester"), "form": json.dumps(form, ensure_ascii=False),
            "uuid": submission["idempotency_key"]})
        if data.get("code") == DUPLICATE_UUID:
            found = self.find(submission["idempotency_key"])
            if found is not None:
                return found
            raise RetriableAdapterError("feishu: the uuid exists but the instance is not listed yet")
        if data.get("code") != 0:
            raise FatalAdapterError(f"feishu: create failed: {data.get('code')} {data.get('msg')}")
        return OAState(external_id=data["data"]["instance_code"], status="pending", raw=data["data"])

    def fetch(self, external_id: str) -> OAState:
        data = self._api("GET", f"/open-apis/approval/v4/instances/{external_id}")
        if data.get("code") != 0:
            raise RetriableAdapterError(f"feishu: get failed: {data.get('code')} {data.get('msg')}")
        inst = data["data"]
        decisions = [{"approver": t.get("user_id"), "decision": {"PASS": "approved", "REJECT": "rejected"}.get(t.get("type"), t.get("type")),
                      "comment": t.get("comment"), "at": t.get("create_time")}
                     for t in inst.get("timeline") or [] if t.get("type") in ("PASS", "REJECT")]
        return OAState(external_id=external_id, status=STATUS.get(inst.get("status"), "unknown"), decisions=decisions,
                       raw=inst)

    def find(self, idempotency_key: str) -> OAState | None:
        now_ms = int(self.clock() * 1000)
        data = self._api("GET", "/open-apis/approval/v4/instances", params={
            "approval_code": self.setting("approval_code"), "start_time": now_ms - 7 * 86400 * 1000,
            "end_time": now_ms, "page_size": 100})
        for code in (data.get("data") or {}).get("instance_code_list") or []:
            state = self.fetch(code)
            if state.raw.get("uuid") == idempotency_key:
                return state
        return None

    def cancel(self, external_id: str) -> None:
        state = self.fetch(external_id)
        data = self._api("POST", "/open-apis/approval/v4/instances/cancel", json={
            "approval_code": state.raw.get("approval_code") or self.setting("approval_code"),
            "instance_code": external_id, "user_id": state.raw.get("user_id")})
        if data.get("code") != 0 and state.status == "pending":
            raise FatalAdapterError(f"feishu: cancel failed: {data.get('code')} {data.get('msg')}")

    # ---- callbacks ------------------------------------------------------------------------------
    def _decrypted(self, request: Any) -> dict[str, Any]:
        """The decrypted event of ``{"encrypt": ...}`` carrying our verification token. A plaintext
        body is refused: with the encrypt key set, Feishu encrypts everything it sends. Every failure
        has the same reason, so nothing can be learnt about the ciphertext (no padding oracle)."""
        try:
            data = json.loads(request.get_data(cache=True) or b"{}")
            plain = json.loads(crypto.feishu_decrypt(self.setting("encrypt_key", secret=True), str(data["encrypt"])))
            header = plain.get("header") if isinstance(plain.get("header"), dict) else {}
            token = plain.get("token") or header.get("token")
        except (crypto.CryptoError, ValueError, KeyError, TypeError, AttributeError):
            raise CallbackRejected("not a valid Feishu callback") from None
        if not same(str(token or ""), self.setting("verification_token", secret=True)):
            raise CallbackRejected("not a valid Feishu callback")
        return plain

    def _verify(self, request: Any, remember_nonce: Callable[[str], bool] | None) -> None:
        """``X-Lark-Signature`` over the raw body, the timestamp window and the nonce."""
        ts = request.headers.get("X-Lark-Request-Timestamp", "")
        nonce = request.headers.get("X-Lark-Request-Nonce", "")
        signature = request.headers.get("X-Lark-Signature", "")
        if not (ts and nonce and signature):
            raise CallbackRejected("missing signature headers")
        try:
            crypto.verify_feishu(ts, nonce, self.setting("encrypt_key", secret=True), request.get_data(cache=True),
                                 signature)
        except crypto.CryptoError:
            raise CallbackRejected("bad signature") from None
        self.mark_signed()
        self.check_timestamp(ts)
        self.check_nonce(nonce, remember_nonce)

    def handshake(self, request: Any) -> Any:
        """Feishu's URL check: an encrypted ``url_verification`` with our token. The platform does not
        sign this one request (its docs exclude it from the signature check); when it is signed, the
        signature, window and nonce are checked as for any callback. Answering changes nothing."""
        if request.method != "POST" or request.headers.get("X-Lark-Signature"):
            return None  # signed: parse_callback verifies it, a signed challenge is answered there
        data = self._decrypted(request)
        if data.get("type") != "url_verification":
            raise CallbackRejected("missing signature headers")
        return jsonify({"challenge": str(data.get("challenge") or "")})

    def parse_callback(self, request: Any, remember_nonce: Callable[[str], bool]) -> list[OACallbackEvent]:
        self._verify(request, remember_nonce)
        data = self._decrypted(request)
        if data.get("type") == "url_verification":
            self.challenge = str(data.get("challenge") or "")
            return []
        event = data.get("event") if isinstance(data.get("event"), dict) else {}
        header = data.get("header") if isinstance(data.get("header"), dict) else {}
        event_type = str(header.get("event_type") or event.get("type") or "")
        instance = event.get("instance_code")
        if not instance:
            return []
        status = str(event.get("status") or "")
        return [OACallbackEvent(dedupe_key=f"feishu:{instance}:{event_type}:{status}", external_id=str(instance),
                                event_type=event_type[:64] or "approval_instance", status_hint=status, payload=event)]

    def acknowledge(self, events: list[OACallbackEvent]) -> Any:
        challenge = getattr(self, "challenge", None)
        return jsonify({"challenge": challenge} if challenge is not None else {"msg": "success"})
