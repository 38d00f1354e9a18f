"""``crm referrals ...``: list referrals, show a customer's referral tree, recompute social value (the jobs are in
``jobs.py``)."""
from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.errors import CRMError

from .jobs import recompute


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


def _fail(exc: CRMError) -> None:
    errors = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (getattr(exc, "errors", None) or {}).items())
    raise click.ClickException(f"{exc.message}{' (' + errors + ')' if errors else ''}")


@click.group("referrals", cls=AppGroup)
def referrals() -> None:
    """Referrals and social value."""


@referrals.command("list")
@click.option("--customer", "customer_id", type=int, help="Only this customer's referrals (either side).")
@click.option("--limit", type=int, default=50, show_default=True)
def list_cmd(customer_id: int | None, limit: int) -> None:
    """Referrals, newest first: referrer, new customer or lead, how it arrived."""
    from crmcore.models import Customer, User

    from .labels import SOURCES, word
    from .services.referrals import list_referrals

    ctx = _ctx()
    try:
        items, _total = list_referrals(ctx, customer_id=customer_id, page_size=limit)
    except CRMError as exc:
        _fail(exc)
    for r in items:
        referrer = (ctx.session.get(Customer, r.referrer_customer_id) if r.referrer_customer_id
                    else ctx.session.get(User, r.referrer_user_id) if r.referrer_user_id else None)
        referee = ctx.session.get(Customer, r.referee_customer_id) if r.referee_customer_id else None
        click.echo(f"{r.id}\t{getattr(referrer, 'name', None) or getattr(referrer, 'username', '')}\t"
                   f"{referee.name if referee else (f'lead {r.lead_id}' if r.lead_id else '')}\t"
                   f"{word(SOURCES, r.source)}")


@referrals.command("tree")
@click.argument("customer_id", type=int)
@click.option("--depth", type=int, default=None, help="Levels to show (at most SOCIAL_TREE_MAX_DEPTH).")
def tree_cmd(customer_id: int, depth: int | None) -> None:
    """A customer's referral tree: who brought them (above), whom they brought (below, indented)."""
    from .services.tree import referral_tree

    ctx = _ctx()
    try:
        tree = referral_tree(ctx, customer_id, depth)
    except CRMError as exc:
        _fail(exc)
    for node in reversed(tree["ancestors"]):
        click.echo(f"^{node['depth']} {node['name'] or '?'} ({node['id']})")
    click.echo(f"* {tree['customer']['name']} ({tree['customer']['id']})")
    for node in tree["descendants"]:
        click.echo(f"{'  ' * node['depth']}- {node['name'] or '?'} ({node['id']})")


@referrals.command("recompute")
def recompute_cmd() -> None:
    """Recompute every customer's social value now (what the social.recompute job does)."""
    ctx = _ctx()
    click.echo(f"{recompute(ctx)} customers with a social value")
