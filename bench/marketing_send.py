"""Marketing: a campaign send to a local SMTP server against a plain ``smtplib`` loop, and an audience count
against the hand-written SQL, both measured in the same run (best of ``--repeat``, interleaved).

``python bench/run.py marketing_send [--recipients N] [--audience-rows M] [--repeat R] [--pg URL]``

Send: N customers with an e-mail address and a marketing consent; the campaign (start: checks and the
audience snapshot with one INSERT ... SELECT; then the ``marketing.send`` job: claimed batches, sandboxed
rendering, tracked links, the suppression list read per batch, one SMTP connection per batch) against a loop
that formats the same subject, text and HTML per recipient and sends them over one ``smtplib`` connection.
Both talk to the same aiosmtpd server on 127.0.0.1. Target (issue 17): at most 1.5x. Also the RSS after
each send (flat in recipients).

Audience: M customers; the audience "stage = customer and level in (VIP, Gold)" counted through the
marketing service (the core condition language compiled to SQL, static list and live-customer clauses)
against ``SELECT count(*)`` with the same predicate written by hand. Target: at most 2x.
"""
from __future__ import annotations

import argparse
import os
import smtplib
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

SUBJECT = "{name}，母亲节快乐"
TEXT = "亲爱的 {name}：\n母亲节到了，为妈妈挑一份礼物吧。\n退订：{unsubscribe}\n"
HTML = ('<p>亲爱的 {name}：</p><p>母亲节到了，为妈妈挑一份礼物吧。</p>'
        '<p><a href="https://shop.example/gifts">挑选礼物</a></p><p><a href="{unsubscribe}">退订</a></p>')


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def _runtime(url: str, instance: str, port: int) -> Any:
    from crmcore.config import load_settings
    from crmcore.migrate import upgrade
    from crmcore.runtime import build_runtime
    from crmcore.services import users

    settings = load_settings({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench-secret-key",
                              "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.marketing"],
                              "MARKETING_SMTP_HOST": "127.0.0.1", "MARKETING_SMTP_PORT": str(port),
                              "MARKETING_FROM": "news@shop.example", "MARKETING_PUBLIC_URL": "https://crm.example"},
                             environ={})
    rt = build_runtime(settings)
    upgrade(rt)
    users.seed_roles(rt.context())
    return rt


def _customers(rt: Any, n: int, start: int, *, email: bool) -> None:
    """``n`` customers (and their consents) written with executemany, codes from ``start``."""
    from sqlalchemy import insert, select

    from crmcore.models import Customer
    from plugins.marketing.models import Consent

    levels = ("VIP", "Gold", "Silver", None, None)
    with rt.db.engine.begin() as conn:
        for lo in range(start, start + n, 10_000):
            hi = min(lo + 10_000, start + n)
            conn.execute(insert(Customer), [
                {"code": f"B{i:08d}", "name": f"客户{i}", "stage": "customer" if i % 3 else "lead",
                 "level": levels[i % 5], "email": f"c{i}@example.cn" if email else None,
                 "email_normalized": f"c{i}@example.cn" if email else None} for i in range(lo, hi)])
        if email:
            ids = list(conn.scalars(select(Customer.id).where(Customer.email_normalized.is_not(None))))
            conn.execute(insert(Consent), [{"customer_id": cid, "channel": "email", "purpose": "marketing",
                                            "status": "granted", "source": "import", "text": "同意"} for cid in ids])


def _baseline(port: int, names: list[str]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for i, name in enumerate(names):
            unsubscribe = f"https://crm.example/m/u/{i:032d}"
            mail = EmailMessage()
            mail["From"] = "news@shop.example"
            mail["To"] = f"c{i}@example.cn"
            mail["Subject"] = SUBJECT.format(name=name)
            mail["Message-ID"] = f"<b{i}@shop.example>"
            mail.set_content(TEXT.format(name=name, unsubscribe=unsubscribe))
            mail.add_alternative(HTML.format(name=name, unsubscribe=unsubscribe), subtype="html")
            smtp.send_message(mail)
    return time.perf_counter() - started


def _campaign(rt: Any, n: int, recipients: int) -> tuple[float, float]:
    from plugins.marketing.services import audiences, campaigns, templates

    ctx = rt.context(source="bench")
    audience = audiences.create_audience(ctx, {"name": f"a{n}", "condition": {
        "field": "stage", "op": "in", "value": ["customer", "lead"]}})
    template = templates.create_template(ctx, {
        "name": f"t{n}", "subject": "{{ customer.name }}，母亲节快乐",
        "text": "亲爱的 {{ contact.name }}：\n母亲节到了，为妈妈挑一份礼物吧。\n退订：{{ unsubscribe_url }}\n",
        "html": '<p>亲爱的 {{ contact.name }}：</p><p>母亲节到了，为妈妈挑一份礼物吧。</p>'
                '<p><a href="https://shop.example/gifts">挑选礼物</a></p><p><a href="{{ unsubscribe_url }}">退订</a></p>'})
    campaign = campaigns.create_campaign(ctx, {"name": f"c{n}", "audience_id": audience.id, "template_id": template.id})
    started = time.perf_counter()
    campaigns.start(ctx, campaign.id)
    done = campaigns.send_campaign(ctx, campaign.id)
    elapsed = time.perf_counter() - started
    assert done.get("sent") == recipients, done
    ctx.session.close()
    return elapsed, _rss_mib()


def _send(url: str, folder: str, recipients: int, repeat: int) -> None:
    from aiosmtpd.controller import Controller

    from crmcore.testing.mail import free_port

    counter = _Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        rt = _runtime(url, folder, controller.port)
        _customers(rt, recipients, 0, email=True)
        names = [f"客户{i}" for i in range(recipients)]
        ours, base, rss = [], [], []
        for r in range(repeat):
            base.append(_baseline(controller.port, names))
            elapsed, after = _campaign(rt, r, recipients)
            ours.append(elapsed)
            rss.append(after)
        best_ours, best_base = min(ours), min(base)
        print(f"send {recipients} recipients: campaign {best_ours:.2f} s ({recipients / best_ours:.0f}/s), "
              f"smtplib loop {best_base:.2f} s ({recipients / best_base:.0f}/s), ratio {best_ours / best_base:.2f} "
              f"(target 1.5; runs: {', '.join(f'{o / b:.2f}' for o, b in zip(ours, base, strict=True))}); "
              f"RSS after each send {', '.join(f'{m:.0f}' for m in rss)} MiB")
        rt.db.dispose()
    finally:
        controller.stop()


def _audience(url: str, folder: str, rows: int, repeat: int) -> None:
    from sqlalchemy import text

    from plugins.marketing.services import audiences

    rt = _runtime(url, folder, 25)
    _customers(rt, rows, 0, email=False)
    ctx = rt.context(source="bench")
    audience = audiences.create_audience(ctx, {"name": "VIP", "condition": {"all": [
        {"field": "stage", "op": "eq", "value": "customer"}, {"field": "level", "op": "in", "value": ["VIP", "Gold"]}]}})
    bare = text("SELECT count(*) FROM customers WHERE deleted_at IS NULL AND merged_into_id IS NULL "
                "AND stage = 'customer' AND level IN ('VIP', 'Gold')")
    ours, base = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        expected = ctx.session.execute(bare).scalar()
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        got = audiences.preview(ctx, audience.id)["count"]
        ours.append(time.perf_counter() - t)
        assert got == expected, (got, expected)
    print(f"audience over {rows} customers ({expected} match): service {min(ours) * 1000:.1f} ms, hand-written "
          f"{min(base) * 1000:.1f} ms, ratio {min(ours) / min(base):.2f} (target 2; runs: "
          f"{', '.join(f'{o / b:.2f}' for o, b in zip(ours, base, strict=True))})")
    ctx.session.close()
    rt.db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketing_send", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000, help="customers sent to (issue: 100000)")
    parser.add_argument("--audience-rows", type=int, default=100_000, help="customers counted (issue: 1000000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("CRM_BENCH_PG"), help="a PostgreSQL URL instead of SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crm-bench-mk-") as folder:
        if args.pg:
            from crmcore.testing.database import ENV, empty_database

            os.environ[ENV] = args.pg
            with empty_database(Path(folder)) as url:
                _send(url, folder, args.recipients, args.repeat)
            with empty_database(Path(folder)) as url:
                _audience(url, folder, args.audience_rows, args.repeat)
        else:
            _send(f"sqlite:///{folder}/send.sqlite", folder, args.recipients, args.repeat)
            _audience(f"sqlite:///{folder}/audience.sqlite", folder, args.audience_rows, args.repeat)
    return 0
