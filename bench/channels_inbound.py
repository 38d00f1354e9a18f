"""Channels: WeChat Official Account messages POSTed to the CRM's callback (signature, timestamp and nonce
checked, XML parsed, stored once, the sender matched by openid, an interaction on the customer's timeline)
against a bare Flask route that only verifies and parses the same requests, in the same run (best of
``--repeat``, interleaved; WSGI test clients on both sides, no network).

``python bench/run.py channels_inbound [--messages N] [--customers C] [--repeat R] [--pg URL]``

Defaults: 10,000 messages from 1,000 followers, each a customer known by their openid.
"""
from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from typing import Any

APP_ID, TOKEN = "wxbench000000001", "bench-token"


def _runtime(url: str, instance: str) -> Any:
    from crmcore.config import load_settings
    from crmcore.migrate import upgrade
    from crmcore.runtime import build_runtime

    settings = load_settings({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench-secret-key",
                              "PLUGINS_AUTOLOAD": False, "PLUGINS": ["adapters.channels"]}, environ={})
    rt = build_runtime(settings)
    upgrade(rt)
    return rt


def _seed(rt: Any, customers: int) -> None:
    from adapters.channels.models import ChannelAccount
    from crmcore.models import Customer, CustomerIdentity

    session = rt.db.new_session()
    session.add(ChannelAccount(platform="wechat", account=APP_ID, name="bench", config={"mode": "plain"},
                               secrets={"token": TOKEN}))
    rows = [Customer(code=f"B{i:06d}", name=f"客户{i}", search_text=f"客户{i}") for i in range(customers)]
    session.add_all(rows)
    session.flush()
    session.add_all([CustomerIdentity(customer_id=c.id, platform="wechat_openid", account=APP_ID, value=f"o{i:08d}",
                                      source="bench") for i, c in enumerate(rows)])
    session.commit()
    session.close()


def _requests(start: int, n: int, customers: int, round_no: int) -> list[tuple[str, bytes]]:
    """Messages ``start`` .. ``start + n - 1`` of a round, signed now (a long round's last chunk would otherwise
    arrive outside the callback's replay window)."""
    from urllib.parse import urlencode

    from adapters import crypto

    out = []
    now = int(time.time())
    for i in range(start, start + n):
        nonce = secrets.token_hex(8)
        query = urlencode({"signature": crypto.sha1_signature(TOKEN, str(now), nonce, ""), "timestamp": now, "nonce": nonce})
        body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o{i % customers:08d}]]>"
                f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[第 {i} 条消息：请问明前龙井的价格？]]></Content><MsgId>{round_no}{i:09d}</MsgId></xml>")
        out.append((query, body.encode()))
    return out


def _bare_app() -> Any:
    """Only what every callback must do before anything is stored: verify and parse."""
    from flask import Flask, request

    from adapters.channels import wechat

    app = Flask("bare")
    settings = wechat.Settings(app_id=APP_ID, token=TOKEN)
    seen: set[str] = set()

    def remember(nonce: str) -> bool:
        if nonce in seen:
            return False
        seen.add(nonce)
        return True

    @app.post("/callback")
    def callback() -> Any:
        xml = wechat.open_body(settings, request.args, request.get_data(), remember)
        wechat.parse(APP_ID, xml)
        return "success"

    return app


def _timed(client: Any, path: str, messages: int, customers: int, round_no: int) -> float:
    """Seconds spent posting a round's messages, signed in chunks of 1,000 just before they are sent (untimed)."""
    spent = 0.0
    for start in range(0, messages, 1000):
        batch = _requests(start, min(1000, messages - start), customers, round_no)
        began = time.perf_counter()
        for query, body in batch:
            response = client.post(f"{path}?{query}", data=body, headers={"Content-Type": "text/xml"})
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code} {response.get_data(as_text=True)[:200]}")
        spent += time.perf_counter() - began
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="channels_inbound", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages per round (issue: 10000)")
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("CRM_BENCH_PG"), help="a PostgreSQL URL instead of SQLite")
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from adapters.channels.models import ChannelMessage
    from crmcore.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        url = args.pg or f"sqlite:///{folder}/bench.db"
        rt = _runtime(url, folder)
        _seed(rt, args.customers)
        crm = create_app(rt.settings, runtime=rt).test_client()
        bare = _bare_app().test_client()
        ours, base = [], []
        for round_no in range(1, args.repeat + 1):
            base.append(_timed(bare, "/callback", args.messages, args.customers, round_no))
            ours.append(_timed(crm, f"/channels/wechat/{APP_ID}/callback", args.messages, args.customers, round_no))
        session = rt.db.new_session()
        stored = session.scalar(select(func.count()).select_from(ChannelMessage).where(ChannelMessage.status == "matched"))
        session.close()
        if stored != args.messages * args.repeat:
            raise SystemExit(f"expected {args.messages * args.repeat} matched messages, found {stored}")
        backend = "PostgreSQL" if args.pg else "SQLite"
        print(f"{args.messages} inbound messages ({backend}): callback {min(ours):.2f} s "
              f"({args.messages / min(ours):.0f}/s), verify+parse only {min(base):.2f} s; "
              f"ratio {min(ours) / min(base):.1f}x (rounds: {', '.join(f'{o / b:.1f}x' for o, b in zip(ours, base, strict=True))})")
    return 0
