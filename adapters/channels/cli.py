"""``crm channels ...``: list the accounts and the unmatched queue, test an account's credentials."""
from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup


# the command's modules are imported when a command runs, not when `crm --help` lists it


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli:channels")


@click.group("channels", cls=AppGroup)
def channels() -> None:
    """Messaging channels: accounts, the unmatched queue, credentials."""


@channels.command("list")
def list_cmd() -> None:
    """Each account: platform, id, name, callback path and its messages by status."""
    from sqlalchemy import func, select

    from . import accounts, labels
    from .models import ChannelMessage

    ctx = _ctx()
    rows = accounts.list_accounts(ctx)
    if not rows:
        click.echo("No channel accounts. Add one under Settings > Channel accounts or POST /api/v1/channels/accounts.")
    for row in rows:
        counts = dict(ctx.session.execute(select(ChannelMessage.status, func.count()).where(
            ChannelMessage.platform == row.platform, ChannelMessage.account == row.account).group_by(ChannelMessage.status)).all())
        state = "enabled" if row.enabled else "disabled"
        click.echo(f"{labels.label(labels.PLATFORM_LABELS, row.platform)}  {row.account}  {row.name}  ({state})")
        click.echo(f"  callback: /channels/{row.platform}/{row.account}/callback")
        click.echo("  messages: " + (", ".join(f"{labels.label(labels.STATUS_LABELS, s)} {n}" for s, n in sorted(counts.items()))
                                     or "none"))


@channels.command("unmatched")
@click.option("--limit", default=20, show_default=True, help="How many, newest first")
def unmatched_cmd(limit: int) -> None:
    """The unmatched queue: messages whose sender no customer is known by."""
    from . import inbox, labels

    items, total = inbox.list_messages(_ctx(), status="unmatched", page=1, page_size=max(1, min(limit, 200)))
    click.echo(f"{total} unmatched")
    for m in items:
        click.echo(f"#{m.id}  {m.received_at:%Y-%m-%d %H:%M}  {labels.label(labels.PLATFORM_LABELS, m.platform)}  "
                   f"{m.sender}  {inbox.subject(m)}")


@channels.command("test")
@click.argument("account")
def test_cmd(account: str) -> None:
    """Fetch an access token with the account's AppSecret: says whether the credentials work."""
    from crmcore.errors import CRMError

    from . import accounts
    from .wechat import TOKENS, Settings, WeChatAPI

    ctx = _ctx()
    row = accounts.find_account(ctx, "wechat", account)
    if row is None:
        raise click.ClickException(f"No enabled WeChat account {account!r}.")
    settings = Settings.of(row)
    TOKENS.forget((settings.base_url, settings.app_id))  # ask WeChat now, not the cache
    try:
        WeChatAPI(settings).token()
    except CRMError as exc:
        raise click.ClickException(f"WeChat refused: {exc}") from None
    click.echo(f"{account}: the AppSecret works (an access token was issued).")
