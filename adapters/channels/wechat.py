"""WeChat Official Account (微信公众号): callbacks in plain and safe (AES) mode, passive replies, the API
(access token, customer-service and template messages) and the ``wechat`` send provider.

Protocol (developers.weixin.qq.com, 公众号 "接入概述", "接收普通消息", "接收事件推送", "消息加解密说明",
"客服消息", "模板消息", "获取 Access token", "生成带参数的二维码"):

* ``GET <url>?signature&timestamp&nonce&echostr``: signature = SHA1 of the sorted token, timestamp, nonce;
  answer ``echostr`` as is.
* ``POST`` plain: the same ``signature`` on the query, the message XML as the body. Safe mode:
  ``encrypt_type=aes&msg_signature=...``, body ``<xml><ToUserName/><Encrypt/></xml>``, msg_signature = SHA1 of
  the sorted token, timestamp, nonce, Encrypt; Encrypt is WXBizMsgCrypt (the scheme WeCom shares,
  :mod:`adapters.crypto`) with the app id as receive id. Replies are encrypted the same way.
* Messages: ``MsgType`` text/image/voice/video/shortvideo/location/link with ``MsgId``; events
  (``MsgType=event``): subscribe (``EventKey=qrscene_<scene>`` from a QR code), unsubscribe, SCAN
  (``EventKey=<scene>``), CLICK (``EventKey`` = the menu key), VIEW. Events have no id: WeChat's docs say to
  deduplicate them by FromUserName + CreateTime (we add the event). WeChat retries a POST three times
  when no answer comes in 5 s.
* API ``https://api.weixin.qq.com``: ``GET /cgi-bin/token?grant_type=client_credential&appid&secret`` ->
  access_token, expires_in (7200); ``POST /cgi-bin/qrcode/create`` (``QR_STR_SCENE``, scene_str of 1-64
  characters, expire_seconds up to 2592000 -> ticket, url, expire_seconds); ``POST /cgi-bin/message/custom/send``; ``POST
  /cgi-bin/message/template/send``; ``POST /cgi-bin/message/subscribe/bizsend`` (订阅通知: 43101 when the
  follower gave no consent to that template); errcode 40001/40014/42001: token invalid or expired (fetch a new one),
  45015: outside the 48-hour customer-service window, 43004: the user does not follow the account,
  -1 and 45009: busy or over quota (retry later).
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import literal, select

from crmcore.channels import ChannelDown, Outcome, Outgoing
from crmcore.errors import FatalAdapterError, RetriableAdapterError
from crmcore.i18n import _
from crmcore.models import Customer, CustomerIdentity
from crmcore.runtime import ServiceContext

from .. import crypto
from .base import Inbound
from .models import ChannelAccount

API = "https://api.weixin.qq.com"
REPLAY_WINDOW = 300
TOKEN_EXPIRED = (40001, 40014, 42001)
BUSY = (-1, 45009)
ERRORS = {45015: _("Outside the 48-hour window: the follower has not written in the last 48 hours."),
          43004: _("The recipient does not follow the Official Account."),
          43101: _("The follower has not agreed to receive this subscribe message.")}
EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "SCAN": "scan", "CLICK": "click", "VIEW": "view"}
KINDS = {"shortvideo": "video"}


class Rejected(Exception):
    """A callback that is not WeChat's or not acceptable (never processed)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def _xml(text: str | bytes) -> Any:
    """Untrusted XML through defusedxml: a DOCTYPE, entity or external reference is refused."""
    import defusedxml.ElementTree as safe_xml  # here: a web worker that takes no callback never loads the XML parser
    from defusedxml import DefusedXmlException

    try:
        return safe_xml.fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, safe_xml.ParseError, ValueError):
        raise Rejected("the body is not acceptable XML", 400) from None


def _cdata(value: str) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class Settings:
    """What a callback and the API need of an account."""

    app_id: str
    token: str
    mode: str = "plain"
    encoding_aes_key: str = ""
    app_secret: str = ""
    base_url: str = API
    welcome_text: str = ""
    replay_window: int = REPLAY_WINDOW

    @classmethod
    def of(cls, row: ChannelAccount) -> "Settings":
        config, secrets = row.config or {}, row.secrets or {}
        return cls(app_id=row.account, token=str(secrets.get("token") or ""), mode=str(config.get("mode") or "plain"),
                   encoding_aes_key=str(secrets.get("encoding_aes_key") or ""),
                   app_secret=str(secrets.get("app_secret") or ""),
                   base_url=str(config.get("base_url") or API).rstrip("/"),
                   welcome_text=str(config.get("welcome_text") or ""),
                   replay_window=int(config.get("replay_window") or REPLAY_WINDOW))

    def accepts_callbacks(self) -> bool:
        return bool(self.token) and (self.mode != "safe" or len(self.encoding_aes_key) == 43)


# ---- callbacks -------------------------------------------------------------------------------------------


def check_signature(settings: Settings, args: Any, remember_nonce: Callable[[str], bool],
                    now: Callable[[], float] = time.time) -> None:
    """The query's plain signature, a timestamp inside the replay window and a nonce not seen before."""
    ts, nonce = str(args.get("timestamp", "")), str(args.get("nonce", ""))
    expected = crypto.sha1_signature(settings.token, ts, nonce, "")
    if not hmac.compare_digest(expected, str(args.get("signature", ""))):
        raise Rejected("bad signature")
    _check_fresh(settings, ts, nonce, remember_nonce, now)


def _check_fresh(settings: Settings, ts: str, nonce: str, remember_nonce: Callable[[str], bool],
                 now: Callable[[], float]) -> None:
    if not ts.isdigit() or abs(now() - int(ts)) > settings.replay_window:
        raise Rejected("timestamp outside the replay window")
    if not nonce or len(nonce) > 128:
        raise Rejected("missing or invalid nonce")
    if not remember_nonce(nonce):
        raise Rejected("replayed nonce")


def open_body(settings: Settings, args: Any, body: bytes, remember_nonce: Callable[[str], bool],
              now: Callable[[], float] = time.time) -> str:
    """The verified message XML of a POST: plain (signature) or safe (msg_signature, decrypted)."""
    if settings.mode == "safe":
        if args.get("encrypt_type") != "aes":
            raise Rejected("the account is in safe mode: an encrypted message is expected", 400)
        encrypted = _xml(body).findtext("Encrypt") or ""
        ts, nonce = str(args.get("timestamp", "")), str(args.get("nonce", ""))
        try:
            crypto.verify_sha1(settings.token, ts, nonce, encrypted, str(args.get("msg_signature", "")))
        except crypto.CryptoError:
            raise Rejected("bad signature") from None
        _check_fresh(settings, ts, nonce, remember_nonce, now)
        try:
            return crypto.wx_decrypt(settings.encoding_aes_key, encrypted, settings.app_id)
        except crypto.CryptoError:
            raise Rejected("cannot decrypt", 400) from None
    if args.get("encrypt_type") == "aes":
        raise Rejected("the account is in plain mode: set it to safe mode to receive encrypted messages", 400)
    check_signature(settings, args, remember_nonce, now)
    return body.decode("utf-8", errors="replace")


def parse(app_id: str, xml: str) -> Inbound:
    """The :class:`Inbound` of one message or event XML."""
    root = _xml(xml)
    fields = {child.tag: (child.text or "") for child in root if child.tag != "Encrypt"}
    sender, created = fields.get("FromUserName", ""), fields.get("CreateTime", "")
    if not sender or not created.isdigit():
        raise Rejected("the message has no sender or time", 400)
    received = dt.datetime.fromtimestamp(int(created), dt.timezone.utc)
    kind = (fields.get("MsgType") or "").strip()
    if kind == "event":
        raw_event = fields.get("Event", "")
        event = EVENTS.get(raw_event, raw_event.lower()[:64])
        key = fields.get("EventKey") or None
        if event == "subscribe" and key:
            key = key[len("qrscene_"):] if key.startswith("qrscene_") else key
        return Inbound(platform="wechat", account=app_id, sender=sender, kind="event", event=event, scene=key,
                       msg_id=f"{sender}:{created}:{raw_event}"[:128], received_at=received, raw=fields,
                       unionid=fields.get("UnionId") or None)
    text = fields.get("Content") or fields.get("Recognition") or fields.get("Label") or fields.get("Title") or None
    msg_id = fields.get("MsgId") or f"{sender}:{created}:{kind}"
    return Inbound(platform="wechat", account=app_id, sender=sender, kind=KINDS.get(kind, kind or "unknown")[:32],
                   msg_id=msg_id[:128], received_at=received, text=text, raw=fields,
                   unionid=fields.get("UnionId") or None)


def passive_reply(settings: Settings, inbound: Inbound, text: str, now: Callable[[], float] = time.time,
                  nonce: str | None = None) -> str:
    """A passive text reply to ``inbound`` (encrypted in safe mode)."""
    ts = str(int(now()))
    xml = (f"<xml><ToUserName>{_cdata(inbound.sender)}</ToUserName>"
           f"<FromUserName>{_cdata(inbound.raw.get('ToUserName', ''))}</FromUserName>"
           f"<CreateTime>{ts}</CreateTime><MsgType>{_cdata('text')}</MsgType><Content>{_cdata(text)}</Content></xml>")
    if settings.mode != "safe":
        return xml
    nonce = nonce or os.urandom(8).hex()
    encrypted = crypto.wx_encrypt(settings.encoding_aes_key, xml, settings.app_id)
    signature = crypto.sha1_signature(settings.token, ts, nonce, encrypted)
    return (f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt><MsgSignature>{_cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{ts}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>")


# ---- the API -------------------------------------------------------------------------------------------


class TokenCache:
    """Access tokens per (base URL, app id), reused until five minutes before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], fetch: Callable[[], tuple[str, int]], now: Callable[[], float] = time.time) -> str:
        with self._lock:
            found = self._tokens.get(key)
            if found is not None and found[1] > now():
                return found[0]
        token, expires_in = fetch()
        with self._lock:
            self._tokens[key] = (token, now() + max(60, int(expires_in)) - 300)
        return token

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


class WeChatError(FatalAdapterError):
    """WeChat refused a call; ``errcode`` says why."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"wechat: {errcode} {errmsg}")
        self.errcode = errcode


class WeChatAPI:
    """The calls the CRM makes to the Official Account API, with the access token cached and refreshed."""

    def __init__(self, settings: Settings, http: Any = None, timeout: float = 10) -> None:
        import requests

        self.settings, self.timeout = settings, timeout
        self.http = http or requests.Session()

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import requests

        try:
            response = self.http.request(method, f"{self.settings.base_url}{path}", timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise RetriableAdapterError(f"wechat: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableAdapterError(f"wechat: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise RetriableAdapterError("wechat: the answer is not JSON") from exc
        return data if isinstance(data, dict) else {}

    def token(self) -> str:
        def fetch() -> tuple[str, int]:
            data = self._json("GET", "/cgi-bin/token", params={"grant_type": "client_credential",
                                                               "appid": self.settings.app_id,
                                                               "secret": self.settings.app_secret})
            if not data.get("access_token"):
                raise WeChatError(int(data.get("errcode") or -2), str(data.get("errmsg") or "no access token"))
            return str(data["access_token"]), int(data.get("expires_in") or 7200)

        return TOKENS.get((self.settings.base_url, self.settings.app_id), fetch)

    def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; a token WeChat calls invalid or expired is fetched again once."""
        for attempt in (1, 2):
            data = self._json("POST", path, params={"access_token": self.token()},
                              data=json.dumps(payload, ensure_ascii=False).encode(),
                              headers={"Content-Type": "application/json; charset=utf-8"})
            code = int(data.get("errcode") or 0)
            if code in TOKEN_EXPIRED and attempt == 1:
                TOKENS.forget((self.settings.base_url, self.settings.app_id))
                continue
            if code in BUSY:
                raise RetriableAdapterError(f"wechat: busy ({code})")
            if code:
                raise WeChatError(code, str(data.get("errmsg") or ""))
            return data
        raise WeChatError(42001, "the access token was refused twice")

    def send_text(self, openid: str, text: str) -> dict[str, Any]:
        """A customer-service text message (within 48 hours of the follower's last message)."""
        return self.call("/cgi-bin/message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}})

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        """A template message (any time, to a follower)."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                   "data": {k: {"value": str(v)} for k, v in data.items()}}
        if url:
            payload["url"] = url
        return self.call("/cgi-bin/message/template/send", payload)

    def send_subscribe(self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None) -> dict[str, Any]:
        """A subscribe message (订阅通知: one per consent the follower gave to that template)."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                   "data": {k: {"value": str(v)} for k, v in data.items()}}
        if page:
            payload["page"] = page
        return self.call("/cgi-bin/message/subscribe/bizsend", payload)

    def scene_qrcode(self, scene: str, expires_in: int) -> tuple[str, int]:
        """A temporary parametric QR code (``QR_STR_SCENE``) for ``scene``: the URL it holds and its lifetime."""
        data = self.call("/cgi-bin/qrcode/create", {"expire_seconds": expires_in, "action_name": "QR_STR_SCENE",
                                                    "action_info": {"scene": {"scene_str": scene}}})
        if not data.get("url"):
            raise WeChatError(int(data.get("errcode") or -2), str(data.get("errmsg") or "no QR code"))
        return str(data["url"]), int(data.get("expire_seconds") or expires_in)

    def oauth_openid(self, code: str) -> tuple[str, str | None]:
        """The openid (and unionid) of a follower who came back from snsapi_base authorisation with ``code``."""
        data = self._json("GET", "/sns/oauth2/access_token", params={
            "appid": self.settings.app_id, "secret": self.settings.app_secret, "code": code,
            "grant_type": "authorization_code"})
        if not data.get("openid"):
            raise WeChatError(int(data.get("errcode") or -2), str(data.get("errmsg") or "no openid"))
        return str(data["openid"]), (str(data["unionid"]) if data.get("unionid") else None)


# ---- the send provider ---------------------------------------------------------------------------------


class WeChatChannel:
    """Provider of the ``wechat`` channel: customer-service text messages, or template messages when the
    message's headers name ``X-WeChat-Template`` (subscribe messages: ``X-WeChat-Subscribe``; its ``text`` is
    then the template's data as a JSON object and ``X-WeChat-Url`` the link). A customer's address is ``<app id>:<openid>``, their newest openid."""

    channel = "wechat"

    def __init__(self, http: Any = None) -> None:
        self.http = http

    def address(self) -> Any:
        return (select(CustomerIdentity.account + literal(":") + CustomerIdentity.value)
                .where(CustomerIdentity.customer_id == Customer.id, CustomerIdentity.platform == "wechat_openid")
                .order_by(CustomerIdentity.id.desc()).limit(1).scalar_subquery())

    def _accounts(self, ctx: ServiceContext) -> dict[str, ChannelAccount]:
        rows = ctx.session.scalars(select(ChannelAccount).where(ChannelAccount.platform == "wechat",
                                                                ChannelAccount.enabled.is_(True)))
        return {row.account: row for row in rows if (row.secrets or {}).get("app_secret")}

    def configured(self, ctx: ServiceContext) -> str | None:
        if self._accounts(ctx):
            return None
        return str(_("Add a WeChat Official Account with its AppSecret under Channels."))

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        accounts, apis = self._accounts(ctx), {}
        out: list[Outcome] = []
        for message in messages:
            app_id, _sep, openid = message.address.partition(":")
            row = accounts.get(app_id)
            if row is None or not openid:
                out.append(Outcome(message.recipient_id, False, str(_("No WeChat account for this address."))))
                continue
            api = apis.setdefault(app_id, WeChatAPI(Settings.of(row), self.http))
            try:
                template = message.headers.get("X-WeChat-Template")
                subscribe = message.headers.get("X-WeChat-Subscribe")
                if template:
                    api.send_template(openid, template, json.loads(message.text or "{}"), message.headers.get("X-WeChat-Url"))
                elif subscribe:
                    api.send_subscribe(openid, subscribe, json.loads(message.text or "{}"), message.headers.get("X-WeChat-Url"))
                else:
                    api.send_text(openid, message.text or message.subject)
                out.append(Outcome(message.recipient_id, True))
            except WeChatError as exc:
                out.append(Outcome(message.recipient_id, False, str(ERRORS.get(exc.errcode, exc))))
            except (ValueError, AttributeError):
                out.append(Outcome(message.recipient_id, False, str(_("The template data is not a JSON object."))))
            except RetriableAdapterError as exc:
                if not out:  # nothing left yet: the whole batch is retried later
                    raise ChannelDown(str(exc)) from exc
                busy = str(_("WeChat is busy; send it again later."))  # never twice: WeChat does not dedupe
                done = {o.recipient_id for o in out}
                out += [Outcome(m.recipient_id, False, busy) for m in messages if m.recipient_id not in done]
                break
        return out
