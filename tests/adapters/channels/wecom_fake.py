"""A local stand-in for WeCom customer contact (企业微信 客户联系): a real HTTP server on 127.0.0.1.

It follows WeCom's documented server API for what the CRM uses, faithfully: ``gettoken`` issues
access tokens that expire (an expired one answers errcode 42001, an unknown one 40014, a wrong secret
40001); ``externalcontact/get_follow_user_list``, ``list`` (errcode 84061 for a stranger), ``get``
(follow users paged by ``cursor``/``next_cursor`` past ``follow_page`` users) and ``batch/get_by_user``
(``userid_list`` of at most 100, else 40058; ``limit`` at most 100; opaque cursors); ``get_corp_tag_list``;
``mark_tag`` (an unknown tag is 40068, a customer not of that staff member 84061); ``add_msg_template``
(customers who are no one's contact come back in ``fail_list``; a ``msgid``); the staff confirm a task
with :meth:`confirm`; ``get_groupmsg_task`` and ``get_groupmsg_send_result`` (status 0/1/2/3, paged).
``busy_next = n`` answers the next n calls with errcode 45009 (API frequency limit). Callbacks are made
with WXBizMsgCrypt (:mod:`adapters.crypto`): msg_signature, AES with the corp id as receive id.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from adapters import crypto


def _cursor(offset: int) -> str:
    return base64.b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode()[2:]) if cursor else 0


class FakeWeComContact:
    corp_id, secret = "ww5823bf96d3bd56c7", "contact-secret"
    token, aes_key = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    token_ttl = 7200
    follow_page = 500

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.busy_next = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.staff = ["zhangsan", "lisi"]
        self.contacts: dict[str, dict[str, Any]] = {}  # external_userid -> external_contact
        self.follows: dict[str, dict[str, dict[str, Any]]] = {}  # external_userid -> userid -> follow info
        self.tag_groups = [{"group_id": "etGROUP1", "group_name": "客户等级", "create_time": 1557838797, "order": 1,
                            "tag": [{"id": "etVIP", "name": "VIP", "create_time": 1557838797, "order": 1},
                                    {"id": "etNEW", "name": "新客户", "create_time": 1557838797, "order": 2}]},
                           {"group_id": "etGROUP2", "group_name": "兴趣", "create_time": 1557838797, "order": 2,
                            "tag": [{"id": "etTEA", "name": "茶叶", "create_time": 1557838797, "order": 1}]}]
        self.templates: dict[str, dict[str, Any]] = {}  # msgid -> the group send
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                url = urlparse(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                with fake.lock:
                    answer = fake.route(url.path, query, json.loads(raw) if raw else {})
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- data --------------------------------------------------------------------------------------------
    def add_contact(self, external_userid: str, name: str, userid: str, *, tags: tuple[str, ...] = (),
                    unionid: str | None = None, mobiles: tuple[str, ...] = (), remark: str = "", state: str = "",
                    createtime: int = 1525779812, corp_name: str | None = None) -> None:
        contact = {"external_userid": external_userid, "name": name, "type": 2 if corp_name else 1, "gender": 1,
                   "avatar": "http://p.qlogo.cn/bizmail/x/0"}
        if unionid:
            contact["unionid"] = unionid
        if corp_name:
            contact.update(corp_name=corp_name, corp_full_name=corp_name + "有限公司", position="Manager")
        self.contacts.setdefault(external_userid, contact)  # a second follow user: the same customer
        self.follows.setdefault(external_userid, {})[userid] = {
            "userid": userid, "remark": remark, "description": "", "createtime": createtime, "tag_id": list(tags),
            "remark_mobiles": list(mobiles), "add_way": 1, "oper_userid": userid, "state": state}

    def tag_name(self, tag_id: str) -> str:
        return next(t["name"] for g in self.tag_groups for t in g["tag"] if t["id"] == tag_id)

    # ---- the API -------------------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((path, {**query, **body}))
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            self.token_requests += 1
            token = secrets.token_hex(16)
            self.tokens[token] = time.time() + self.token_ttl
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        token = query.get("access_token", "")
        if token not in self.tokens:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        if self.tokens[token] < time.time():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if self.busy_next > 0:
            self.busy_next -= 1
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        handler = getattr(self, "api_" + path.rsplit("/cgi-bin/externalcontact/", 1)[-1].replace("/", "_"), None)
        if handler is None:
            return {"errcode": 404, "errmsg": "no such api"}
        result = handler(query, body)
        return result if "errcode" in result else {"errcode": 0, "errmsg": "ok", **result}

    def _err(self, code: int, msg: str) -> dict[str, Any]:
        return {"errcode": code, "errmsg": msg}

    def api_get_follow_user_list(self, query, body):
        return {"follow_user": list(self.staff)}

    def api_list(self, query, body):
        userid = query.get("userid", "")
        if userid not in self.staff:
            return self._err(84061, "not external contact")
        return {"external_userid": [e for e, f in self.follows.items() if userid in f]}

    def api_get(self, query, body):
        external = query.get("external_userid", "")
        if external not in self.contacts:
            return self._err(40096, "invalid external userid")
        follow = [{**{k: v for k, v in f.items() if k != "tag_id"},
                   "tags": [{"group_name": "", "tag_name": self.tag_name(t), "tag_id": t, "type": 1} for t in f["tag_id"]]}
                  for f in self.follows[external].values()]
        start = _offset(query.get("cursor", ""))
        page = follow[start:start + self.follow_page]
        more = start + len(page) < len(follow)
        return {"external_contact": self.contacts[external], "follow_user": page,
                "next_cursor": _cursor(start + len(page)) if more else ""}

    def api_batch_get_by_user(self, query, body):
        userids = body.get("userid_list") or []
        if not userids or len(userids) > 100:
            return self._err(40058, "field `userid_list` exceed max length 100")
        limit = min(int(body.get("limit") or 50), 100)
        rows = [{"external_contact": self.contacts[e], "follow_info": f[u]}
                for e, f in self.follows.items() for u in userids if u in f]
        start = _offset(body.get("cursor") or "")
        page = rows[start:start + limit]
        return {"external_contact_list": page, "next_cursor": _cursor(start + len(page)) if start + len(page) < len(rows) else ""}

    def api_get_corp_tag_list(self, query, body):
        return {"tag_group": self.tag_groups}

    def api_mark_tag(self, query, body):
        follow = self.follows.get(body.get("external_userid", ""), {}).get(body.get("userid", ""))
        if follow is None:
            return self._err(84061, "not external contact")
        known = {t["id"] for g in self.tag_groups for t in g["tag"]}
        if any(t not in known for t in (body.get("add_tag") or []) + (body.get("remove_tag") or [])):
            return self._err(40068, "invalid tagid")
        follow["tag_id"] = [t for t in follow["tag_id"] if t not in body.get("remove_tag", [])]
        follow["tag_id"] += [t for t in body.get("add_tag", []) if t not in follow["tag_id"]]
        return {}

    def api_add_msg_template(self, query, body):
        if body.get("chat_type", "single") != "single":
            return self._err(40058, "chat_type")
        sender = body.get("sender")
        if sender and sender not in self.staff:
            return self._err(60111, "invalid userid")
        if not (body.get("text") or {}).get("content"):
            return self._err(41042, "content is empty")
        fail, tasks = [], {}
        for external in body.get("external_userid") or []:
            follow = self.follows.get(external, {})
            owners = [sender] if sender and sender in follow else ([] if sender else list(follow))
            if not owners:
                fail.append(external)
            for u in owners:
                tasks.setdefault(u, {})[external] = {"status": 0, "send_time": 0}
        msgid = "msg" + secrets.token_hex(12)
        self.templates[msgid] = {"text": body["text"]["content"], "tasks": tasks, "dispatched": False}
        return {"fail_list": fail, "msgid": msgid}

    def confirm(self, msgid: str, userid: str, quota_reached: tuple[str, ...] = ()) -> None:
        """The staff member sends the task in the WeCom app."""
        with self.lock:
            for external, row in self.templates[msgid]["tasks"][userid].items():
                row["status"] = 3 if external in quota_reached else 1
                row["send_time"] = int(time.time())

    def api_get_groupmsg_task(self, query, body):
        send = self.templates.get(body.get("msgid", ""))
        if send is None:
            return self._err(41062, "invalid msgid")
        rows = [{"userid": u, "status": int(all(r["status"] for r in t.values())), "send_time": 0}
                for u, t in send["tasks"].items()]
        return self._page(rows, body, "task_list")

    def api_get_groupmsg_send_result(self, query, body):
        send = self.templates.get(body.get("msgid", ""))
        if send is None:
            return self._err(41062, "invalid msgid")
        rows = [{"external_userid": e, "userid": body.get("userid"), **r}
                for e, r in send["tasks"].get(body.get("userid"), {}).items()]
        return self._page(rows, body, "send_list")

    def _page(self, rows: list[dict[str, Any]], body: dict[str, Any], key: str) -> dict[str, Any]:
        limit = min(int(body.get("limit") or 500), 1000)
        start = _offset(body.get("cursor") or "")
        page = rows[start:start + limit]
        return {key: page, "next_cursor": _cursor(start + len(page)) if start + len(page) < len(rows) else ""}

    # ---- callbacks ------------------------------------------------------------------------------------
    def event_xml(self, change: str, userid: str, external: str, state: str = "", at: int | None = None) -> str:
        extra = f"<State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[WELCOME]]></WelcomeCode>" if change == "add_external_contact" else ""
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
                f"<CreateTime>{at or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
                f"<UserID><![CDATA[{userid}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}</xml>")

    def tag_event_xml(self, tag_id: str, change: str = "create") -> str:
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                f"<Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[{tag_id}]]></Id>"
                f"<TagType><![CDATA[tag]]></TagType><ChangeType><![CDATA[{change}]]></ChangeType></xml>")

    def callback(self, inner: str, *, token: str | None = None, timestamp: str | None = None,
                 nonce: str | None = None, corp_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """The (query args, body) WeCom POSTs to the callback URL for ``inner``."""
        encrypted = crypto.wx_encrypt(self.aes_key, inner, corp_id or self.corp_id)
        ts, nonce = timestamp or str(int(time.time())), nonce or str(secrets.randbelow(10**9))
        args = {"msg_signature": crypto.sha1_signature(token or self.token, ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
                f"<AgentID><![CDATA[]]></AgentID></xml>").encode()
        return args, body
