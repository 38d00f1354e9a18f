"""``crm marketing ...``: list, preview, send-test, run and report campaigns (the jobs are in ``jobs.py``)."""
from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.errors import CRMError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .jobs import advance_journeys, send_campaigns


def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


def _fail(exc: CRMError) -> None:
    errors = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (getattr(exc, "errors", None) or {}).items())
    raise click.ClickException(f"{exc.message}{' (' + errors + ')' if errors else ''}")


@click.group("marketing", cls=AppGroup)
def marketing() -> None:
    """Marketing: audiences and campaigns."""


@marketing.command("list")
def list_cmd() -> None:
    """The campaigns, newest first, with their state and counts."""
    from .labels import CAMPAIGN_STATES, RECIPIENT_STATES
    from .services import campaigns

    ctx = _ctx()
    for c in campaigns.list_campaigns(ctx):
        n = campaigns.counts(ctx, c.id)
        click.echo(f"{c.id}\t{c.name}\t{CAMPAIGN_STATES.get(c.status, c.status)}\t"
                   + ", ".join(f"{RECIPIENT_STATES.get(k, k)} {v}" for k, v in sorted(n.items())))


@marketing.command("preview")
@click.argument("campaign_id", type=int)
def preview_cmd(campaign_id: int) -> None:
    """Who the campaign would reach now (audience, without address, consent or on the suppression list)."""
    from .services import campaigns

    ctx = _ctx()
    try:
        ready = campaigns.readiness(ctx, campaigns.get_campaign(ctx, campaign_id))
    except CRMError as exc:
        _fail(exc)
    from .labels import READINESS

    for key, label in READINESS.items():
        click.echo(f"{label}\t{ready[key]}")


@marketing.command("send-test")
@click.argument("campaign_id", type=int)
@click.option("--to-user", required=True, help="The user (username) whose e-mail address gets the test.")
def send_test_cmd(campaign_id: int, to_user: str) -> None:
    """Send the campaign's message, rendered for its first customer, to a user's own address."""
    from sqlalchemy import select

    from crmcore.models import User

    from .services import campaigns

    ctx = _ctx()
    user = ctx.session.scalar(select(User).where(User.username == to_user))
    if user is None:
        raise click.ClickException(str(_("No user %(name)s.", name=to_user)))
    ctx = current_app.extensions["crm"].context(source="cli", actor=user)
    try:
        click.echo(str(_("Test sent to %(address)s.", address=campaigns.send_test(ctx, campaign_id))))
    except CRMError as exc:
        _fail(exc)


@marketing.command("run")
@click.argument("campaign_id", type=int, required=False)
def run_cmd(campaign_id: int | None) -> None:
    """Start the campaign (checks first; nothing is sent when one fails) and send it now; a journey is started
    and moved on. Without an id: every running campaign is sent and every running journey moved on."""
    from .services import campaigns

    ctx = _ctx()
    if campaign_id is None:
        send_campaigns(ctx)
        advance_journeys(ctx)
        return
    try:
        campaign = campaigns.get_campaign(ctx, campaign_id)
        if campaign.kind == "journey":
            if campaign.status in ("draft", "scheduled"):
                campaigns.start(ctx, campaign_id)
            advance_journeys(ctx, campaign_id)
            return _journey_report(ctx, campaign_id)
        ready = campaigns.start(ctx, campaign_id)
        done = campaigns.send_campaign(ctx, campaign_id)
    except CRMError as exc:
        _fail(exc)
    click.echo(str(_("Audience %(audience)s, reachable %(reachable)s.", **ready)))
    click.echo(", ".join(f"{k} {v}" for k, v in sorted(done.items())))


def _journey_report(ctx: ServiceContext, campaign_id: int) -> None:
    from .labels_journeys import OUTCOMES, STATES, STEP_KINDS
    from .services import journey_report

    report = journey_report.step_counts(ctx, campaign_id)
    if report["states"]:
        click.echo(", ".join(f"{STATES.get(k, k)} {v}" for k, v in sorted(report["states"].items())))
    for step in report["steps"]:
        outcomes = ", ".join(f"{OUTCOMES.get(k, k)} {v}" for k, v in sorted(step["outcomes"].items()))
        click.echo(f"v{step['version']}\t{step['name']}\t{STEP_KINDS.get(step['kind'], step['kind'])}\t{outcomes}"
                   + (f"\t{_('now here')} {step['now']}" if step["now"] else ""))


@marketing.command("report")
@click.argument("campaign_id", type=int)
def report_cmd(campaign_id: int) -> None:
    """Sent, opened, clicked, unsubscribed, conversions and the lift over the control group; for a journey
    also what each step did."""
    from .services import campaigns, results

    ctx = _ctx()
    try:
        if campaigns.get_campaign(ctx, campaign_id).kind == "journey":
            _journey_report(ctx, campaign_id)
        report = results.report(ctx, campaign_id)
    except CRMError as exc:
        _fail(exc)
    from .labels import FUNNEL

    for key, value in report["funnel"].items():
        click.echo(f"{FUNNEL.get(key, key)}\t{value}")
    conv = report["conversions"]
    if conv:
        click.echo(str(_("Conversions within %(days)s days: %(sent)s of those sent, %(held)s of the control group; "
                         "revenue %(revenue)s %(currency)s.", days=report["window_days"], sent=conv["sent"],
                         held=conv["held_out"], revenue=conv["revenue_sent"], currency=conv["currency"])))
        if conv["lift"] is not None:
            interval = (_("95%% interval %(low).1f to %(high).1f points", low=conv["interval"][0] * 100,
                          high=conv["interval"][1] * 100) if conv["interval"] else conv["note"])
            click.echo(str(_("Lift: %(lift).1f points (%(interval)s).", lift=conv["lift"] * 100, interval=interval)))
    attribution = report.get("attribution")
    if attribution:
        for key, label in (("last_touch", _("Last touch")), ("first_touch", _("First touch"))):
            click.echo(str(_("%(model)s: %(orders)s orders, revenue %(revenue)s %(currency)s.", model=label,
                             orders=attribution[key]["orders"], revenue=attribution[key]["revenue"],
                             currency=attribution["currency"])))
    ab = report["ab_test"]
    if ab:
        for v in ab["variants"]:
            rate = f"{v['rate'] * 100:.1f}%" if v["rate"] is not None else "-"
            p_value = (v["against_best"] or {}).get("p_value")
            click.echo(str(_("Variant %(label)s: sent %(sent)s, %(rate)s", label=v["label"], sent=v["sent"], rate=rate))
                       + (f" (p = {p_value:.3f})" if p_value is not None else ""))
        click.echo(str(_("Winner: %(winner)s", winner=ab["winner"] or _("not chosen yet"))))
