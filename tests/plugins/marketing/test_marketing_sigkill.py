"""The send job in a real ``crm jobs run marketing.send`` process, killed with SIGKILL at random points several
times, then run to the end: the local SMTP server counts Message-IDs per address — every customer got their
message and none got two different ones (a message cut off by a kill is sent again under the same Message-ID,
so the receiver shows it once), and no more repeats than the messages in flight when each kill landed."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from crmcore.models import Customer
from crmcore.testing.mail import Inbox, free_port
from plugins.marketing.models import Consent, Recipient
from plugins.marketing.services import audiences, campaigns, templates

PEOPLE = 150
BATCH = 10
KILLS = 5


class SlowInbox(Inbox):
    """A mail server that takes a moment per message, so that kills land in the middle of batches."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Any:
    from aiosmtpd.controller import Controller

    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def crm(ctx: Any, port: int, instance: Path) -> subprocess.Popen[str]:
    settings = ctx.settings
    env = {**os.environ, "CRM_DATABASE_URL": str(settings["DATABASE_URL"]), "CRM_PLUGINS_AUTOLOAD": "0",
           "CRM_PLUGINS": "plugins.sales,plugins.marketing", "CRM_INSTANCE_PATH": str(instance),
           "CRM_SECRET_KEY": str(settings.get("SECRET_KEY") or "test-secret"),
           "CRM_MARKETING_SMTP_HOST": "127.0.0.1", "CRM_MARKETING_SMTP_PORT": str(port),
           "CRM_MARKETING_FROM": "news@shop.example", "CRM_MARKETING_PUBLIC_URL": "https://crm.shop.example",
           "CRM_MARKETING_BATCH_SIZE": str(BATCH)}
    return subprocess.Popen([str(Path(sys.executable).parent / "crm"), "jobs", "run", "marketing.send"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_repeated_kills_of_the_sending_worker_double_and_skip_nobody(ctx: Any, slow_smtp: Any, tmp_path: Path) -> None:
    inbox, port = slow_smtp
    ctx.session.execute(insert(Customer), [{"code": f"K{i:04d}", "name": f"客户{i}", "kind": "company",
                                            "stage": "customer", "email": f"k{i}@example.cn",
                                            "email_normalized": f"k{i}@example.cn"} for i in range(PEOPLE)])
    ids = ctx.session.scalars(select(Customer.id)).all()
    ctx.session.execute(insert(Consent), [{"customer_id": i, "channel": "email", "purpose": "marketing",
                                           "status": "granted", "source": "import", "text": "同意"} for i in ids])
    ctx.session.commit()
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                            "value": "customer"}})
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节 {{ customer.code }}", "text": "你好"})
    campaign = campaigns.create_campaign(ctx, {"name": "母亲节", "audience_id": audience.id,
                                               "template_id": template.id})
    assert campaigns.start(ctx, campaign.id)["reachable"] == PEOPLE
    ctx.session.close()
    rng = random.Random(17)
    kills = 0
    for kill in range(KILLS):
        before = len(inbox.messages)
        if before >= PEOPLE - 2 * BATCH:
            break
        proc = crm(ctx, port, tmp_path)
        # random points, except that kills 2-4 land in the replay of the batch the kill before cut off: a worker
        # crash-looping on one batch must not give its recipients up
        target = before + (1 if kill in (1, 2, 3) else rng.randint(1, 2 * BATCH))
        deadline = time.monotonic() + 120
        while len(inbox.messages) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.random() * 0.02)  # a random point: before, inside or after an SMTP exchange
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.communicate()}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills >= 4
    final = crm(ctx, port, tmp_path)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err

    ids_by_address: dict[str, set[str]] = defaultdict(set)
    for message in inbox.messages:
        ids_by_address[str(message["To"])].add(str(message["Message-ID"]))
    assert sorted(ids_by_address) == sorted(f"k{i}@example.cn" for i in range(PEOPLE))  # nobody skipped
    assert all(len(v) == 1 for v in ids_by_address.values())  # nobody got two different messages
    assert len(inbox.messages) - PEOPLE <= kills * BATCH  # repeats only of what was in flight
    session = ctx.runtime.db.new_session()
    try:
        assert dict(session.execute(select(Recipient.status, func.count()).group_by(Recipient.status)).all()) == {
            "sent": PEOPLE}
        stored = set(session.scalars(select(Recipient.message_id)))
        assert stored == {next(iter(v)) for v in ids_by_address.values()}
    finally:
        session.close()
