"""Local stand-ins for Alibaba Cloud SMS and Tencent Cloud SMS: real HTTP servers on 127.0.0.1.

They follow the vendors' documented protocols for what the CRM uses, faithfully:

* Alibaba Cloud Dysmsapi 2017-05-25 (RPC style): every request's ``Signature`` is recomputed with the
  account's secret over the POP-encoded sorted parameters and the HTTP method; an unknown AccessKeyId
  answers ``InvalidAccessKeyId.NotFound`` (404), a wrong signature ``SignatureDoesNotMatch`` (400), a
  reused ``SignatureNonce`` ``SignatureNonceUsed``, a ``Timestamp`` over 15 minutes off
  ``InvalidTimeStamp.Expired``. ``SendSms`` (PhoneNumbers, SignName, TemplateCode, TemplateParam, OutId)
  and ``SendBatchSms`` (PhoneNumberJson, SignNameJson, TemplateCode, TemplateParamJson, at most 100) check
  the sign name (``isv.SMS_SIGNATURE_ILLEGAL``), the template (``isv.SMS_TEMPLATE_ILLEGAL``), its parameters
  (``isv.INVALID_JSON_PARAM``, ``isv.TEMPLATE_MISSING_PARAMETERS``), each number
  (``isv.MOBILE_NUMBER_ILLEGAL``) and the per-number limit (``isv.BUSINESS_LIMIT_CONTROL``); a batch with
  one bad item fails whole, as the vendor's does. Receipts (SmsReport) and replies (SmsUp) are the
  documented JSON arrays of the "HTTP batch push".
* Tencent Cloud SMS API 3.0 (``SendSms``, version 2021-01-11): the ``Authorization`` header is checked by
  recomputing TC3-HMAC-SHA256 over the canonical request (``content-type;host`` signed) with the
  secret key; ``X-TC-Timestamp`` over 5 minutes off is ``AuthFailure.SignatureExpire``, an unknown
  SecretId ``AuthFailure.SecretIdNotFound``, a wrong signature ``AuthFailure.SignatureFailure``. The body's
  SmsSdkAppId, SignName, TemplateId and parameter count are checked (whole-request errors in
  ``Response.Error``); each number gets its own ``SendStatus`` (``Ok``,
  ``InvalidParameterValue.IncorrectPhoneNumber``, ``LimitExceeded.PhoneNumberDailyLimit``...). Status and
  reply callbacks are the documented JSON.

``down = True`` makes either answer HTTP 503; ``throttled = True`` answers the vendor's throttling code.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from adapters.channels import sms_aliyun, sms_tencent

MAINLAND = re.compile(r"^1[3-9]\d{9}$")


class FakeVendor:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.down = False
        self.throttled = False
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    status, answer = fake.route(self.command, url.path, url.query, dict(self.headers), body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Alibaba Cloud
# ---------------------------------------------------------------------------------------------


class FakeAliyun(FakeVendor):
    access_key_id, secret = "LTAI5tFakeKeyId", "fake-access-key-secret"
    signs = {"阿里云短信测试"}
    templates = {"SMS_154950909": ["code"], "SMS_200000001": ["name", "coupon"], "SMS_300000001": []}

    def __init__(self) -> None:
        self.nonces: set[str] = set()
        self.limited: set[str] = set()  # numbers over the vendor's per-number limit
        self.biz = 0
        super().__init__()

    def _error(self, code: str, status: int = 200, message: str = "") -> tuple[int, Any]:
        return status, {"Code": code, "Message": message or code, "RequestId": secrets.token_hex(8)}

    def route(self, method, path, query, headers, body):
        if self.down:
            return 503, {"Code": "ServiceUnavailable", "Message": "The request has failed due to a temporary failure"}
        params = dict(parse_qsl(query, keep_blank_values=True))
        if method == "POST":
            params.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        self.calls.append(dict(params))
        for name in ("AccessKeyId", "Action", "Signature", "SignatureNonce", "Timestamp", "Version"):
            if not params.get(name):
                return self._error(f"MissingParameter.{name}", 400)
        if params["AccessKeyId"] != self.access_key_id:
            return self._error("InvalidAccessKeyId.NotFound", 404)
        expected = sms_aliyun.signature(method, params, self.secret)
        if not hmac.compare_digest(expected, params["Signature"]):
            return self._error("SignatureDoesNotMatch", 400, "Specified signature is not matched with our calculation.")
        stamp = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        if abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) > 900:
            return self._error("InvalidTimeStamp.Expired", 400)
        if params["SignatureNonce"] in self.nonces:
            return self._error("SignatureNonceUsed", 400)
        self.nonces.add(params["SignatureNonce"])
        if params["Version"] != "2017-05-25":
            return self._error("InvalidVersion", 400)
        if self.throttled:
            return self._error("Throttling.User", 400, "Request was denied due to user flow control.")
        if params["Action"] == "SendSms":
            phones = params.get("PhoneNumbers", "").split(",")
            items = [(p, params.get("SignName", ""), params.get("TemplateParam")) for p in phones]
        elif params["Action"] == "SendBatchSms":
            try:
                phones = json.loads(params.get("PhoneNumberJson") or "[]")
                sign_names = json.loads(params.get("SignNameJson") or "[]")
                tparams = json.loads(params["TemplateParamJson"]) if params.get("TemplateParamJson") else [None] * len(phones)
            except ValueError:
                return self._error("isv.INVALID_JSON_PARAM")
            if not (len(phones) == len(sign_names) == len(tparams)) or len(phones) > 100:
                return self._error("isv.INVALID_PARAMETERS")
            items = [(p, s, json.dumps(t) if t is not None else None) for p, s, t in zip(phones, sign_names, tparams, strict=True)]
        else:
            return self._error("InvalidAction.NotFound", 404)
        code = params.get("TemplateCode", "")
        if code not in self.templates:
            return self._error("isv.SMS_TEMPLATE_ILLEGAL")
        for phone, sign, tparam in items:
            if sign not in self.signs:
                return self._error("isv.SMS_SIGNATURE_ILLEGAL")
            try:
                values = json.loads(tparam) if tparam else {}
            except ValueError:
                return self._error("isv.INVALID_JSON_PARAM")
            if not isinstance(values, dict) or any(v not in values for v in self.templates[code]):
                return self._error("isv.TEMPLATE_MISSING_PARAMETERS")
            if not MAINLAND.match(phone):
                return self._error("isv.MOBILE_NUMBER_ILLEGAL")
            if phone in self.limited:
                return self._error("isv.BUSINESS_LIMIT_CONTROL", message="触发号码天级流控Permits:10")
        self.biz += 1
        biz_id = f"{self.biz:06d}^{int(time.time())}"
        for phone, sign, tparam in items:
            self.sent.append({"phone": phone, "sign": sign, "template": code, "params": json.loads(tparam or "{}"),
                              "out_id": params.get("OutId"), "biz_id": biz_id, "action": params["Action"]})
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": secrets.token_hex(8)}

    def report_push(self, delivered: bool = True) -> bytes:
        """The SmsReport "HTTP batch push" body for everything sent so far."""
        now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
        return json.dumps([{"phone_number": s["phone"], "send_time": now, "report_time": now, "success": delivered,
                            "err_code": "DELIVERED" if delivered else "MK:0001",
                            "err_msg": "用户接收成功" if delivered else "空号", "sms_size": "1",
                            "biz_id": s["biz_id"], "out_id": s["out_id"] or ""} for s in self.sent],
                          ensure_ascii=False).encode()

    def up_push(self, phone: str, content: str, sequence_id: int = 1234567890) -> bytes:
        return json.dumps([{"phone_number": phone, "send_time": "2026-12-06 10:00:00", "content": content,
                            "sign_name": next(iter(self.signs)), "dest_code": "1234", "sequence_id": sequence_id}],
                          ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------------
# Tencent Cloud
# ---------------------------------------------------------------------------------------------


class FakeTencent(FakeVendor):
    secret_id, secret_key = "AKIDFakeSecretId0001", "fake-tencent-secret-key"
    app_id = "1400006666"
    signs = {"腾讯云"}
    templates = {"449739": 1, "1110": 2, "2220": 0}  # template id -> number of parameters

    def __init__(self) -> None:
        self.limited: set[str] = set()
        self.blacklisted: set[str] = set()
        self.serial = 0
        super().__init__()

    def _error(self, code: str, message: str = "") -> tuple[int, Any]:
        return 200, {"Response": {"Error": {"Code": code, "Message": message or code}, "RequestId": secrets.token_hex(8)}}

    def route(self, method, path, query, headers, body):
        if self.down:
            return 503, {"message": "service unavailable"}
        h = {k.lower(): v for k, v in headers.items()}
        self.calls.append({"headers": h, "body": body})
        auth = h.get("authorization", "")
        m = re.match(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                     r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$", auth)
        if not m:
            return self._error("AuthFailure.InvalidAuthorization")
        secret_id, date, service, signed_headers, sig = m.groups()
        if secret_id != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound")
        try:
            stamp = int(h.get("x-tc-timestamp", ""))
        except ValueError:
            return self._error("MissingParameter", "X-TC-Timestamp")
        if abs(time.time() - stamp) > 300:
            return self._error("AuthFailure.SignatureExpire")
        headers_signed = {name: h.get(name, "") for name in signed_headers.split(";")}
        expected = sms_tencent.tc3_signature(self.secret_key, service, stamp, method, "/", query, headers_signed, body)
        if date != dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d") or not hmac.compare_digest(expected, sig):
            return self._error("AuthFailure.SignatureFailure")
        if "content-type" not in headers_signed or "host" not in headers_signed:
            return self._error("AuthFailure.SignatureFailure")
        if h.get("x-tc-action") != "SendSms" or h.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction")
        if self.throttled:
            return self._error("RequestLimitExceeded", "Your current request times exceeds the limit.")
        try:
            req = json.loads(body)
        except ValueError:
            return self._error("FailedOperation.FailResolvePacket")
        if req.get("SmsSdkAppId") != self.app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist")
        if req.get("SignName") not in self.signs:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved")
        if req.get("TemplateId") not in self.templates:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved")
        phones = req.get("PhoneNumberSet") or []
        if len(phones) > 200:
            return self._error("LimitExceeded.PhoneNumberCountLimit")
        if len(req.get("TemplateParamSet") or []) != self.templates[req["TemplateId"]]:
            return self._error("InvalidParameterValue.TemplateParameterFormatError")
        out = []
        for phone in phones:
            self.serial += 1
            serial = f"2433:{self.serial:020d}"
            if not re.match(r"^\+861[3-9]\d{9}$", phone):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "invalid mobile number"
            elif phone in self.limited:
                code, message = "LimitExceeded.PhoneNumberDailyLimit", "the number of sms messages sent from a single mobile number every day exceeds the upper limit"
            elif phone in self.blacklisted:
                code, message = "FailedOperation.PhoneNumberInBlacklist", "phone number in blacklist"
            else:
                code, message = "Ok", "send success"
                self.sent.append({"phone": phone, "sign": req["SignName"], "template": req["TemplateId"],
                                  "params": req.get("TemplateParamSet") or [], "serial": serial,
                                  "session": req.get("SessionContext")})
            out.append({"SerialNo": serial, "PhoneNumber": phone, "Fee": 1 if code == "Ok" else 0,
                        "SessionContext": req.get("SessionContext") or "", "Code": code, "Message": message,
                        "IsoCode": "CN"})
        return 200, {"Response": {"SendStatusSet": out, "RequestId": secrets.token_hex(8)}}

    def status_push(self, delivered: bool = True) -> bytes:
        now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
        return json.dumps([{"user_receive_time": now, "nationcode": "86", "mobile": s["phone"][3:],
                            "report_status": "SUCCESS" if delivered else "FAIL",
                            "errmsg": "DELIVRD" if delivered else "MK:0005",
                            "description": "用户短信送达成功" if delivered else "空号", "sid": s["serial"]}
                           for s in self.sent], ensure_ascii=False).encode()

    def reply_push(self, mobile: str, text: str, at: int | None = None) -> bytes:
        return json.dumps({"extend": "", "mobile": mobile, "nationcode": "86", "sign": next(iter(self.signs)),
                           "text": text, "time": at or int(time.time())}, ensure_ascii=False).encode()
