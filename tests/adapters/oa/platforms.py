"""Local stand-ins for DingTalk, WeCom and Feishu approvals: real HTTP servers on 127.0.0.1 that
implement each platform's documented protocol for what the CRM uses, faithfully.

These SaaS platforms cannot run here. Each fake issues access tokens that expire (and answers an
expired or unknown token with the platform's own error), creates approval instances (Feishu
refuses a repeated ``uuid`` with code 60012; DingTalk and WeCom create twice, as they do), answers
reads and searches, cancels, and when someone decides it calls the CRM back with the platform's
encryption and signature, retrying while the acknowledgement is missing or wrong. Tests can send
duplicate, replayed, late, out-of-order and badly signed callbacks.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from adapters import crypto


class FakePlatform:
    token_ttl = 7200

    def __init__(self, callback_url: str) -> None:
        self.callback_url = callback_url
        self.instances: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.calls: list[tuple[str, str]] = []
        self.sent: list[dict[str, Any]] = []
        self.ack_failures = 0  # how many callbacks are retried because the CRM's reply was wrong
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.calls.append((self.command, url.path))
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, answer = fake.route(self.command, url.path, query, dict(self.headers),
                                            json.loads(body) if body else {})
                self._reply(status, answer)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_token(self) -> str:
        self.token_requests += 1
        token = secrets.token_hex(16)
        self.tokens[token] = time.time() + self.token_ttl
        return token

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and self.tokens.get(token, 0) > time.time()

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def post_callback(self, url: str, data: bytes, headers: dict[str, str], attempts: int = 3) -> requests.Response:
        """POST a callback; retry while the acknowledgement is not the one the platform expects."""
        self.sent.append({"url": url, "data": data, "headers": headers})
        response = requests.post(url, data=data, headers=headers, timeout=10)
        for _ in range(attempts - 1):
            if self.acknowledged(response):
                break
            self.ack_failures += 1
            response = requests.post(url, data=data, headers=headers, timeout=10)
        return response

    def resend(self, sent: dict[str, Any]) -> requests.Response:
        return requests.post(sent["url"], data=sent["data"], headers=sent["headers"], timeout=10)

    def acknowledged(self, response: requests.Response) -> bool:
        return response.status_code == 200

    def route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
              body: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# DingTalk
# ---------------------------------------------------------------------------------------------


class FakeDingTalk(FakePlatform):
    app_key, app_secret = "dingappkey0001", "app-secret"
    token, aes_key = "ding-token", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"

    def route(self, method, path, query, headers, body):
        if path == "/v1.0/oauth2/accessToken":
            if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
                return 400, {"code": "invalidClientIdOrSecret", "message": "bad app key or secret"}
            return 200, {"accessToken": self.new_token(), "expireIn": self.token_ttl}
        if not self.token_ok(headers.get("x-acs-dingtalk-access-token")):
            return 401, {"code": "InvalidAuthentication", "message": "access token is invalid or expired"}
        if path == "/v1.0/workflow/processInstances" and method == "POST":
            instance_id = f"PI-{secrets.token_hex(6)}"
            self.instances[instance_id] = {"processInstanceId": instance_id, "status": "RUNNING", "result": "",
                                           "processCode": body["processCode"], "originatorUserId": body["originatorUserId"],
                                           "formComponentValues": body["formComponentValues"], "operationRecords": [],
                                           "createTime": int(time.time() * 1000)}
            return 200, {"instanceId": instance_id}
        if path == "/v1.0/workflow/processInstances" and method == "GET":
            inst = self.instances.get(query.get("processInstanceId", ""))
            return (200, {"result": inst, "success": True}) if inst else (400, {"code": "notFound"})
        if path == "/v1.0/workflow/processInstances/terminate":
            inst = self.instances[body["processInstanceId"]]
            inst["status"] = "TERMINATED"
            return 200, {"result": True, "success": True}
        if path == "/v1.0/workflow/processes/instanceIds/query":
            ids = [i for i, inst in self.instances.items() if inst["processCode"] == body["processCode"]]
            start = int(body.get("nextToken") or 0)
            page = ids[start:start + int(body.get("maxResults") or 20)]
            nxt = start + len(page)
            return 200, {"result": {"list": page, "nextToken": nxt if nxt < len(ids) else None}, "success": True}
        return 404, {"code": "notFound"}

    def decide(self, instance_id: str, result: str, approver: str = "boss", comment: str | None = None,
               status: str = "COMPLETED") -> requests.Response:
        inst = self.instances[instance_id]
        inst["status"], inst["result"] = status, result
        inst["operationRecords"].append({"userId": approver, "type": "EXECUTE_TASK_NORMAL",
                                         "result": {"agree": "AGREE", "refuse": "REFUSE"}.get(result, result),
                                         "remark": comment, "date": "2026-12-02T10:00Z"})
        return self.callback({"EventType": "bpms_instance_change", "processInstanceId": instance_id,
                              "type": "finish" if status == "COMPLETED" else "terminate", "result": result,
                              "processCode": inst["processCode"]})

    def callback(self, event: dict[str, Any], *, token: str | None = None, timestamp: str | None = None,
                 attempts: int = 3) -> requests.Response:
        encrypted = crypto.wx_encrypt(self.aes_key, json.dumps(event), self.app_key)
        ts = timestamp or str(int(time.time() * 1000))
        nonce = secrets.token_hex(4)
        sig = crypto.sha1_signature(token or self.token, ts, nonce, encrypted)
        url = f"{self.callback_url}?{urlencode({'signature': sig, 'timestamp': ts, 'nonce': nonce})}"
        return self.post_callback(url, json.dumps({"encrypt": encrypted}).encode(),
                                  {"Content-Type": "application/json"}, attempts)

    def acknowledged(self, response: requests.Response) -> bool:
        """DingTalk wants the word ``success`` encrypted and signed with the app's keys."""
        if response.status_code != 200:
            return False
        try:
            data = response.json()
            crypto.verify_sha1(self.token, data["timeStamp"], data["nonce"], data["encrypt"], data["msg_signature"])
            return crypto.wx_decrypt(self.aes_key, data["encrypt"], self.app_key) == "success"
        except (ValueError, KeyError, crypto.CryptoError):
            return False


# ---------------------------------------------------------------------------------------------
# WeCom
# ---------------------------------------------------------------------------------------------


class FakeWeCom(FakePlatform):
    corp_id, corp_secret = "wx5823bf96d3bd56c7", "corp-secret"
    token, aes_key = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

    def route(self, method, path, query, headers, body):
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.corp_secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.new_token(), "expires_in": self.token_ttl}
        token = query.get("access_token")
        if not token:
            return 200, {"errcode": 41001, "errmsg": "access_token missing"}
        if not self.token_ok(token):
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        if path == "/cgi-bin/oa/applyevent":
            sp_no = f"2026{len(self.instances) + 1:010d}"
            self.instances[sp_no] = {"sp_no": sp_no, "sp_status": 1, "template_id": body["template_id"],
                                     "applyer": {"userid": body["creator_userid"]}, "sp_record": [],
                                     "summary_list": body.get("summary_list") or [], "apply_time": int(time.time()),
                                     "apply_data": body["apply_data"]}
            return 200, {"errcode": 0, "errmsg": "ok", "sp_no": sp_no}
        if path == "/cgi-bin/oa/getapprovaldetail":
            info = self.instances.get(body.get("sp_no"))
            if info is None:
                return 200, {"errcode": 301025, "errmsg": "sp_no not found"}
            return 200, {"errcode": 0, "errmsg": "ok", "info": info}
        if path == "/cgi-bin/oa/getapprovalinfo":
            ids = [s for s, i in self.instances.items() if i["template_id"] == body["filters"][0]["value"]]
            return 200, {"errcode": 0, "errmsg": "ok", "sp_no_list": ids, "new_next_cursor": ""}
        return 200, {"errcode": 404, "errmsg": "no such api"}

    def decide(self, sp_no: str, sp_status: int, approver: str = "boss", comment: str | None = None) -> requests.Response:
        info = self.instances[sp_no]
        info["sp_status"] = sp_status
        if sp_status in (2, 3):
            info["sp_record"].append({"sp_status": sp_status, "details": [
                {"approver": {"userid": approver}, "speech": comment, "sp_status": sp_status, "sptime": int(time.time())}]})
        return self.callback(sp_no, sp_status)

    def callback(self, sp_no: str, sp_status: int, *, token: str | None = None, timestamp: str | None = None,
                 attempts: int = 3) -> requests.Response:
        inner = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
                 f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                 f"<Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID><ApprovalInfo>"
                 f"<SpNo>{sp_no}</SpNo><SpStatus>{sp_status}</SpStatus><StatuChangeEvent>{sp_status}</StatuChangeEvent>"
                 f"</ApprovalInfo></xml>")
        encrypted = crypto.wx_encrypt(self.aes_key, inner, self.corp_id)
        ts, nonce = timestamp or str(int(time.time())), str(secrets.randbelow(10**9))
        sig = crypto.sha1_signature(token or self.token, ts, nonce, encrypted)
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
                f"<AgentID><![CDATA[3010040]]></AgentID></xml>").encode()
        url = f"{self.callback_url}?{urlencode({'msg_signature': sig, 'timestamp': ts, 'nonce': nonce})}"
        return self.post_callback(url, body, {"Content-Type": "text/xml"}, attempts)

    def verify_url(self, echo: str = "1616140317555161061") -> requests.Response:
        """The URL check WeCom makes when an admin saves the callback URL."""
        encrypted = crypto.wx_encrypt(self.aes_key, echo, self.corp_id)
        ts, nonce = str(int(time.time())), "263014780"
        sig = crypto.sha1_signature(self.token, ts, nonce, encrypted)
        return requests.get(self.callback_url, params={"msg_signature": sig, "timestamp": ts, "nonce": nonce,
                                                       "echostr": encrypted}, timeout=10)


# ---------------------------------------------------------------------------------------------
# Feishu
# ---------------------------------------------------------------------------------------------


class FakeFeishu(FakePlatform):
    app_id, app_secret = "cli_a1b2c3", "feishu-secret"
    encrypt_key, verification_token = "test key", "v-token"

    def route(self, method, path, query, headers, body):
        if path == "/open-apis/auth/v3/tenant_access_token/internal":
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return 200, {"code": 10014, "msg": "app secret invalid"}
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": self.new_token(), "expire": self.token_ttl}
        auth = headers.get("Authorization", "")
        if not self.token_ok(auth.removeprefix("Bearer ")):
            return 200, {"code": 99991663, "msg": "tenant access token invalid"}
        if path == "/open-apis/approval/v4/instances" and method == "POST":
            if any(i["uuid"] == body.get("uuid") for i in self.instances.values()):
                return 200, {"code": 60012, "msg": "uuid already exists"}
            code = f"INST-{secrets.token_hex(6).upper()}"
            self.instances[code] = {"instance_code": code, "approval_code": body["approval_code"], "status": "PENDING",
                                    "user_id": body["user_id"], "form": body["form"], "uuid": body.get("uuid"),
                                    "timeline": [], "start_time": str(int(time.time() * 1000))}
            return 200, {"code": 0, "msg": "success", "data": {"instance_code": code}}
        if path == "/open-apis/approval/v4/instances" and method == "GET":
            codes = [c for c, i in self.instances.items() if i["approval_code"] == query.get("approval_code")]
            return 200, {"code": 0, "data": {"instance_code_list": codes, "has_more": False}}
        if path == "/open-apis/approval/v4/instances/cancel":
            inst = self.instances[body["instance_code"]]
            if inst["status"] != "PENDING":
                return 200, {"code": 1390015, "msg": "instance is not pending"}
            inst["status"] = "CANCELED"
            return 200, {"code": 0, "msg": "success", "data": {}}
        if path.startswith("/open-apis/approval/v4/instances/"):
            inst = self.instances.get(path.rsplit("/", 1)[-1])
            return (200, {"code": 0, "data": inst}) if inst else (200, {"code": 1390003, "msg": "instance not found"})
        return 404, {"code": 404, "msg": "not found"}

    def decide(self, code: str, status: str, approver: str = "boss", comment: str | None = None) -> requests.Response:
        inst = self.instances[code]
        inst["status"] = status
        if status in ("APPROVED", "REJECTED"):
            inst["timeline"].append({"type": "PASS" if status == "APPROVED" else "REJECT", "user_id": approver,
                                     "comment": comment, "create_time": str(int(time.time() * 1000))})
        return self.callback({"schema": "2.0", "header": {"event_id": secrets.token_hex(8), "event_type": "approval_instance",
                                                          "token": self.verification_token, "app_id": self.app_id},
                              "event": {"type": "approval_instance", "instance_code": code, "status": status,
                                        "approval_code": inst["approval_code"]}})

    def callback(self, payload: dict[str, Any], *, key: str | None = None, timestamp: str | None = None,
                 attempts: int = 3) -> requests.Response:
        body = json.dumps({"encrypt": crypto.feishu_encrypt(self.encrypt_key, json.dumps(payload))}).encode()
        ts, nonce = timestamp or str(int(time.time())), secrets.token_hex(8)
        headers = {"Content-Type": "application/json", "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                   "X-Lark-Signature": crypto.feishu_signature(ts, nonce, key or self.encrypt_key, body)}
        return self.post_callback(self.callback_url, body, headers, attempts)

    def url_verification(self) -> requests.Response:
        return self.callback({"challenge": "ajls384kdjx98XX", "token": self.verification_token,
                              "type": "url_verification"}, attempts=1)


def xml_text(xml: str, tag: str) -> str | None:
    return ET.fromstring(xml).findtext(tag)
