"""The ``dingtalk`` provider: DingTalk OA approval (workflow API v1.0) and its encrypted callbacks.

API (api.dingtalk.com): ``POST /v1.0/oauth2/accessToken`` (appKey, appSecret) ->
``accessToken``, sent as header ``x-acs-dingtalk-access-token``; ``POST
/v1.0/workflow/processInstances`` (processCode, originatorUserId, deptId, formComponentValues)
-> ``instanceId``; ``GET /v1.0/workflow/processInstances?processInstanceId=`` -> ``result``
with ``status`` NEW/RUNNING/TERMINATED/COMPLETED/CANCELED and ``result`` agree/refuse;
``POST /v1.0/workflow/processInstances/terminate``; ``POST
/v1.0/workflow/processes/instanceIds/query`` (to find an instance after an unknown create
outcome: DingTalk has no idempotent create, so our key travels in a form field and is matched).
Callbacks (``bpms_instance_change``): query ``signature``/``msg_signature``, ``timestamp`` (ms),
``nonce``, body ``{"encrypt": ...}``; the reply is the encrypted word ``success``.
"""
from __future__ import annotations

import json
import secrets as pysecrets
from typing import Any, Callable

from flask import jsonify

from crmcore.errors import FatalAdapterError, RetriableAdapterError

from .. import crypto
from .base import TOKENS, CallbackRejected, OACallbackEvent, OAProvider, OAState, describe

KEY_FIELD = "CRM key"


def normalise(status: str | None, result: str | None) -> str:
    status, result = (status or "").upper(), (result or "").lower()
    if status in ("NEW", "RUNNING"):
        return "pending"
    if status == "COMPLETED":
        return {"agree": "approved", "refuse": "rejected"}.get(result, "unknown")
    if status == "CANCELED":
        return "withdrawn"
    if status == "TERMINATED":
        return "terminated"
    if status in ("REVOKE", "REVOKED"):
        return "revoked"
    return "unknown"


class DingTalkProvider(OAProvider):
    name = "dingtalk"
    label = "DingTalk approval"
    config_fields = ("base_url", "app_key", "process_code", "dept_id", "replay_window")
    secret_fields = ("app_secret", "token", "aes_key")
    callback_settings = ("app_key", "token", "aes_key")

    @property
    def base(self) -> str:
        return str(self.config.get("base_url") or "https://api.dingtalk.com").rstrip("/")

    def _token(self) -> str:
        def fetch() -> tuple[str, int]:
            data = self.request_json("POST", f"{self.base}/v1.0/oauth2/accessToken",
                                     json={"appKey": self.setting("app_key"),
                                           "appSecret": self.setting("app_secret", secret=True)})
            if not data or not data.get("accessToken"):
                raise FatalAdapterError(f"dingtalk: no access token: {data}")
            return data["accessToken"], int(data.get("expireIn") or 7200)

        return TOKENS.get(("dingtalk", self.base, str(self.config.get("app_key"))), fetch, self.clock)

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        url = f"{self.base}{path}"
        for attempt in (1, 2):
            try:
                response = self.http.request(method, url, timeout=self.timeout,
                                             headers={"x-acs-dingtalk-access-token": self._token()}, **kwargs)
            except requests.RequestException as exc:
                raise RetriableAdapterError(f"dingtalk: {describe(exc)}") from exc
            if response.status_code == 401 and attempt == 1:
                TOKENS.forget(("dingtalk", self.base, str(self.config.get("app_key"))))
                continue
            if response.status_code >= 500 or response.status_code == 429:
                raise RetriableAdapterError(f"dingtalk: HTTP {response.status_code}")
            if response.status_code >= 400:
                raise FatalAdapterError(f"dingtalk: HTTP {response.status_code}: {response.text[:300]}")
            return response.json()
        raise FatalAdapterError("dingtalk: the access token was refused twice")

    def submit(self, submission: dict[str, Any]) -> OAState:
        values = [{"name": str(k), "value": "" if v is None else str(v)} for k, v in (submission.get("form") or {}).items()]
        values.append({"name": KEY_FIELD, "value": submission["idempotency_key"]})
        data = self._api("POST", "/v1.0/workflow/processInstances", json={
            "processCode": submission.get("template") or self.setting("process_code"),
            "originatorUserId": submission.get("requester"), "deptId": int(self.config.get("dept_id") or -1),
            "formComponentValues": values})
        return OAState(external_id=str(data["instanceId"]), status="pending", raw=data)

    def fetch(self, external_id: str) -> OAState:
        data = self._api("GET", "/v1.0/workflow/processInstances", params={"processInstanceId": external_id})
        inst = (data or {}).get("result") or {}
        decisions = [{"approver": r.get("userId"), "decision": {"AGREE": "approved", "REFUSE": "rejected"}.get(r.get("result"), r.get("result")),
                      "comment": r.get("remark"), "at": r.get("date")}
                     for r in inst.get("operationRecords") or [] if r.get("type") == "EXECUTE_TASK_NORMAL"]
        return OAState(external_id=external_id, status=normalise(inst.get("status"), inst.get("result")),
                       decisions=decisions, raw=inst)

    def find(self, idempotency_key: str) -> OAState | None:
        now_ms = int(self.clock() * 1000)
        token: Any = 0
        for _page in range(20):
            data = self._api("POST", "/v1.0/workflow/processes/instanceIds/query", json={
                "processCode": self.setting("process_code"), "startTime": now_ms - 7 * 86400 * 1000, "endTime": now_ms,
                "nextToken": token, "maxResults": 20})
            result = (data or {}).get("result") or {}
            for instance_id in result.get("list") or []:
                state = self.fetch(instance_id)
                form = {f.get("name"): f.get("value") for f in state.raw.get("formComponentValues") or []}
                if form.get(KEY_FIELD) == idempotency_key:
                    return state
            token = result.get("nextToken")
            if not token:
                return None
        return None

    def cancel(self, external_id: str) -> None:
        self._api("POST", "/v1.0/workflow/processInstances/terminate",
                  json={"processInstanceId": external_id, "isSystem": True, "remark": "withdrawn in the CRM"})

    # ---- callbacks ------------------------------------------------------------------------------
    def _decrypt(self, request: Any, remember_nonce: Callable[[str], bool] | None) -> dict[str, Any]:
        args = request.args
        signature = args.get("msg_signature") or args.get("signature") or ""
        ts, nonce = args.get("timestamp") or args.get("timeStamp") or "", args.get("nonce") or ""
        try:
            encrypted = json.loads(request.get_data(cache=True) or b"{}")["encrypt"]
            crypto.verify_sha1(self.setting("token", secret=True), ts, nonce, encrypted, signature)
        except crypto.CryptoError:  # before ValueError: it is one
            raise CallbackRejected("bad signature") from None
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("the body is not a DingTalk callback", 400) from None
        self.mark_signed()
        self.check_timestamp(ts)
        self.check_nonce(nonce, remember_nonce)
        try:
            return json.loads(crypto.wx_decrypt(self.setting("aes_key", secret=True), encrypted,
                                                str(self.setting("app_key"))))
        except (crypto.CryptoError, ValueError):
            raise CallbackRejected("cannot decrypt") from None

    def handshake(self, request: Any) -> Any:
        return None  # DingTalk's URL check ("check_url") is an ordinary callback; see parse_callback

    def parse_callback(self, request: Any, remember_nonce: Callable[[str], bool]) -> list[OACallbackEvent]:
        event = self._decrypt(request, remember_nonce)
        kind = str(event.get("EventType") or "")
        if kind != "bpms_instance_change":
            return []  # check_url and task events need only the acknowledgement
        instance = str(event.get("processInstanceId") or "")
        status = f"{event.get('type') or ''}:{event.get('result') or ''}"
        return [OACallbackEvent(dedupe_key=f"dingtalk:{instance}:{kind}:{status}", external_id=instance,
                                event_type=kind, status_hint=status, payload=event)]

    def acknowledge(self, events: list[OACallbackEvent]) -> Any:
        aes_key, token = self.setting("aes_key", secret=True), self.setting("token", secret=True)
        encrypted = crypto.wx_encrypt(aes_key, "success", str(self.setting("app_key")))
        ts, nonce = str(int(self.clock() * 1000)), pysecrets.token_hex(8)
        return jsonify({"msg_signature": crypto.sha1_signature(token, ts, nonce, encrypted), "timeStamp": ts,
                        "nonce": nonce, "encrypt": encrypted})
