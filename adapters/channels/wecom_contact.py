"""WeCom customer contact (企业微信 客户联系): external contacts, tags both ways, callbacks, group sends.

API (qyapi.weixin.qq.com, ``?access_token=``): ``gettoken`` (corpid + the customer-contact secret; the token
is cached and fetched again on errcode 40014/42001), ``externalcontact/get_follow_user_list``,
``externalcontact/list?userid=``, ``externalcontact/get?external_userid=&cursor=`` (follow users paged past
500), ``externalcontact/batch/get_by_user`` (userid_list of at most 100, cursor, limit at most 100),
``get_corp_tag_list``, ``mark_tag``, ``add_msg_template`` (a group-send task the staff confirm in WeCom;
answers ``msgid`` and ``fail_list``), ``get_groupmsg_task`` and ``get_groupmsg_send_result`` (cursor paged;
status 0 not sent yet, 1 sent, 2 not a contact, 3 the customer's group-message quota was reached); the
``wecom`` channel built on them is :mod:`.wecom_send`.
Errcode 45009 (API frequency) and -1 (busy) are retried with backoff. Callbacks: the WXBizMsgCrypt scheme
of :mod:`adapters.crypto` (msg_signature over token, timestamp, nonce and ciphertext; AES with the corp id
as receive id), events ``change_external_contact`` (ChangeType add/edit/del_external_contact,
del_follow_user...) and ``change_external_tag``; the answer is ``success``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any


from crmcore.errors import AuthenticationRequired, BadRequest, FatalAdapterError, NotFound, RetriableAdapterError
from crmcore.i18n import _
from crmcore.normalize import normalize_phone
from crmcore.runtime import ServiceContext

from .. import crypto
from .base import Inbound
from .sms_common import describe

BASE_URL = "https://qyapi.weixin.qq.com"
TOKEN_EXPIRED = (40014, 42001)
BUSY = (45009, -1)
BACKOFF = (1.0, 2.0, 4.0)  # seconds before each retry of a busy answer
REPLAY_WINDOW = 300
ACK = "success"  # the callback's answer (text/plain)
CONTACT_EVENTS = ("add_external_contact", "edit_external_contact", "add_half_external_contact",
                  "del_external_contact", "del_follow_user", "transfer_fail")

_tokens: dict[tuple[str, ...], tuple[str, float]] = {}
_tokens_lock = threading.Lock()
_SECRET_QUERY = re.compile(r"((?:corpsecret|access_token)=)[^&\s\"]+")


class RedactQuery(logging.Filter):
    """WeCom puts the corp secret and the access token in the query: urllib3 logs request lines at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "corpsecret=" in text or "access_token=" in text:
            record.msg, record.args = _SECRET_QUERY.sub(r"\1***", text), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactQuery())


class WeComError(FatalAdapterError):
    """WeCom refused a call with an errcode other than the ones retried."""

    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"wecom: {path}: {code} {message}")
        self.errcode, self.errmsg = code, message


class WeComContactClient:
    """The customer-contact API of one corp, with the access token cached and busy answers retried."""

    def __init__(self, corp_id: str, secret: str, base_url: str = BASE_URL, timeout: float = 10.0, http: Any = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        import requests

        self.corp_id, self._secret = corp_id, secret
        self.base = base_url.rstrip("/")
        self.timeout, self.sleep, self.clock = timeout, sleep, clock
        self.http = http or requests.Session()
        self._key = ("wecom-contact", self.base, corp_id, hashlib.sha256(secret.encode()).hexdigest()[:16])

    def __repr__(self) -> str:  # never the secret or a token
        return f"<WeComContactClient {self.base} {self.corp_id}>"

    # ---- plumbing ---------------------------------------------------------------------------------
    def _http(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> dict[str, Any]:
        import requests

        try:
            response = self.http.request(method, f"{self.base}{path}", params=params, json=body, timeout=self.timeout)
        except requests.RequestException as exc:  # described without its text: the URL has the token
            raise RetriableAdapterError(f"wecom: {describe(exc)}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableAdapterError(f"wecom: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise RetriableAdapterError(f"wecom: HTTP {response.status_code}, not JSON") from None
        return data if isinstance(data, dict) else {"errcode": -1, "errmsg": "not an object"}

    def token(self) -> str:
        with _tokens_lock:
            found = _tokens.get(self._key)
            if found is not None and found[1] > self.clock():
                return found[0]
        data = self._http("GET", "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self._secret})
        if data.get("errcode") not in (0, None) or not data.get("access_token"):
            raise WeComError("gettoken", int(data.get("errcode") or -1), str(data.get("errmsg") or ""))
        with _tokens_lock:  # reused until five minutes before WeCom's expiry
            _tokens[self._key] = (str(data["access_token"]), self.clock() + max(60, int(data.get("expires_in") or 7200) - 300))
        return str(data["access_token"])

    def forget_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._key, None)

    def api(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
        """One call: a refused token is fetched again once, a busy answer retried with backoff."""
        refreshed, waits = False, list(BACKOFF)
        while True:
            data = self._http(method, path, {**(params or {}), "access_token": self.token()}, body)
            code = int(data.get("errcode") or 0)
            if code == 0:
                return data
            if code in TOKEN_EXPIRED and not refreshed:
                self.forget_token()
                refreshed = True
                continue
            if code in BUSY:
                if not waits:
                    raise RetriableAdapterError(f"wecom: {path}: busy ({code})")
                self.sleep(waits.pop(0))
                continue
            raise WeComError(path, code, str(data.get("errmsg") or ""))

    # ---- contacts -----------------------------------------------------------------------------------
    def follow_users(self) -> list[str]:
        """The staff with the customer-contact feature."""
        return [str(u) for u in self.api("GET", "/cgi-bin/externalcontact/get_follow_user_list").get("follow_user") or []]

    def list_contacts(self, userid: str) -> list[str]:
        """The external_userids of one staff member's customers."""
        return [str(u) for u in self.api("GET", "/cgi-bin/externalcontact/list", {"userid": userid}).get("external_userid") or []]

    def get_contact(self, external_userid: str) -> dict[str, Any]:
        """One customer with every follow user (paged by cursor past 500)."""
        cursor, follow = "", list[dict[str, Any]]()
        while True:
            data = self.api("GET", "/cgi-bin/externalcontact/get", {"external_userid": external_userid, "cursor": cursor})
            follow += data.get("follow_user") or []
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return {"external_contact": data.get("external_contact") or {}, "follow_user": follow}

    def batch_by_user(self, userids: Iterable[str], limit: int = 100) -> Iterator[dict[str, Any]]:
        """Every (customer, follow info) of these staff: 100 userids a call, paged by cursor."""
        ids = list(userids)
        for start in range(0, len(ids), 100):
            cursor = ""
            while True:
                data = self.api("POST", "/cgi-bin/externalcontact/batch/get_by_user",
                                body={"userid_list": ids[start:start + 100], "cursor": cursor, "limit": min(limit, 100)})
                yield from data.get("external_contact_list") or []
                cursor = str(data.get("next_cursor") or "")
                if not cursor:
                    break

    def pull_contacts(self, userids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every customer of these staff (all with the feature when None), each once with all its follow users:
        ``{"external_contact": {...}, "follow_user": [{userid, remark, tag_id, createtime, ...}]}``."""
        merged: dict[str, dict[str, Any]] = {}
        for item in self.batch_by_user(self.follow_users() if userids is None else userids):
            contact = item.get("external_contact") or {}
            key = str(contact.get("external_userid") or "")
            if not key:
                continue
            entry = merged.setdefault(key, {"external_contact": contact, "follow_user": []})
            if item.get("follow_info"):
                entry["follow_user"].append(item["follow_info"])
        return list(merged.values())

    # ---- tags ------------------------------------------------------------------------------------------
    def tag_library(self) -> dict[str, dict[str, str]]:
        """The corp's customer tags: ``{tag id: {"name", "group"}}``."""
        out: dict[str, dict[str, str]] = {}
        for group in self.api("POST", "/cgi-bin/externalcontact/get_corp_tag_list", body={}).get("tag_group") or []:
            for tag in group.get("tag") or []:
                if not tag.get("deleted"):
                    out[str(tag["id"])] = {"name": str(tag.get("name") or ""), "group": str(group.get("group_name") or "")}
        return out

    def mark_tag(self, userid: str, external_userid: str, add: list[str], remove: list[str]) -> None:
        self.api("POST", "/cgi-bin/externalcontact/mark_tag", body={
            "userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove})

    # ---- group sends -----------------------------------------------------------------------------------
    def add_msg_template(self, external_userids: list[str], text: str, sender: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"chat_type": "single", "external_userid": external_userids, "text": {"content": text}}
        if sender:
            body["sender"] = sender
        return self.api("POST", "/cgi-bin/externalcontact/add_msg_template", body=body)

    def _paged(self, path: str, body: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
        cursor = ""
        while True:
            data = self.api("POST", path, body={**body, "limit": 1000, "cursor": cursor})
            yield from data.get(key) or []
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return

    def group_send_results(self, msgid: str) -> Iterator[dict[str, Any]]:
        """``{external_userid, userid, status, send_time}`` of every customer of a group send, staff by staff."""
        for task in self._paged("/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": msgid}, "task_list"):
            yield from self._paged("/cgi-bin/externalcontact/get_groupmsg_send_result",
                                   {"msgid": msgid, "userid": task.get("userid")}, "send_list")


# ---- contacts as CRM data ---------------------------------------------------------------------------


def tag_names(follow: Mapping[str, Any], library: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The names of a follow user's tags: ``tags`` of externalcontact/get, ``tag_id`` of the batch call."""
    names = [str(t.get("tag_name")) for t in follow.get("tags") or [] if t.get("tag_name") and t.get("type", 1) == 1]
    names += [library[t]["name"] for t in follow.get("tag_id") or [] if t in library]
    return names


def to_customers(contacts: Iterable[Mapping[str, Any]], corp_id: str, library: Mapping[str, Mapping[str, str]],
                 region: str = "CN") -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pulled contacts as (customer data, identity) pairs: the customer's fields as the customer service takes
    them (name, kind, source_channel, phone when a follow user noted a valid one, tag names) and the WeCom
    identity (platform, account = corp id, external_userid, unionid when bound, the follow users)."""
    out = []
    for item in contacts:
        c = item.get("external_contact") or {}
        follow = sorted(item.get("follow_user") or [], key=lambda f: int(f.get("createtime") or 0))
        phones = [p for f in follow for p in f.get("remark_mobiles") or [] if normalize_phone(str(p), region)]
        tags = sorted({n for f in follow for n in tag_names(f, library)})
        name = str(c.get("name") or "").strip() or next((str(f["remark"]) for f in follow if f.get("remark")), "") or str(c.get("external_userid"))
        customer: dict[str, Any] = {"name": name[:255], "kind": "person", "source_channel": "wecom", "tags": tags}
        if phones:
            customer["phone"] = str(phones[0])
        notes = [str(c.get("corp_full_name") or c.get("corp_name") or ""), str(c.get("position") or "")]
        if any(notes):
            customer["notes"] = " / ".join(n for n in notes if n)
        identity = {"platform": "wecom", "account": corp_id, "external_id": str(c.get("external_userid")),
                    "unionid": c.get("unionid") or None,
                    "follow_users": [{"userid": f.get("userid"), "remark": f.get("remark"), "state": f.get("state"),
                                      "added_at": f.get("createtime")} for f in follow]}
        out.append((customer, identity))
    return out


def push_tags(client: WeComContactClient, userid: str, external_userid: str, wanted: Iterable[str],
              current_ids: Iterable[str], library: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Make a customer's corp tags in WeCom (as one follow user sees them) the CRM's: tags of the library
    added or removed by ``mark_tag``; names the library does not have are left out (WeCom tags are created
    by an admin) and returned as ``unknown``."""
    by_name = {v["name"]: k for k, v in library.items()}
    wanted_set = set(wanted)
    current = {t for t in current_ids if t in library}
    add = sorted(by_name[n] for n in wanted_set if n in by_name and by_name[n] not in current)
    remove = sorted(t for t in current if library[t]["name"] not in wanted_set)
    if add or remove:
        client.mark_tag(userid, external_userid, add, remove)
    return {"add": add, "remove": remove, "unknown": sorted(n for n in wanted_set if n not in by_name)}


# ---- callbacks -------------------------------------------------------------------------------------


def _xml(text: str | bytes) -> Any:
    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    try:
        return safe_xml.fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, safe_xml.ParseError, ValueError):
        raise BadRequest(_("The callback is not acceptable XML.")) from None


def _callback_settings(ctx: ServiceContext) -> tuple[str, str, str]:
    s = ctx.settings
    for name in ("WECOM_CORP_ID", "WECOM_CALLBACK_TOKEN", "WECOM_CALLBACK_AES_KEY"):
        if not s.get(name):  # not set up: the same answer as an unknown URL
            raise NotFound(_("This callback is not set up."))
    return str(s["WECOM_CORP_ID"]), str(s["WECOM_CALLBACK_TOKEN"]), str(s["WECOM_CALLBACK_AES_KEY"])


def _open(ctx: ServiceContext, args: Mapping[str, str], encrypted: str, remember_nonce: Callable[[str], bool] | None,
          now: float | None) -> str:
    corp_id, token, aes_key = _callback_settings(ctx)
    ts, nonce = str(args.get("timestamp") or ""), str(args.get("nonce") or "")
    try:
        crypto.verify_sha1(token, ts, nonce, encrypted, str(args.get("msg_signature") or ""))
    except crypto.CryptoError:
        raise AuthenticationRequired(_("The callback's signature is wrong.")) from None
    window = int(ctx.settings.get("WECOM_REPLAY_WINDOW") or REPLAY_WINDOW)
    if not ts.isdigit() or abs((time.time() if now is None else now) - int(ts)) > window:
        raise AuthenticationRequired(_("The callback's timestamp is outside the replay window."))
    if not nonce or len(nonce) > 128 or (remember_nonce is not None and not remember_nonce(nonce)):
        raise AuthenticationRequired(_("The callback was replayed."))
    try:
        return crypto.wx_decrypt(aes_key, encrypted, corp_id)
    except crypto.CryptoError:
        raise AuthenticationRequired(_("The callback cannot be decrypted.")) from None


def verify_url(ctx: ServiceContext, args: Mapping[str, str], remember_nonce: Callable[[str], bool] | None = None,
               now: float | None = None) -> str:
    """WeCom's URL check (GET with ``echostr``): the decrypted echo to answer with."""
    return _open(ctx, args, str(args.get("echostr") or ""), remember_nonce, now)


def parse_event(xml: str) -> list[Inbound]:
    """A decrypted callback message as Inbound (customer-contact and tag events; others are not ours)."""
    msg = _xml(xml)
    event, corp = msg.findtext("Event") or "", msg.findtext("ToUserName") or ""
    try:
        at = dt.datetime.fromtimestamp(int(msg.findtext("CreateTime") or ""), dt.timezone.utc)
    except ValueError:
        raise BadRequest(_("The callback's time is not a number.")) from None
    fields = {child.tag: (child.text or "") for child in msg}
    change = fields.get("ChangeType", "")
    if event == "change_external_contact" and change in CONTACT_EVENTS:
        external, userid = fields.get("ExternalUserID", ""), fields.get("UserID", "")
        if not external:
            raise BadRequest(_("The callback names no customer."))
        return [Inbound(platform="wecom", account=corp, sender=external, kind="event", event=change, received_at=at,
                        msg_id=f"wecom:{change}:{userid}:{external}:{int(at.timestamp())}",
                        scene=fields.get("State") or None, raw={k: v for k, v in fields.items() if k != "WelcomeCode"})]
    if event == "change_external_tag":  # the corp's tag library changed: no customer sends it
        return [Inbound(platform="wecom", account=corp, sender="", kind="event", event="change_external_tag",
                        received_at=at, msg_id=f"wecom:tag:{change}:{fields.get('TagType', '')}:{fields.get('Id', '')}:"
                                              f"{int(at.timestamp())}", raw=fields)]
    return []


def receive(ctx: ServiceContext, args: Mapping[str, str], body: bytes,
            remember_nonce: Callable[[str], bool] | None = None, now: float | None = None) -> list[Inbound]:
    """The callback endpoint's work (POST): verify, decrypt, parse; answer ``success``."""
    envelope = _xml(body)
    encrypted = envelope.findtext("Encrypt") or ""
    if not encrypted:
        raise BadRequest(_("The callback has no Encrypt element."))
    return parse_event(_open(ctx, args, encrypted, remember_nonce, now))
