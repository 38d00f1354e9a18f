"""Alibaba Cloud SMS (Dysmsapi 2017-05-25): SendSms/SendBatchSms with the RPC signature, and its HTTP pushes.

Requests are RPC calls: the common parameters (AccessKeyId, Action, Format, RegionId, SignatureMethod
HMAC-SHA1, SignatureNonce, SignatureVersion 1.0, Timestamp, Version) and the action's own, signed as
``Base64(HMAC-SHA1(secret + "&", METHOD + "&" + pe("/") + "&" + pe(canonical query)))`` where the
canonical query is the parameters sorted by name, each ``pe(name)=pe(value)`` joined by ``&``, and ``pe``
is POP percent-encoding (RFC 3986 unreserved characters kept; space ``%20``, ``*`` ``%2A``, ``~`` kept).
Delivery receipts (SmsReport) and replies (SmsUp) arrive as JSON arrays by "HTTP batch push"; Alibaba
does not sign them, so the push URL carries our secret token (``?token=``) and the answer is
``{"code": 0, "msg": "接收成功"}``.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from crmcore.channels import ChannelDown, Outcome, Outgoing
from crmcore.errors import BadRequest
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .base import Inbound
from .sms_common import (beijing_time, check_token, describe, e164, failed, json_body, missing, params_of, phone_address, reply_event,
                  template_of)

ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"
BATCH = 100  # SendBatchSms takes at most 100 numbers
ACK = {"code": 0, "msg": "接收成功"}
# the vendor's error codes: what they mean for one message, for the whole account, or for now
PER_MESSAGE: dict[str, Any] = {
    "isv.MOBILE_NUMBER_ILLEGAL": _("The number is not a valid mobile number."),
    "isv.BUSINESS_LIMIT_CONTROL": _("The vendor's limit of messages to this number was reached."),
    "isv.DAY_LIMIT_CONTROL": _("The vendor's daily limit of messages to this number was reached."),
    "isv.TEMPLATE_MISSING_PARAMETERS": _("The message does not give every parameter of its SMS template."),
    "isv.INVALID_JSON_PARAM": _("The message does not give every parameter of its SMS template."),
    "isv.TEMPLATE_PARAMS_ILLEGAL": _("The message does not give every parameter of its SMS template."),
    "isv.PARAM_LENGTH_LIMIT": _("A parameter of the SMS template is too long."),
    "isv.BLACK_KEY_CONTROL_LIMIT": _("The vendor refused a word in the message."),
    "isv.SMS_TEMPLATE_ILLEGAL": _("The SMS template code is not approved at the vendor."),
    "isv.SMS_SIGNATURE_ILLEGAL": _("The SMS sign name is not approved at the vendor."),
}
ACCOUNT: dict[str, Any] = {
    "InvalidAccessKeyId.NotFound": _("The vendor does not know the AccessKey ID."),
    "InvalidAccessKeyId.Inactive": _("The AccessKey is disabled at the vendor."),
    "SignatureDoesNotMatch": _("The vendor refused the request's signature (check the AccessKey secret)."),
    "isp.RAM_PERMISSION_DENY": _("The AccessKey may not send SMS."),
    "Forbidden.RAM": _("The AccessKey may not send SMS."),
    "InvalidTimeStamp.Expired": _("The vendor refused the request's time: check this server's clock."),
}
WHOLE_BATCH = {"isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL"}  # the same for every message of a batch
DOWN = {"isp.SYSTEM_ERROR", "isv.OUT_OF_SERVICE", "isv.AMOUNT_NOT_ENOUGH", "Throttling", "Throttling.User",
        "Throttling.Api", "ServiceUnavailable", "InternalError", "SignatureNonceUsed"}


def pe(value: Any) -> str:
    """POP percent-encoding: RFC 3986 with only ``A-Z a-z 0-9 - _ . ~`` left as they are."""
    return quote(str(value), safe="~")


def string_to_sign(method: str, params: Mapping[str, Any]) -> str:
    canonical = "&".join(f"{pe(k)}={pe(v)}" for k, v in sorted(params.items()) if k != "Signature")
    return f"{method.upper()}&{pe('/')}&{pe(canonical)}"


def signature(method: str, params: Mapping[str, Any], secret: str) -> str:
    """The RPC ``Signature`` of a request's parameters (every one but ``Signature`` itself)."""
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def local_number(address: str) -> str:
    """Alibaba wants Chinese mainland numbers bare (``13800138000``), others with their country code."""
    digits = address.strip().lstrip("+")
    return digits[2:] if address.startswith("+86") else digits


class AliyunClient:
    """Dysmsapi over HTTPS: one signed POST per call, answers as JSON."""

    def __init__(self, access_key_id: str, secret: str, endpoint: str = ENDPOINT, timeout: float = 10.0,
                 http: Any = None) -> None:
        import requests

        self.access_key_id, self._secret = access_key_id, secret
        self.endpoint, self.timeout = endpoint, timeout
        self.http = http or requests.Session()

    def __repr__(self) -> str:  # never the secret
        return f"<AliyunClient {self.endpoint} {self.access_key_id}>"

    def signed(self, action: str, params: Mapping[str, Any], *, nonce: str | None = None,
               timestamp: str | None = None) -> dict[str, str]:
        full = {"AccessKeyId": self.access_key_id, "Action": action, "Format": "JSON", "RegionId": "cn-hangzhou",
                "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or uuid.uuid4().hex,
                "SignatureVersion": "1.0", "Version": VERSION,
                "Timestamp": timestamp or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{k: str(v) for k, v in params.items()}}
        full["Signature"] = signature("POST", full, self._secret)
        return full

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The answer's JSON (``Code`` ``OK`` or an error code); :class:`ChannelDown` when it cannot be had."""
        import requests

        try:
            response = self.http.post(self.endpoint, data=self.signed(action, params), timeout=self.timeout)
        except requests.RequestException as exc:
            raise ChannelDown(f"Alibaba Cloud SMS: {describe(exc)}") from None
        if response.status_code >= 500:
            raise ChannelDown(f"Alibaba Cloud SMS: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ChannelDown(f"Alibaba Cloud SMS: HTTP {response.status_code}, not JSON") from None
        return data if isinstance(data, dict) else {"Code": "InvalidResponse"}


def reason(code: str, message: str | None = None) -> str:
    """A vendor error code as words for the reader (the code kept in brackets)."""
    text = PER_MESSAGE.get(code) or ACCOUNT.get(code)
    if text is not None:
        return f"{text} ({code})"
    refused = _("Alibaba Cloud SMS refused the message.")
    return f"{refused} ({code}{': ' + message if message else ''})"[:255]


class AliyunSms:
    """The ``sms`` provider on Alibaba Cloud. It reads the SMS channel account through ``ctx.settings``
    (``sms.sms_settings``): ``SMS_ALIYUN_ACCESS_KEY_ID``, ``_ACCESS_KEY_SECRET``, ``_SIGN_NAME``, ``_TEMPLATE``
    (when the message names none), ``_TEMPLATE_PARAM`` (the parameter a plain text fills, ``content``),
    ``_ENDPOINT``, ``_CALLBACK_TOKEN``."""

    channel = "sms"

    def address(self) -> Any:
        return phone_address()

    def configured(self, ctx: ServiceContext) -> str | None:
        return missing(ctx, "aliyun", ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME"))

    def client(self, ctx: ServiceContext) -> AliyunClient:
        s = ctx.settings
        return AliyunClient(str(s["SMS_ALIYUN_ACCESS_KEY_ID"]), str(s["SMS_ALIYUN_ACCESS_KEY_SECRET"]),
                            str(s.get("SMS_ALIYUN_ENDPOINT") or ENDPOINT))

    def _param(self, ctx: ServiceContext, message: Outgoing) -> str | None:
        """TemplateParam as JSON, None when the message has no parameters; ValueError when it cannot be one."""
        params = params_of(message.text)
        if isinstance(params, list):
            raise ValueError(str(_("Alibaba Cloud SMS templates take named parameters: write a JSON object.")))
        if isinstance(params, dict):
            return json.dumps({str(k): "" if v is None else str(v) for k, v in params.items()}, ensure_ascii=False)
        if not params:
            return None
        return json.dumps({str(ctx.settings.get("SMS_ALIYUN_TEMPLATE_PARAM") or "content"): params}, ensure_ascii=False)

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        if (problem := self.configured(ctx)) is not None:
            return failed(messages, problem)
        client, sign = self.client(ctx), str(ctx.settings["SMS_ALIYUN_SIGN_NAME"])
        outcomes: dict[int, Outcome] = {}
        groups: dict[str, list[tuple[Outgoing, str | None]]] = {}
        for m in messages:
            code = template_of(ctx, m, "aliyun")
            if code is None:
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(_(
                    "No SMS template code: write it as the template's subject or give the SMS channel account a default template.")))
                continue
            try:
                groups.setdefault(code, []).append((m, self._param(ctx, m)))
            except ValueError as exc:
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(exc))
        answered = 0  # messages the vendor has answered for
        try:
            for code, items in groups.items():
                for start in range(0, len(items), BATCH):
                    for o in self._send_group(client, sign, code, items[start:start + BATCH]):
                        outcomes[o.recipient_id] = o
                        answered += 1
        except ChannelDown:
            if not answered:
                raise
            # part of the batch went: the rest is retried later with the same message ids
            outcomes.update({m.recipient_id: Outcome(m.recipient_id, False, "retry")
                             for m in messages if m.recipient_id not in outcomes})
        return [outcomes[m.recipient_id] for m in messages]

    def _send_group(self, client: AliyunClient, sign: str, code: str,
                    items: list[tuple[Outgoing, str | None]]) -> Iterator[Outcome]:
        """Outcomes as they come (a failure midway keeps what was sent before it)."""
        if len(items) == 1:
            yield self._send_one(client, sign, code, *items[0])
            return
        data = client.call("SendBatchSms", {
            "PhoneNumberJson": json.dumps([local_number(m.address) for m, _p in items]),
            "SignNameJson": json.dumps([sign] * len(items), ensure_ascii=False),
            "TemplateCode": code,
            **({"TemplateParamJson": json.dumps([json.loads(p or "{}") for _m, p in items], ensure_ascii=False)}
               if any(p for _m, p in items) else {})})
        status = str(data.get("Code") or "")
        if status == "OK":
            yield from (Outcome(m.recipient_id, True) for m, _p in items)
        elif status in DOWN:
            raise ChannelDown(f"Alibaba Cloud SMS: {status}")
        elif status in PER_MESSAGE and status not in WHOLE_BATCH:  # one number or message spoilt it: each alone
            yield from (self._send_one(client, sign, code, m, p) for m, p in items)
        else:
            yield from (Outcome(m.recipient_id, False, reason(status, data.get("Message"))) for m, _p in items)

    def _send_one(self, client: AliyunClient, sign: str, code: str, m: Outgoing, param: str | None) -> Outcome:
        data = client.call("SendSms", {"PhoneNumbers": local_number(m.address), "SignName": sign, "TemplateCode": code,
                                       "OutId": m.message_id[:64], **({"TemplateParam": param} if param else {})})
        status = str(data.get("Code") or "")
        if status == "OK":
            return Outcome(m.recipient_id, True)
        if status in DOWN:
            raise ChannelDown(f"Alibaba Cloud SMS: {status}")
        return Outcome(m.recipient_id, False, reason(status, data.get("Message")))


# ---- pushes -------------------------------------------------------------------------------------


def parse_push(items: Any, sign_name: str, now: dt.datetime | None = None) -> list[Inbound]:
    """SmsReport and SmsUp items (a JSON array, told apart by their fields) as :class:`Inbound`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not isinstance(items, list):
        raise BadRequest(_("The callback is not a JSON array."))
    out: list[Inbound] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("phone_number"):
            raise BadRequest(_("Item %(n)s of the callback has no phone number.", n=index + 1))
        phone = str(item["phone_number"])
        sender = e164(phone) or phone
        if "content" in item:  # SmsUp: a reply
            if item.get("sequence_id") in (None, ""):
                raise BadRequest(_("Item %(n)s of the callback has no id.", n=index + 1))
            out.append(Inbound(platform="sms", account=str(item.get("sign_name") or sign_name), sender=sender,
                               msg_id=f"aliyun:up:{item['sequence_id']}", kind="text",
                               received_at=beijing_time(item.get("send_time"), now), text=str(item["content"]),
                               event=reply_event(str(item["content"])), raw=dict(item)))
        else:  # SmsReport: a delivery receipt
            if not item.get("biz_id"):
                raise BadRequest(_("Item %(n)s of the callback has no id.", n=index + 1))
            delivered = item.get("success") is True or str(item.get("success")).lower() == "true"
            out.append(Inbound(platform="sms", account=sign_name, sender=sender,
                               msg_id=f"aliyun:report:{item['biz_id']}:{phone}", kind="receipt",
                               received_at=beijing_time(item.get("report_time"), now),
                               event="delivered" if delivered else "failed",
                               text=None if delivered else f"{item.get('err_code') or ''} {item.get('err_msg') or ''}".strip(),
                               raw=dict(item)))
    return out


def receive(ctx: ServiceContext, args: Mapping[str, str], body: bytes) -> list[Inbound]:
    """The push endpoint's work: check the URL's token, parse the JSON array; answer with :data:`ACK`."""
    check_token(ctx, "SMS_ALIYUN_CALLBACK_TOKEN", args, body)
    return parse_push(json_body(body), str(ctx.settings.get("SMS_ALIYUN_SIGN_NAME") or ""))
