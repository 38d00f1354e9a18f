"""Plugin of the production-shape test (loaded by ``CRM_PLUGINS=prodshape_plugin``): a slow job with
progress, a periodic tick and an outbox destination. Jobs leave audit entries in their own
transaction; deliveries append a line to the file ``PRODSHAPE_TRACE`` (an outside receiver)."""
from __future__ import annotations

import os
import time
from typing import Any

from crmcore import hookimpl
from crmcore.contracts import Job, OutboxHandler
from crmcore.events import audit

CHUNKS = 30


def slow(ctx: Any) -> None:
    """Thirty chunks of 0.3 s, each reported; the start is committed first so the test sees who runs it."""
    audit(ctx, "prodshape.slow.start", "prodshape", os.getpid(), data={"pid": os.getpid()})
    ctx.session.commit()
    for done in range(1, CHUNKS + 1):
        time.sleep(0.3)
        ctx.report_progress(done, CHUNKS)
    audit(ctx, "prodshape.slow.done", "prodshape", os.getpid(), data={"pid": os.getpid()})
    ctx.session.commit()


def tick(ctx: Any) -> None:
    slot = ctx.job.scheduled_for.isoformat() if ctx.job and ctx.job.scheduled_for else "none"
    audit(ctx, "prodshape.tick", "prodshape", slot, data={"pid": os.getpid()})
    ctx.session.commit()


def deliver(ctx: Any, message: Any) -> None:
    with open(os.environ["PRODSHAPE_TRACE"], "a", encoding="utf-8") as fh:
        fh.write(f"{message.idempotency_key}\t{os.getpid()}\n")


@hookimpl
def crm_register_jobs() -> list[Job]:
    return [Job("prodshape.slow", slow, 0, "Slow job with progress"), Job("prodshape.tick", tick, 2, "Tick")]


@hookimpl
def crm_register_outbox_handlers() -> list[OutboxHandler]:
    return [OutboxHandler("prodshape", ("customer.created",), deliver)]
