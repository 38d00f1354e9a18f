"""``crm service ...``: the SLA check (also a scheduled job), the e-mail intake, due follow-ups,
status links and default states."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.errors import CRMError


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


@click.group("service", cls=AppGroup)
def service() -> None:
    """Customer service: SLA check, e-mail intake, follow-ups."""


@service.command("sla-check")
@click.option("--json", "as_json", is_flag=True)
def sla_check_cmd(as_json: bool) -> None:
    """Mark overdue tickets as breached and escalate them (what the scheduled job does)."""
    from .services.sla import check_breaches

    found = check_breaches(_ctx())
    if as_json:
        from crmcore.events import jsonable

        click.echo(json.dumps(jsonable(found), ensure_ascii=False, indent=2))
        return
    for b in found:
        click.echo(f"{b['number']}: {b['target']} due {b['due_at']:%Y-%m-%d %H:%M} UTC missed (level {b['level']})")
    click.echo(f"{len(found)} new breach(es).")


def _messages(source: str) -> list[bytes]:
    if source == "-":
        return [sys.stdin.buffer.read()]
    path = Path(source)
    if not path.is_file():
        raise click.BadParameter(f"{source}: no such file", param_hint="SOURCE")
    head = path.read_bytes()[:5]
    if head == b"From ":  # an mbox file
        import mailbox

        box = mailbox.mbox(str(path), create=False)
        try:
            return [m.as_bytes() for m in box]
        finally:
            box.close()
    return [path.read_bytes()]


@service.command("intake")
@click.argument("source")
def intake_cmd(source: str) -> None:
    """Read e-mail from SOURCE: a .eml file, an mbox file or - (one message on stdin)."""
    from .services.intake import intake

    ctx = _ctx()
    failed = 0
    for raw in _messages(source):
        try:
            result = intake(ctx, raw)
        except CRMError as exc:
            failed += 1
            click.echo(f"rejected: {exc.message}", err=True)
            continue
        click.echo(f"{result.status}: {result.ticket.number if result.ticket else '-'} {result.mail.subject}")
    if failed:
        sys.exit(1)


@service.command("followups")
def followups_cmd() -> None:
    """List the follow-ups due now."""
    from .services.followups import due_list

    for f in due_list(_ctx()):
        click.echo(f"{f.id}\t{f.due_at:%Y-%m-%d}\t{f.customer.name if f.customer else f.customer_id}\t{f.source}")


@service.command("link")
@click.argument("ticket_id", type=int)
def link_cmd(ticket_id: int) -> None:
    """Issue a new self-service status link token for a ticket (the old one stops working)."""
    from .services.portal import reissue_link

    click.echo(reissue_link(_ctx(), ticket_id))


@service.command("seed-states")
def seed_states_cmd() -> None:
    """Create the default ticket states and moves if none are defined."""
    from crmcore.services.unit import unit_of_work

    from .services.states import ensure_states

    ctx = _ctx()
    with unit_of_work(ctx):
        ensure_states(ctx)
    click.echo("States ready.")
