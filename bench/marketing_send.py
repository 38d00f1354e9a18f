"""Marketing: a campaign send to a local SMTP server against a plain ``smtplib`` loop, and an audience count
against the hand-written SQL, both measured in the same run (best of ``--repeat``, interleaved).

``python bench/run.py marketing_send [--recipients N] [--audience-rows M] [--memory-sizes A,B] [--repeat R]
[--pg URL]`` (the issue's sizes: ``--recipients 100000 --audience-rows 1000000 --memory-sizes 10000,100000``)

Send: N customers with an e-mail address and a marketing consent; the campaign (start: checks and the
audience snapshot with one INSERT ... SELECT; then the ``marketing.send`` job: claimed batches, sandboxed
rendering, tracked links, the suppression list read per batch, one SMTP connection per batch) against a loop
that formats the same subject, text and HTML per recipient and sends them over one ``smtplib`` connection.
Both talk to the same aiosmtpd server on 127.0.0.1. Target (issue 17): at most 1.5x. Also the RSS after
each send, and memory flat in recipients: the peak RSS of a fresh process that only sends, at two sizes.

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
    """``n`` customers (and, with ``email``, an address and a marketing consent each), codes from ``start``,
    written set-based (one INSERT ... SELECT over a generated series per table): a million rows take seconds
    and no Python memory. (``bench/scale.py``'s cached data has no marketing tables, and the audience would
    change that shared cache, so this bench makes its own.)"""
    from sqlalchemy import text

    pg = rt.db.engine.dialect.name == "postgresql"
    series = ("generate_series(:lo, :hi - 1) AS g(i)" if pg else
              "(WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i < :hi - 1) SELECT i FROM s) AS g")
    pad = "lpad(i::text, 8, '0')" if pg else "printf('%08d', i)"
    now = "now()" if pg else "datetime('now')"
    address = "'c' || i || '@example.cn'" if email else "NULL"
    with rt.db.engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO customers (code, name, kind, stage, level, email, email_normalized, currency, attributes,
                                   completeness, version, created_at, updated_at)
            SELECT 'B' || {pad}, '客户' || i, 'organization', CASE WHEN i % 3 = 0 THEN 'lead' ELSE 'customer' END,
                   CASE i % 5 WHEN 0 THEN 'VIP' WHEN 1 THEN 'Gold' WHEN 2 THEN 'Silver' END,
                   {address}, {address}, 'CNY', '{{}}', 50, 1, {now}, {now}
            FROM {series}"""), {"lo": start, "hi": start + n})
        if email:
            conn.execute(text(f"""
                INSERT INTO marketing_consents (customer_id, channel, purpose, status, source, text, recorded_at)
                SELECT id, 'email', 'marketing', 'granted', 'import', '同意', {now} FROM customers
                WHERE email_normalized IS NOT NULL"""))
    with rt.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE" if pg else "ANALYZE")


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


def _send_child(url: str, folder: str, port: int, recipients: int) -> None:
    """In a fresh process: the campaign send alone, then this process's peak RSS."""
    import resource

    rt = _runtime(url, folder, port)
    elapsed, _after = _campaign(rt, 0, recipients)
    print(f"PEAK {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} {elapsed:.3f}")
    rt.db.dispose()


def _memory(urls: Any, folder: str, sizes: list[int]) -> None:
    """Peak RSS of a process that only sends (its database prepared by this one), at each size."""
    import subprocess
    import sys

    from aiosmtpd.controller import Controller

    from crmcore.testing.mail import free_port

    controller = Controller(_Counter(), hostname="127.0.0.1", port=free_port())
    controller.start()
    peaks = []
    try:
        for n in sizes:
            with urls() as url:
                rt = _runtime(url, folder, controller.port)
                _customers(rt, n, 0, email=True)
                rt.db.dispose()
                done = subprocess.run([sys.executable, __file__, "--child-send", url, "--folder", folder,
                                       "--port", str(controller.port), "--recipients", str(n)],
                                      capture_output=True, text=True, check=True)
            line = next(x for x in done.stdout.splitlines() if x.startswith("PEAK "))
            peaks.append(float(line.split()[1]))
    finally:
        controller.stop()
    print("peak RSS of the send process: " + ", ".join(f"{n} recipients {p:.0f} MiB" for n, p in zip(sizes, peaks,
                                                                                                        strict=True))
          + f" (x{peaks[-1] / peaks[0]:.2f} for x{sizes[-1] / sizes[0]:.0f} recipients; flat is x1.00)")


def main(argv: list[str] | None = None) -> int:
    import contextlib

    parser = argparse.ArgumentParser(prog="marketing_send", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000, help="customers sent to (issue: 100000)")
    parser.add_argument("--audience-rows", type=int, default=100_000, help="customers counted (issue: 1000000)")
    parser.add_argument("--memory-sizes", default="1000,4000",
                        help="recipients of two sends in fresh processes whose peak RSS is compared (issue: 10000,100000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("CRM_BENCH_PG"), help="a PostgreSQL URL instead of SQLite")
    parser.add_argument("--child-send", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_send:
        _send_child(args.child_send, args.folder, args.port, args.recipients)
        return 0
    sizes = sorted(int(x) for x in args.memory_sizes.split(",") if x.strip())
    with tempfile.TemporaryDirectory(prefix="crm-bench-mk-") as folder:
        if args.pg:
            from crmcore.testing.database import ENV, empty_database

            os.environ[ENV] = args.pg
            with empty_database(Path(folder)) as url:
                _send(url, folder, args.recipients, args.repeat)
            with empty_database(Path(folder)) as url:
                _audience(url, folder, args.audience_rows, args.repeat)
            _memory(lambda: empty_database(Path(folder)), folder, sizes)
        else:
            _send(f"sqlite:///{folder}/send.sqlite", folder, args.recipients, args.repeat)
            _audience(f"sqlite:///{folder}/audience.sqlite", folder, args.audience_rows, args.repeat)
            counter = iter(range(len(sizes)))
            _memory(lambda: contextlib.nullcontext(f"sqlite:///{folder}/memory{next(counter)}.sqlite"), folder, sizes)
    return 0


if __name__ == "__main__":  # the memory measurement's child process
    raise SystemExit(main())
