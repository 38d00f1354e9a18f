"""Tencent Cloud SMS (API 3.0 ``SendSms``, version 2021-01-11) with TC3-HMAC-SHA256 signing, and its callbacks.

Signing (Tencent Cloud "Signature v3"): CanonicalRequest = method, ``/``, the query, the signed headers
(``content-type`` and ``host``, lower-case, sorted, ``name:value\\n`` each), their names joined by ``;``
and hex SHA256 of the body, joined by newlines; StringToSign = ``TC3-HMAC-SHA256``, the timestamp,
``<UTC date>/<service>/tc3_request`` and hex SHA256 of the canonical request; the key is derived as
HMAC-SHA256 chained over ``"TC3" + SecretKey``, the date, the service and ``tc3_request``. One request sends
one template with one parameter list to up to 200 numbers and answers per number (``SendStatusSet``).
Delivery status (a JSON array) and replies (a JSON object) are pushed to our URL unsigned, so the URL carries
our secret token (``?token=``); the answer is ``{"result": 0, "errmsg": "OK"}``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from crmcore.channels import ChannelDown, Outcome, Outgoing
from crmcore.errors import BadRequest
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .base import Inbound
from .sms_common import (beijing_time, check_token, describe, e164, failed, json_body, missing, params_of, phone_address, reply_event,
                  template_of)

ENDPOINT = "https://sms.tencentcloudapi.com/"
SERVICE, VERSION = "sms", "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
BATCH = 200  # numbers per SendSms
ACK = {"result": 0, "errmsg": "OK"}
PER_MESSAGE: dict[str, Any] = {
    "InvalidParameterValue.IncorrectPhoneNumber": _("The number is not a valid mobile number."),
    "LimitExceeded.PhoneNumberDailyLimit": _("The vendor's daily limit of messages to this number was reached."),
    "LimitExceeded.PhoneNumberThirtySecondLimit": _("The vendor's limit of messages to this number was reached."),
    "LimitExceeded.PhoneNumberOneHourLimit": _("The vendor's limit of messages to this number was reached."),
    "LimitExceeded.DeliveryFrequencyLimit": _("The vendor's limit of messages to this number was reached."),
    "FailedOperation.PhoneNumberInBlacklist": _("The number opted out or is blocked at the vendor."),
    "FailedOperation.ContainSensitiveWord": _("The vendor refused a word in the message."),
    "InvalidParameterValue.ContentLengthLimit": _("A parameter of the SMS template is too long."),
    "InvalidParameterValue.TemplateParameterFormatError": _("The message does not give every parameter of its SMS template."),
    "FailedOperation.TemplateIncorrectOrUnapproved": _("The SMS template code is not approved at the vendor."),
    "FailedOperation.SignatureIncorrectOrUnapproved": _("The SMS sign name is not approved at the vendor."),
}
ACCOUNT: dict[str, Any] = {
    "AuthFailure.SecretIdNotFound": _("The vendor does not know the SecretId."),
    "AuthFailure.SignatureFailure": _("The vendor refused the request's signature (check the SecretKey)."),
    "AuthFailure.SignatureExpire": _("The vendor refused the request's time: check this server's clock."),
    "AuthFailure.UnauthorizedOperation": _("The key may not send SMS."),
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": _("The SMS application (SmsSdkAppId) is not this account's."),
    "InvalidParameterValue.SdkAppIdNotExist": _("The SMS application (SmsSdkAppId) does not exist."),
}
DOWN_PREFIXES = ("RequestLimitExceeded", "InternalError", "FailedOperation.InsufficientBalanceInSmsPackage",
                 "ResourceUnavailable", "ServiceUnavailable")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def canonical_request(method: str, uri: str, query: str, headers: Mapping[str, str], payload: bytes) -> str:
    names = sorted(k.lower() for k in headers)
    lowered = {k.lower(): str(v).strip().lower() for k, v in headers.items()}
    canonical_headers = "".join(f"{n}:{lowered[n]}\n" for n in names)
    return "\n".join([method.upper(), uri, query, canonical_headers, ";".join(names), _sha256(payload)])


def string_to_sign(service: str, timestamp: int, canonical: str) -> str:
    date = dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc).strftime("%Y-%m-%d")
    return "\n".join(["TC3-HMAC-SHA256", str(int(timestamp)), f"{date}/{service}/tc3_request",
                      _sha256(canonical.encode())])


def tc3_signature(secret_key: str, service: str, timestamp: int, method: str, uri: str, query: str,
                  headers: Mapping[str, str], payload: bytes) -> str:
    """The hex TC3-HMAC-SHA256 signature of a request (``headers``: the signed ones)."""
    date = dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc).strftime("%Y-%m-%d")
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    sts = string_to_sign(service, timestamp, canonical_request(method, uri, query, headers, payload))
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, service: str, timestamp: int, host: str, payload: bytes,
                  content_type: str = CONTENT_TYPE) -> str:
    headers = {"content-type": content_type, "host": host}
    date = dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc).strftime("%Y-%m-%d")
    sig = tc3_signature(secret_key, service, timestamp, "POST", "/", "", headers, payload)
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={sig}")


class TencentClient:
    """SMS API 3.0 over HTTPS: one signed JSON POST per call."""

    def __init__(self, secret_id: str, secret_key: str, region: str = "ap-guangzhou", endpoint: str = ENDPOINT,
                 timeout: float = 10.0, http: Any = None) -> None:
        import requests

        self.secret_id, self._secret_key, self.region = secret_id, secret_key, region
        self.endpoint, self.timeout = endpoint, timeout
        self.http = http or requests.Session()

    def __repr__(self) -> str:  # never the key
        return f"<TencentClient {self.endpoint} {self.secret_id}>"

    def call(self, action: str, payload: dict[str, Any], timestamp: int | None = None) -> dict[str, Any]:
        """``Response`` of the answer (``Error`` in it on a refusal); :class:`ChannelDown` when none comes."""
        import requests

        body = json.dumps(payload, ensure_ascii=False).encode()
        stamp = int(timestamp or time.time())
        host = urlsplit(self.endpoint).netloc
        headers = {"Authorization": authorization(self.secret_id, self._secret_key, SERVICE, stamp, host, body),
                   "Content-Type": CONTENT_TYPE, "Host": host, "X-TC-Action": action, "X-TC-Version": VERSION,
                   "X-TC-Timestamp": str(stamp), "X-TC-Region": self.region}
        try:
            response = self.http.post(self.endpoint, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ChannelDown(f"Tencent Cloud SMS: {describe(exc)}") from None
        if response.status_code >= 500:
            raise ChannelDown(f"Tencent Cloud SMS: HTTP {response.status_code}")
        try:
            data = response.json().get("Response")
        except (ValueError, AttributeError):
            raise ChannelDown(f"Tencent Cloud SMS: HTTP {response.status_code}, not JSON") from None
        return data if isinstance(data, dict) else {"Error": {"Code": "InvalidResponse"}}


def is_down(code: str) -> bool:
    return code.startswith(DOWN_PREFIXES)


def reason(code: str, message: str | None = None) -> str:
    text = PER_MESSAGE.get(code) or ACCOUNT.get(code)
    if text is not None:
        return f"{text} ({code})"
    refused = _("Tencent Cloud SMS refused the message.")
    return f"{refused} ({code}{': ' + message if message else ''})"[:255]


class TencentSms:
    """The ``sms`` provider on Tencent Cloud. It reads the SMS channel account through ``ctx.settings``
    (``sms.sms_settings``): ``SMS_TENCENT_SECRET_ID``, ``_SECRET_KEY``, ``_SDK_APP_ID``, ``_SIGN_NAME``,
    ``_TEMPLATE`` (when the message names none), ``_REGION`` (``ap-guangzhou``), ``_ENDPOINT``, ``_CALLBACK_TOKEN``."""

    channel = "sms"

    def address(self) -> Any:
        return phone_address()

    def configured(self, ctx: ServiceContext) -> str | None:
        return missing(ctx, "tencent", ("SECRET_ID", "SECRET_KEY", "SDK_APP_ID", "SIGN_NAME"))

    def client(self, ctx: ServiceContext) -> TencentClient:
        s = ctx.settings
        return TencentClient(str(s["SMS_TENCENT_SECRET_ID"]), str(s["SMS_TENCENT_SECRET_KEY"]),
                             str(s.get("SMS_TENCENT_REGION") or "ap-guangzhou"), str(s.get("SMS_TENCENT_ENDPOINT") or ENDPOINT))

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        if (problem := self.configured(ctx)) is not None:
            return failed(messages, problem)
        client = self.client(ctx)
        outcomes: dict[int, Outcome] = {}
        groups: dict[tuple[str, tuple[str, ...]], list[Outgoing]] = {}
        for m in messages:
            template = template_of(ctx, m, "tencent")
            params = params_of(m.text)
            if template is None:
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(_(
                    "No SMS template id: write it as the template's subject or give the SMS channel account a default template.")))
            elif isinstance(params, dict):
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(_(
                    "Tencent Cloud SMS templates take parameters in order: write a JSON array.")))
            else:
                values = tuple("" if v is None else str(v) for v in params) if isinstance(params, list) else (
                    (params,) if params else ())
                groups.setdefault((template, values), []).append(m)
        answered = 0
        try:
            for (template, values), group in groups.items():
                for start in range(0, len(group), BATCH):
                    for o in self._send_group(ctx, client, template, values, group[start:start + BATCH]):
                        outcomes[o.recipient_id] = o
                        answered += 1
        except ChannelDown:
            if not answered:
                raise
            outcomes.update({m.recipient_id: Outcome(m.recipient_id, False, "retry")
                             for m in messages if m.recipient_id not in outcomes})
        return [outcomes[m.recipient_id] for m in messages]

    def _send_group(self, ctx: ServiceContext, client: TencentClient, template: str, values: tuple[str, ...],
                    group: list[Outgoing]) -> Iterator[Outcome]:
        data = client.call("SendSms", {
            "PhoneNumberSet": [m.address for m in group], "SmsSdkAppId": str(ctx.settings["SMS_TENCENT_SDK_APP_ID"]),
            "SignName": str(ctx.settings["SMS_TENCENT_SIGN_NAME"]), "TemplateId": template,
            "TemplateParamSet": list(values), "SessionContext": group[0].message_id[:500] if len(group) == 1 else ""})
        error = data.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code") or "")
            if is_down(code):
                raise ChannelDown(f"Tencent Cloud SMS: {code}")
            yield from (Outcome(m.recipient_id, False, reason(code, error.get("Message"))) for m in group)
            return
        by_phone = {str(s.get("PhoneNumber")): s for s in data.get("SendStatusSet") or [] if isinstance(s, dict)}
        for m in group:
            status = by_phone.get(m.address)
            if status is None:
                yield Outcome(m.recipient_id, False, reason("NoStatus"))
            elif status.get("Code") == "Ok":
                yield Outcome(m.recipient_id, True)
            else:
                yield Outcome(m.recipient_id, False, reason(str(status.get("Code")), status.get("Message")))


# ---- callbacks ----------------------------------------------------------------------------------


def _phone(nationcode: Any, mobile: Any) -> str:
    raw = f"+{nationcode or 86}{mobile}"
    return e164(raw) or str(mobile)


def parse_status(items: Any, sign_name: str, now: dt.datetime | None = None) -> list[Inbound]:
    """``SmsStatusPush`` items as delivery receipts."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not isinstance(items, list):
        raise BadRequest(_("The callback is not a JSON array."))
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("mobile") or not item.get("sid"):
            raise BadRequest(_("Item %(n)s of the callback has no phone number.", n=index + 1))
        delivered = str(item.get("report_status") or "").upper() == "SUCCESS"
        out.append(Inbound(platform="sms", account=sign_name, sender=_phone(item.get("nationcode"), item["mobile"]),
                           msg_id=f"tencent:report:{item['sid']}", kind="receipt",
                           received_at=beijing_time(item.get("user_receive_time"), now),
                           event="delivered" if delivered else "failed",
                           text=None if delivered else f"{item.get('errmsg') or ''} {item.get('description') or ''}".strip(),
                           raw=dict(item)))
    return out


def parse_reply(item: Any, sign_name: str) -> list[Inbound]:
    """A reply (``SmsReplyPush``: one JSON object) as a text message."""
    if not isinstance(item, dict) or not item.get("mobile") or item.get("text") is None:
        raise BadRequest(_("Item %(n)s of the callback has no phone number.", n=1))
    try:
        at = dt.datetime.fromtimestamp(int(item.get("time") or 0), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(_("The callback's time is not a number.")) from None
    sender = _phone(item.get("nationcode"), item["mobile"])
    digest = hashlib.sha256(str(item["text"]).encode()).hexdigest()[:16]
    return [Inbound(platform="sms", account=str(item.get("sign") or sign_name), sender=sender,
                    msg_id=f"tencent:reply:{sender}:{int(at.timestamp())}:{digest}", kind="text", received_at=at,
                    text=str(item["text"]), event=reply_event(str(item["text"])), raw=dict(item))]


def receive(ctx: ServiceContext, args: Mapping[str, str], body: bytes) -> list[Inbound]:
    """The callback endpoint's work: check the URL's token; a JSON array is status, an object a reply."""
    check_token(ctx, "SMS_TENCENT_CALLBACK_TOKEN", args, body)
    data = json_body(body)
    sign = str(ctx.settings.get("SMS_TENCENT_SIGN_NAME") or "")
    return parse_status(data, sign) if isinstance(data, list) else parse_reply(data, sign)
