"""The ``wecom`` provider: WeCom (WeChat Work) approvals and their encrypted callbacks.

API (qyapi.weixin.qq.com): ``GET /cgi-bin/gettoken?corpid=&corpsecret=`` -> access_token
(errcode 42001/40014: fetch a new one); ``POST /cgi-bin/oa/applyevent`` (creator_userid,
template_id, use_template_approver, apply_data.contents, summary_list) -> ``sp_no``;
``POST /cgi-bin/oa/getapprovaldetail`` {sp_no} -> ``info.sp_status`` 1 pending, 2 approved,
3 rejected, 4 withdrawn, 6 revoked after approval, 7 deleted, 10 paid; ``POST
/cgi-bin/oa/getapprovalinfo`` (to find an application after an unknown create outcome: WeCom
has no idempotent create, so our key travels in the summary and is matched). There is no API
to withdraw an application: a withdrawal in the CRM is recorded and the OA is left alone.
Callbacks: ``GET`` URL check (msg_signature, timestamp, nonce, echostr -> the decrypted echo);
``POST`` XML with ``<Encrypt>``; the event ``sys_approval_change`` carries no form data, so the
state is fetched. The reply is ``success``.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from crmcore.errors import FatalAdapterError, RetriableAdapterError

from .. import crypto
from .base import TOKENS, CallbackRejected, OACallbackEvent, OAProvider, OAState

log = logging.getLogger(__name__)
SP_STATUS = {1: "pending", 2: "approved", 3: "rejected", 4: "withdrawn", 6: "revoked", 7: "terminated", 10: "approved"}
TOKEN_EXPIRED = (40014, 42001)
RETRY_LATER = (-1, 45009)


def _xml(text: str | bytes) -> Any:
    """Parse untrusted XML with defusedxml: any DOCTYPE, entity or external reference is refused by
    the parser itself, whatever the body's encoding (a string check misses UTF-16)."""
    import defusedxml.ElementTree as safe_xml  # here: a web worker that takes no callback never loads the XML parser
    from defusedxml import DefusedXmlException

    try:
        return safe_xml.fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, safe_xml.ParseError, ValueError):
        raise CallbackRejected("the body is not acceptable XML (no DOCTYPE or entities)", 400) from None


class WeComProvider(OAProvider):
    name = "wecom"
    label = "WeCom approval"
    config_fields = ("base_url", "corp_id", "template_id", "replay_window")
    secret_fields = ("corp_secret", "token", "encoding_aes_key")
    callback_settings = ("corp_id", "token", "encoding_aes_key")

    @property
    def base(self) -> str:
        return str(self.config.get("base_url") or "https://qyapi.weixin.qq.com").rstrip("/")

    def _key(self) -> tuple[str, ...]:
        return ("wecom", self.base, str(self.config.get("corp_id")))

    def _token(self) -> str:
        def fetch() -> tuple[str, int]:
            data = self.request_json("GET", f"{self.base}/cgi-bin/gettoken", params={
                "corpid": self.setting("corp_id"), "corpsecret": self.setting("corp_secret", secret=True)}) or {}
            if data.get("errcode") != 0:
                raise FatalAdapterError(f"wecom: no access token: {data.get('errcode')} {data.get('errmsg')}")
            return data["access_token"], int(data.get("expires_in") or 7200)

        return TOKENS.get(self._key(), fetch, self.clock)

    def _api(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            data = self.request_json("POST", f"{self.base}{path}", params={"access_token": self._token()},
                                     json=payload) or {}
            code = data.get("errcode")
            if code in TOKEN_EXPIRED and attempt == 1:
                TOKENS.forget(self._key())
                continue
            if code in RETRY_LATER:
                raise RetriableAdapterError(f"wecom: busy ({code})")
            if code != 0:
                raise FatalAdapterError(f"wecom: {path} failed: {code} {data.get('errmsg')}")
            return data
        raise FatalAdapterError("wecom: the access token was refused twice")

    def submit(self, submission: dict[str, Any]) -> OAState:
        contents = [{"control": "Text", "id": str(k), "value": {"text": "" if v is None else str(v)}}
                    for k, v in (submission.get("form") or {}).items()]
        data = self._api("/cgi-bin/oa/applyevent", {
            "creator_userid": submission.get("requester"),
            "template_id": submission.get("template") or self.setting("template_id"), "use_template_approver": 1,
            "apply_data": {"contents": contents},
            "summary_list": [{"summary_info": [{"text": submission.get("title") or "", "lang": "zh_CN"}]},
                             {"summary_info": [{"text": f"CRM:{submission['idempotency_key']}", "lang": "zh_CN"}]}]})
        return OAState(external_id=str(data["sp_no"]), status="pending", raw=data)

    def fetch(self, external_id: str) -> OAState:
        info = self._api("/cgi-bin/oa/getapprovaldetail", {"sp_no": external_id}).get("info") or {}
        decisions = []
        for node in info.get("sp_record") or []:
            for d in node.get("details") or []:
                if d.get("sp_status") in (2, 3):
                    decisions.append({"approver": (d.get("approver") or {}).get("userid"),
                                      "decision": "approved" if d["sp_status"] == 2 else "rejected",
                                      "comment": d.get("speech"), "at": d.get("sptime")})
        return OAState(external_id=external_id, status=SP_STATUS.get(info.get("sp_status"), "unknown"),
                       decisions=decisions, raw=info)

    def find(self, idempotency_key: str) -> OAState | None:
        now = int(self.clock())
        cursor = ""
        for _page in range(20):
            data = self._api("/cgi-bin/oa/getapprovalinfo", {
                "starttime": str(now - 7 * 86400), "endtime": str(now), "new_cursor": cursor, "size": 100,
                "filters": [{"key": "template_id", "value": self.setting("template_id")}]})
            for sp_no in data.get("sp_no_list") or []:
                state = self.fetch(sp_no)
                texts = [i.get("text") for s in state.raw.get("summary_list") or [] for i in s.get("summary_info") or []]
                if f"CRM:{idempotency_key}" in texts:
                    return state
            cursor = data.get("new_next_cursor") or ""
            if not cursor:
                return None
        return None

    def cancel(self, external_id: str) -> None:
        log.info("wecom has no API to withdraw application %s; withdraw it in WeCom", external_id)

    # ---- callbacks ------------------------------------------------------------------------------
    def _verify(self, request: Any, encrypted: str, remember_nonce: Callable[[str], bool] | None) -> str:
        args = request.args
        ts, nonce = args.get("timestamp", ""), args.get("nonce", "")
        try:
            crypto.verify_sha1(self.setting("token", secret=True), ts, nonce, encrypted, args.get("msg_signature", ""))
        except crypto.CryptoError:
            raise CallbackRejected("bad signature") from None
        self.mark_signed()
        self.check_timestamp(ts)
        self.check_nonce(nonce, remember_nonce)
        try:
            return crypto.wx_decrypt(self.setting("encoding_aes_key", secret=True), encrypted, str(self.setting("corp_id")))
        except crypto.CryptoError:
            raise CallbackRejected("cannot decrypt") from None

    def handshake(self, request: Any) -> Any:
        if request.method == "GET" and "echostr" in request.args:
            return self._verify(request, request.args["echostr"], self.nonces), 200, {"Content-Type": "text/plain"}
        return None

    def parse_callback(self, request: Any, remember_nonce: Callable[[str], bool]) -> list[OACallbackEvent]:
        envelope = _xml(request.get_data(cache=True))
        encrypted = envelope.findtext("Encrypt") or ""
        message = _xml(self._verify(request, encrypted, remember_nonce))
        if message.findtext("Event") != "sys_approval_change":
            return []
        info = message.find("ApprovalInfo")
        sp_no = (info.findtext("SpNo") if info is not None else "") or ""
        status = (info.findtext("SpStatus") if info is not None else "") or ""
        change = (info.findtext("StatuChangeEvent") if info is not None else "") or ""
        return [OACallbackEvent(dedupe_key=f"wecom:{sp_no}:sys_approval_change:{status}:{change}", external_id=sp_no,
                                event_type="sys_approval_change", status_hint=status,
                                payload={"SpNo": sp_no, "SpStatus": status, "StatuChangeEvent": change})]

    def acknowledge(self, events: list[OACallbackEvent]) -> Any:
        return "success", 200, {"Content-Type": "text/plain"}
