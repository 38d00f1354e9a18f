"""A local stand-in for the WeChat Official Account platform: the API server on 127.0.0.1 and the pushes
WeChat makes to the CRM, faithful to the documented protocol for what the CRM uses.

Protocol followed (developers.weixin.qq.com, 公众号文档): "获取 Access token" (``GET /cgi-bin/token``,
grant_type=client_credential; errcode 40013 bad appid, 40125 bad secret; tokens last 7200 s; an unknown
token is errcode 40001, an expired one 42001), "客服消息" (``POST /cgi-bin/message/custom/send``; 45015 when
the follower has not written in 48 hours, 43004 when they do not follow), "模板消息" (``POST
/cgi-bin/message/template/send``; 43004, 40037 unknown template), "订阅通知" (``POST
/cgi-bin/message/subscribe/bizsend``; each consent allows one message, 43101 without one), "网页授权" (``GET
/sns/oauth2/access_token`` with a one-time ``code``: 40029 invalid code), "生成带参数的二维码" (``POST
/cgi-bin/qrcode/create``, ``QR_STR_SCENE`` with a scene_str of 1-64 characters, expire_seconds at most 2592000,
default 60: ticket, url, expire_seconds; a scan of an expired code pushes nothing), and "接入概述"/"消息加解密说明" for
pushes: the plain ``signature`` (SHA1 of sorted token, timestamp, nonce) on every push, in safe mode
``encrypt_type=aes`` and ``msg_signature`` over the WXBizMsgCrypt ciphertext with the app id as receive id.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from adapters import crypto

WINDOW = 48 * 3600


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class FakeWeChat:
    """One Official Account (``app_id``/``app_secret``), its followers, and WeChat's side of the callbacks."""

    token_ttl = 7200

    def __init__(self, app_id: str = "wxFAKEAPP0001", app_secret: str = "s3cret", token: str = "cbtoken",
                 aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", original_id: str = "gh_fake000001") -> None:
        self.app_id, self.app_secret, self.token, self.aes_key, self.original_id = app_id, app_secret, token, aes_key, original_id
        self.templates = {"TPL_ORDER"}
        self.subscriptions: dict[str, dict[str, int]] = {}  # openid -> {template id: consents left}
        self.followers: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}
        self.codes: dict[str, str] = {}
        self.qrcodes: dict[str, tuple[str, float]] = {}  # the URL a QR code holds -> (scene, expires at)
        self.token_requests = 0
        self.delivered: list[dict[str, Any]] = []
        self.clock = time.time
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake_lock:
                    answer = fake.route(self.command, url.path, query, json.loads(body) if body else {})
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)  # WeChat answers errors with HTTP 200 and an errcode
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        fake_lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expire_tokens(self) -> None:
        """Every issued token expires now (the next call gets 42001)."""
        for token in self.tokens:
            self.tokens[token] = 0

    # ---- the API ----------------------------------------------------------------------------------------
    def _token_error(self, token: str | None) -> dict[str, Any] | None:
        if token not in self.tokens:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if self.tokens[token] <= self.clock():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if path == "/cgi-bin/token" and method == "GET":
            if query.get("appid") != self.app_id:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != self.app_secret or query.get("grant_type") != "client_credential":
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            self.token_requests += 1
            token = secrets.token_hex(16)
            self.tokens[token] = self.clock() + self.token_ttl
            return {"access_token": token, "expires_in": self.token_ttl}
        if path == "/sns/oauth2/access_token" and method == "GET":
            openid = self.codes.pop(query.get("code", ""), None)  # a code is good once
            if openid is None or query.get("appid") != self.app_id or query.get("secret") != self.app_secret:
                return {"errcode": 40029, "errmsg": "invalid code"}
            answer = {"access_token": secrets.token_hex(8), "expires_in": 7200, "openid": openid, "scope": "snsapi_base"}
            if self.followers.get(openid, {}).get("unionid"):
                answer["unionid"] = self.followers[openid]["unionid"]
            return answer
        error = self._token_error(query.get("access_token"))
        if error is not None:
            return error
        if path == "/cgi-bin/qrcode/create" and method == "POST":
            scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str") or ""
            if body.get("action_name") != "QR_STR_SCENE" or not 1 <= len(scene) <= 64:
                return {"errcode": 40097, "errmsg": "invalid args"}
            seconds = min(int(body.get("expire_seconds") or 60), 2592000)
            ticket = secrets.token_urlsafe(24)
            url = f"http://weixin.qq.com/q/{ticket}"
            self.qrcodes[url] = (scene, self.clock() + seconds)
            return {"ticket": ticket, "expire_seconds": seconds, "url": url}
        openid = body.get("touser", "")
        follower = self.followers.get(openid)
        if path == "/cgi-bin/message/custom/send" and method == "POST":
            if follower is None or not follower["subscribed"]:
                return {"errcode": 43004, "errmsg": "require subscribe"}
            if self.clock() - follower["last_message"] > WINDOW:
                return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            self.delivered.append({"kind": "custom", **body})
            return {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/message/template/send" and method == "POST":
            if body.get("template_id") not in self.templates:
                return {"errcode": 40037, "errmsg": "invalid template_id"}
            if follower is None or not follower["subscribed"]:
                return {"errcode": 43004, "errmsg": "require subscribe"}
            self.delivered.append({"kind": "template", **body})
            return {"errcode": 0, "errmsg": "ok", "msgid": len(self.delivered)}
        if path == "/cgi-bin/message/subscribe/bizsend" and method == "POST":
            consents = self.subscriptions.get(openid, {})
            if consents.get(body.get("template_id"), 0) <= 0:
                return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            consents[body["template_id"]] -= 1  # one consent, one message
            self.delivered.append({"kind": "subscribe", **body})
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 40066, "errmsg": "invalid url"}

    # ---- the followers' side: what WeChat pushes to the CRM ------------------------------------------
    def authorize(self, openid: str) -> str:
        """The follower passes snsapi_base authorisation: the one-time ``code`` WeChat appends to the redirect."""
        code = secrets.token_hex(8)
        self.codes[code] = openid
        return code

    def message_xml(self, openid: str, msg_type: str, created: int, **fields: str) -> str:
        parts = [f"<ToUserName>{cdata(self.original_id)}</ToUserName>", f"<FromUserName>{cdata(openid)}</FromUserName>",
                 f"<CreateTime>{created}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
        parts += [f"<{k}>{v if k in ('MsgId',) else cdata(v)}</{k}>" for k, v in fields.items()]
        return "<xml>" + "".join(parts) + "</xml>"

    def push(self, xml: str, mode: str = "plain", *, timestamp: int | None = None, nonce: str | None = None,
             signature: str | None = None) -> tuple[str, bytes]:
        """The query string and body of WeChat's POST of ``xml`` to the CRM (``signature``: force a wrong one)."""
        ts, nonce = str(timestamp if timestamp is not None else int(self.clock())), nonce or secrets.token_hex(6)
        query = {"signature": signature or crypto.sha1_signature(self.token, ts, nonce, ""), "timestamp": ts, "nonce": nonce}
        body = xml.encode()
        if mode == "safe":
            openid = xml.split("<FromUserName><![CDATA[", 1)[1].split("]]>", 1)[0]
            encrypted = crypto.wx_encrypt(self.aes_key, xml, self.app_id)
            query.update({"encrypt_type": "aes", "openid": openid,
                          "msg_signature": signature or crypto.sha1_signature(self.token, ts, nonce, encrypted)})
            body = f"<xml><ToUserName>{cdata(self.original_id)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>".encode()
        return urlencode(query), body

    def say(self, openid: str, text: str, msg_id: int, mode: str = "plain", **kwargs: Any) -> tuple[str, bytes]:
        """A follower writes ``text``: it opens the 48-hour customer-service window."""
        follower = self.followers.setdefault(openid, {"subscribed": True, "unionid": None, "last_message": 0})
        follower["last_message"] = self.clock()
        created = int(self.clock())
        return self.push(self.message_xml(openid, "text", created, Content=text, MsgId=str(msg_id)), mode, **kwargs)

    def follow(self, openid: str, scene: str | None = None, unionid: str | None = None, mode: str = "plain",
               already: bool = False) -> tuple[str, bytes]:
        """A user follows (``subscribe``; with ``qrscene_<scene>`` from a QR code) or, ``already`` following,
        scans a QR code (``SCAN`` with the bare scene)."""
        self.followers[openid] = {"subscribed": True, "unionid": unionid, "last_message": self.clock()}
        created = int(self.clock())
        if already:
            return self.push(self.message_xml(openid, "event", created, Event="SCAN", EventKey=scene or ""), mode)
        fields = {"Event": "subscribe"}
        if scene:
            fields["EventKey"] = f"qrscene_{scene}"
        return self.push(self.message_xml(openid, "event", created, **fields), mode)

    def scan(self, url: str, openid: str, already: bool = False, mode: str = "plain") -> tuple[str, bytes] | None:
        """A user scans the QR code holding ``url`` (a subscribe with its scene, or ``already`` following a SCAN);
        None for an unknown or expired code (WeChat tells the user and pushes nothing)."""
        found = self.qrcodes.get(url)
        if found is None or found[1] <= self.clock():
            return None
        return self.follow(openid, scene=found[0], already=already, mode=mode)

    def unfollow(self, openid: str, mode: str = "plain") -> tuple[str, bytes]:
        self.followers.setdefault(openid, {"unionid": None, "last_message": 0})["subscribed"] = False
        return self.push(self.message_xml(openid, "event", int(self.clock()), Event="unsubscribe"), mode)

    def click(self, openid: str, key: str, mode: str = "plain") -> tuple[str, bytes]:
        return self.push(self.message_xml(openid, "event", int(self.clock()), Event="CLICK", EventKey=key), mode)

    def url_check(self, echostr: str = "echo-123") -> str:
        """The query of WeChat's GET when the URL is saved in the console."""
        ts, nonce = str(int(self.clock())), secrets.token_hex(6)
        return urlencode({"signature": crypto.sha1_signature(self.token, ts, nonce, ""), "timestamp": ts,
                          "nonce": nonce, "echostr": echostr})
