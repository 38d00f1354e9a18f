"""WeCom customer contact (企业微信 客户联系): external contacts, tags both ways, callbacks, group sends.

API (qyapi.weixin.qq.com, ``?access_token=``): ``gettoken`` (corpid + the customer-contact secret; the token
is cached and fetched again on errcode 40014/42001), ``externalcontact/get_follow_user_list``,
``externalcontact/list?userid=``, ``externalcontact/get?external_userid=&cursor=`` (follow users paged past
500), ``externalcontact/batch/get_by_user`` (userid_list of at most 100, cursor, limit at most 100),
``get_corp_tag_list``, ``mark_tag``, ``add_msg_template`` (a group-send task the staff confirm in WeCom;
answers ``msgid`` and ``fail_list``), ``get_groupmsg_task`` and ``get_groupmsg_send_result`` (cursor paged;
status 0 not sent yet, 1 sent, 2 not a contact, 3 the customer already got a group message today's quota).
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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from crmcore.channels import ChannelDown, Outcome, Outgoing
from crmcore.errors import AuthenticationRequired, BadRequest, FatalAdapterError, NotFound, RetriableAdapterError
from crmcore.i18n import _
from crmcore.models import SyncState
from crmcore.normalize import normalize_phone
from crmcore.runtime import ServiceContext

from .. import crypto
from .base import Inbound
from .sms import describe

BASE_URL = "https://qyapi.weixin.qq.com"
TOKEN_EXPIRED = (40014, 42001)
BUSY = (45009, -1)
BACKOFF = (1.0, 2.0, 4.0)  # seconds before each retry of a busy answer
REPLAY_WINDOW = 300
GROUP_SENDS = "wecom-groupmsg"  # SyncState.connection of group sends waiting for their results
RESULT_DAYS = 7  # a group send's results are asked for this long
SEND_STATUS = {1: "delivered", 2: "failed", 3: "failed"}
CONTACT_EVENTS = ("add_external_contact", "edit_external_contact", "add_half_external_contact",
                  "del_external_contact", "del_follow_user", "transfer_fail")
REASONS: dict[int, Any] = {
    40096: _("WeCom does not know this customer (external user id)."),
    84061: _("The customer is not a WeCom contact of the sender."),
    60111: _("WeCom does not know the sending staff member (WECOM_SENDER)."),
    41063: _("WeCom is still dispatching the group send; its results come later."),
    40068: _("WeCom does not know the tag."),
}

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


def reason(code: int, message: str = "") -> str:
    text = REASONS.get(code)
    if text is not None:
        return f"{text} ({code})"
    refused = _("WeCom refused the group send.")
    return f"{refused} ({code} {message})"[:255]


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


# ---- the channel ----------------------------------------------------------------------------------


@dataclass
class WeComChannel:
    """The ``wecom`` channel: a message becomes a WeCom group-send task (``add_msg_template``) that the
    customer's follow user (or ``WECOM_SENDER``) confirms in WeCom. Settings ``WECOM_CORP_ID``,
    ``WECOM_CONTACT_SECRET``, ``WECOM_BASE_URL``, ``WECOM_SENDER``. ``address_expr``: the SQL expression of a
    customer's external_userid (the identity service gives it; NULL until it is wired)."""

    address_expr: Any = None
    channel: str = field(default="wecom", init=False)

    def address(self) -> Any:
        from sqlalchemy import null

        return self.address_expr if self.address_expr is not None else null()

    def configured(self, ctx: ServiceContext) -> str | None:
        for name in ("WECOM_CORP_ID", "WECOM_CONTACT_SECRET"):
            if not ctx.settings.get(name):
                return str(_("Set %(name)s to send through WeCom.", name=name))
        return None

    def client(self, ctx: ServiceContext) -> WeComContactClient:
        s = ctx.settings
        return WeComContactClient(str(s["WECOM_CORP_ID"]), str(s["WECOM_CONTACT_SECRET"]), str(s.get("WECOM_BASE_URL") or BASE_URL))

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        if (problem := self.configured(ctx)) is not None:
            return [Outcome(m.recipient_id, False, problem) for m in messages]
        client, sender = self.client(ctx), str(ctx.settings.get("WECOM_SENDER") or "") or None
        outcomes: dict[int, Outcome] = {}
        groups: dict[str, list[Outgoing]] = {}
        for m in messages:
            text = (m.text or "").strip()
            if not text:
                outcomes[m.recipient_id] = Outcome(m.recipient_id, False, str(_("The message has no text to send.")))
            else:
                groups.setdefault(text[:4000], []).append(m)
        answered = 0
        try:
            for text, group in groups.items():
                for start in range(0, len(group), 10000):  # add_msg_template takes 10,000 customers a task
                    for o in self._send_group(ctx, client, text, group[start:start + 10000], sender):
                        outcomes[o.recipient_id] = o
                        answered += 1
        except RetriableAdapterError as exc:
            if not answered:
                raise ChannelDown(str(exc)) from None
            outcomes.update({m.recipient_id: Outcome(m.recipient_id, False, "retry")
                             for m in messages if m.recipient_id not in outcomes})
        return [outcomes[m.recipient_id] for m in messages]

    def _send_group(self, ctx: ServiceContext, client: WeComContactClient, text: str, group: list[Outgoing],
                    sender: str | None) -> list[Outcome]:
        try:
            data = client.add_msg_template([m.address for m in group], text, sender)
        except WeComError as exc:
            return [Outcome(m.recipient_id, False, reason(exc.errcode, exc.errmsg)) for m in group]
        refused = {str(u) for u in data.get("fail_list") or []}
        msgid = str(data.get("msgid") or "")
        if msgid:  # remembered until its results are in (group_send_results)
            ctx.session.add(SyncState(connection=GROUP_SENDS, stream=msgid[:64], bookmark={
                "msgid": msgid, "created": dt.datetime.now(dt.timezone.utc).isoformat(), "corp_id": client.corp_id,
                "messages": {m.address: m.message_id for m in group if m.address not in refused}, "final": {}}))
        not_contact = str(REASONS[84061])
        return [Outcome(m.recipient_id, False, not_contact) if m.address in refused else Outcome(m.recipient_id, True)
                for m in group]


def group_send_results(ctx: ServiceContext, client: WeComContactClient | None = None,
                       now: dt.datetime | None = None) -> list[Inbound]:
    """Ask WeCom for the results of the group sends still open: each customer's final status once, as a
    receipt (delivered, or failed: not a contact / quota reached); a send is forgotten when every customer
    has one or after :data:`RESULT_DAYS`. The caller stores the receipts and commits."""
    now = now or dt.datetime.now(dt.timezone.utc)
    client = client or WeComChannel().client(ctx)
    out: list[Inbound] = []
    for state in ctx.session.scalars(select(SyncState).where(SyncState.connection == GROUP_SENDS)).all():
        book = dict(state.bookmark or {})
        waiting, final = dict(book.get("messages") or {}), dict(book.get("final") or {})
        msgid = str(book.get("msgid") or state.stream)
        try:
            rows = list(client.group_send_results(msgid))
        except WeComError as exc:
            if exc.errcode == 41063:  # still being dispatched
                continue
            raise
        for row in rows:
            external, status = str(row.get("external_userid") or ""), int(row.get("status") or 0)
            if external not in waiting or external in final or status not in SEND_STATUS:
                continue
            final[external] = status
            at = dt.datetime.fromtimestamp(int(row.get("send_time") or 0), dt.timezone.utc) if row.get("send_time") else now
            out.append(Inbound(platform="wecom", account=str(book.get("corp_id") or client.corp_id), sender=external,
                               msg_id=f"wecom:groupmsg:{msgid}:{external}:{status}", kind="receipt",
                               received_at=at, event=SEND_STATUS[status],
                               text=None if status == 1 else ("not a contact" if status == 2 else "quota reached"),
                               raw={"msgid": msgid, "userid": row.get("userid"), "status": status,
                                    "message_id": waiting[external]}))
        created = dt.datetime.fromisoformat(str(book.get("created") or now.isoformat()))
        if len(final) >= len(waiting) or now - created > dt.timedelta(days=RESULT_DAYS):
            ctx.session.delete(state)
        else:
            state.bookmark = {**book, "final": final}
    return out
