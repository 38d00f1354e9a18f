"""The journey engine: moves due enrolments through their steps in batches (the ``marketing.journeys`` job).

Each step runs for an enrolment at most once: its ``marketing_step_log`` row (unique per enrolment and step)
is written in the same transaction as the step's effect and the move to the next step, so a crash and a
rerun repeat nothing. A send claims its message first (a recipient row of the campaign, ``touch`` = the log
row, committed as ``sending``) and sends after: a worker killed in between sends it again under the same
``Message-ID``, as a one-off campaign does. Consent, the suppression list, the frequency cap and quiet hours
are those of the campaign send path."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select

from crmcore.channels import ChannelDown, Outgoing
from crmcore.conditions.sql import compile_sql
from crmcore.db import utcnow
from crmcore.errors import CRMError
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..channels import providers
from ..models import Campaign, MarketingEvent, MessageTemplate, Recipient
from ..models_journeys import Enrolment, JourneyBranch, JourneyStep, StepLog
from . import campaigns, consent, languages

BATCH = 200
MAX_ATTEMPTS = 3


def advance(ctx: ServiceContext, campaign_id: int | None = None, now: dt.datetime | None = None,
            batch: int = BATCH) -> int:
    """Run the due enrolments of the running journeys (or of one) until none is due; return how many ran."""
    now = now or utcnow()
    quiet = consent.quiet_now(ctx, now)
    running = select(Campaign.id).where(Campaign.kind == "journey", Campaign.status == "running")
    if campaign_id is not None:
        running = running.where(Campaign.id == campaign_id)
    done, last = 0, 0
    while True:
        ids = list(ctx.session.scalars(select(Enrolment.id).where(
            Enrolment.campaign_id.in_(running), Enrolment.state == "active", Enrolment.next_run_at <= now,
            Enrolment.id > last).order_by(Enrolment.id).limit(batch)))
        if not ids:
            return done
        pending = [e for e in (ctx.session.get(Enrolment, eid) for eid in ids) if e is not None and e.state == "active"]
        chooser = languages.Chooser(ctx)  # each template's translations read once per batch
        while pending:  # the batch's messages leave together (one call per channel); those sent go on
            claims: list[Claim] = []
            for enrolment in pending:
                run(ctx, enrolment, now, quiet, claims, chooser)
            pending = deliver(ctx, claims, now)
        done += len(ids)
        last = ids[-1]


@dataclass
class Claim:
    """A message claimed for an enrolment's send step (its recipient row committed as ``sending``), to go out
    with the batch's others."""

    enrolment: Enrolment
    step: JourneyStep
    log: StepLog
    recipient: Recipient
    message: Outgoing
    channel: str


def run(ctx: ServiceContext, e: Enrolment, now: dt.datetime, quiet: bool = False,
        claims: list[Claim] | None = None, chooser: languages.Chooser | None = None) -> None:
    """Take one enrolment through its steps until it waits, must wait for quiet hours to end, leaves, or has
    a message claimed (added to ``claims`` for :func:`deliver`; without ``claims`` it is sent at once). A send
    is written in the recipient's language: the template's translation chosen as a campaign send chooses it."""
    chooser = chooser or languages.Chooser(ctx)
    for _hop in range(100):
        if e.step_id is None:
            return _leave(ctx, e, "done", now)
        if _goal_reached(ctx, e):
            return _leave(ctx, e, "goal", now)
        step = ctx.session.get(JourneyStep, e.step_id)
        if step is None:
            return _leave(ctx, e, "done", now)
        log = ctx.session.scalar(select(StepLog).where(StepLog.enrolment_id == e.id, StepLog.step_id == step.id))
        if step.kind == "send":
            if quiet:
                return None  # no marketing message leaves in quiet hours: the next run goes on
            claim = _claim(ctx, e, step, log, now, chooser)
            if claim is None:
                continue  # skipped, or settled earlier: the enrolment went on
            if claims is not None:
                claims.append(claim)
                return None
            if not deliver(ctx, [claim], now):
                return None
            continue
        if step.kind == "wait":
            if log is None:
                log = StepLog(enrolment_id=e.id, step_id=step.id, outcome="waiting", due_at=_wait_end(ctx, e, step, now))
                ctx.session.add(log)
            if log.due_at is not None and log.due_at > now:
                e.next_run_at = log.due_at
                ctx.session.commit()
                return None
            _move(ctx, e, log, step, "done", step.next_step_id, now)
            continue
        try:
            with unit_of_work(ctx):
                outcome, target = _act(ctx, e, step)
                _move(ctx, e, log, step, outcome, target, now)
        except CRMError as exc:  # refused by a service (a value no longer allowed...): noted, the journey goes on
            ctx.session.rollback()
            e = ctx.session.get(Enrolment, e.id) or e
            outcome = "failed"
            _move(ctx, e, None, step, outcome, step.next_step_id, now, str(exc.message)[:1000])
        if step.kind == "goal":
            return _leave(ctx, e, "goal" if outcome == "yes" else "done", now)
    return _leave(ctx, e, "done", now)


def _move(ctx: ServiceContext, e: Enrolment, log: StepLog | None, step: JourneyStep, outcome: str,
          target: int | None, now: dt.datetime, detail: str | None = None) -> None:
    """Record what the step did and go on to ``target`` (None: the journey ends), in one commit."""
    if log is None:
        log = StepLog(enrolment_id=e.id, step_id=step.id, outcome=outcome)
        ctx.session.add(log)
    log.outcome, log.detail = outcome, detail or log.detail
    e.step_id, e.next_run_at = target, now
    ctx.session.commit()


def _leave(ctx: ServiceContext, e: Enrolment, state: str, now: dt.datetime) -> None:
    e.state, e.left_at, e.next_run_at = state, now, None
    ctx.session.commit()


def _zone(ctx: ServiceContext, customer: Customer | None) -> ZoneInfo:
    """The recipient's time zone: a ``timezone`` custom field, else the marketing or default zone."""
    for name in ((customer.attributes or {}).get("timezone") if customer else None,
                 ctx.settings.get("MARKETING_TIMEZONE"), ctx.settings.get("DEFAULT_TIMEZONE"), "UTC"):
        if name:
            try:
                return ZoneInfo(str(name))
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def _wait_end(ctx: ServiceContext, e: Enrolment, step: JourneyStep, now: dt.datetime) -> dt.datetime:
    if step.wait_until is not None:  # a wall-clock time in the recipient's zone
        zone = _zone(ctx, ctx.session.get(Customer, e.customer_id))
        return step.wait_until.replace(tzinfo=zone).astimezone(dt.timezone.utc)
    return now + dt.timedelta(days=step.wait_days or 0, hours=step.wait_hours or 0)


def matches(ctx: ServiceContext, customer_id: int, condition: Any) -> bool:
    """The customer meets a condition of the core language (compiled to SQL, with the plugins' fields)."""
    from .journeys import customer_fields

    clause = compile_sql(condition, customer_fields(ctx))
    return ctx.session.scalar(select(Customer.id).where(Customer.id == customer_id, clause)) is not None


def behaved(ctx: ServiceContext, e: Enrolment, behaviour: str) -> bool:
    """Since the entry: opened (or clicked) one of this entry's messages, clicked one, or placed an order."""
    if behaviour == "ordered":
        try:
            from plugins.sales.models import Order
        except ImportError:
            return False
        return ctx.session.scalar(select(Order.id).where(
            Order.customer_id == e.customer_id, Order.status != "cancelled",
            Order.order_date >= e.entered_at.date()).limit(1)) is not None
    kinds = ("opened", "clicked") if behaviour == "opened" else ("clicked",)
    mine = select(Recipient.id).where(Recipient.campaign_id == e.campaign_id, Recipient.customer_id == e.customer_id,
                                      Recipient.touch.in_(select(StepLog.id).where(StepLog.enrolment_id == e.id)))
    return bool(ctx.session.scalar(select(exists().where(MarketingEvent.recipient_id.in_(mine),
                                                         MarketingEvent.kind.in_(kinds)))))


def _met(ctx: ServiceContext, e: Enrolment, step: JourneyStep) -> bool:
    if step.behaviour:
        return behaved(ctx, e, step.behaviour)
    return step.condition is not None and matches(ctx, e.customer_id, step.condition)


def _goal_reached(ctx: ServiceContext, e: Enrolment) -> bool:
    goals = ctx.session.scalars(select(JourneyStep).where(JourneyStep.campaign_id == e.campaign_id,
                                                         JourneyStep.version == e.version, JourneyStep.kind == "goal"))
    try:
        return any(_met(ctx, e, g) for g in goals)
    except CRMError:  # a goal naming a field removed since: not reached (the graph check reports it)
        return False


def _bucket(enrolment_id: int, step_id: int) -> int:
    return int(hashlib.sha256(f"{enrolment_id}:{step_id}".encode()).hexdigest()[:8], 16) % 100


def _act(ctx: ServiceContext, e: Enrolment, step: JourneyStep) -> tuple[str, int | None]:
    """Do a step other than send and wait inside the caller's unit of work: ``(outcome, next step)``."""
    if step.kind in ("condition", "goal"):
        yes = _met(ctx, e, step)
        return ("yes", step.next_step_id) if yes else ("no", step.else_step_id if step.kind == "condition" else None)
    if step.kind == "random":
        branches = list(ctx.session.scalars(select(JourneyBranch).where(JourneyBranch.step_id == step.id)
                                            .order_by(JourneyBranch.label)))
        bucket, total = _bucket(e.id, step.id), 0
        for b in branches:
            total += b.share
            if bucket < total:
                return b.label, b.next_step_id
        return (branches[-1].label, branches[-1].next_step_id) if branches else ("none", step.next_step_id)
    if step.kind == "update":
        _update(ctx, e.customer_id, step)
    elif step.kind in ("activity", "notify"):
        customer = ctx.session.get(Customer, e.customer_id)
        owner = step.user_id if step.kind == "notify" else (customer.owner_id if customer else None)
        _task(ctx, e.customer_id, owner, step.subject or step.name)
    return "done", step.next_step_id


def _update(ctx: ServiceContext, customer_id: int, step: JourneyStep) -> None:
    from crmcore.services import customers
    from crmcore.services.custom_fields import active_fields

    customer = ctx.session.get(Customer, customer_id)
    if customer is None:
        return
    data: dict[str, Any] = {}
    if step.field:
        if step.field in {f.name for f in active_fields(ctx, "customer")}:
            data["attributes"] = {**(customer.attributes or {}), step.field: step.value}
        else:
            data[step.field] = step.value
    if step.tag and step.tag not in {t.name for t in customer.tags}:
        data["tags"] = [t.name for t in customer.tags] + [step.tag]
    if data:
        customers.update_customer(ctx, customer_id, data)


def _task(ctx: ServiceContext, customer_id: int, user_id: int | None, subject: str) -> None:
    """A to-do for a user about the customer: a sales activity when the sales plugin is there, else a note
    on the customer's timeline for that user."""
    try:
        from plugins.sales.services.activities import create_activity
    except ImportError:
        create_activity = None
    if create_activity is not None and ctx.can("sales.activity.write"):
        data: dict[str, Any] = {"kind": "task", "subject": subject[:255], "customer_id": customer_id, "due_at": utcnow()}
        if user_id is not None:
            data["owner_id"] = user_id
        create_activity(ctx, data)
        return
    from crmcore.services.interactions import log_interaction

    log_interaction(ctx, customer_id, {"channel": "system", "direction": "internal", "subject": subject[:255],
                                       "user_id": user_id, "source": "marketing"})


def _reason(ctx: ServiceContext, e: Enrolment, channel: str, purpose: str, address: Any) -> str | None:
    """Why the customer cannot be sent this now (no address, no consent, suppressed, over the cap), or None."""
    one = select(Customer.id).where(Customer.id == e.customer_id)
    if ctx.session.scalar(one.where(address.is_not(None))) is None:
        return "no address"
    if ctx.session.scalar(one.where(consent.granted_clause(Customer.id, channel, purpose))) is None:
        return "no consent"
    if ctx.session.scalar(one.where(consent.not_suppressed_clause(channel, address))) is None:
        return "suppressed"
    if purpose == "marketing" and ctx.session.scalar(one.where(consent.under_cap_clause(ctx, Customer.id, channel))) is None:
        return "frequency cap"
    return None


def _claim(ctx: ServiceContext, e: Enrolment, step: JourneyStep, log: StepLog | None,
           now: dt.datetime, chooser: languages.Chooser) -> Claim | None:
    """Claim the step's message for the enrolment (log and recipient committed first) and render it; None when
    there is nothing to send (the customer may not be sent it, or it was settled before): it went on."""
    campaign = ctx.session.get(Campaign, e.campaign_id)
    template = ctx.session.get(MessageTemplate, step.template_id) if step.template_id else None
    channel = step.channel or (template.channel if template else "email")
    provider = providers(ctx).get(channel)
    purpose = campaign.purpose if campaign else "marketing"
    if log is None:
        why = "no template" if template is None else "no channel" if provider is None else \
            _reason(ctx, e, channel, purpose, provider.address())
        if why:
            _move(ctx, e, None, step, "skipped", step.next_step_id, now, why)
            return None
        assert provider is not None
        address = ctx.session.scalar(select(provider.address()).where(Customer.id == e.customer_id))
        log = StepLog(enrolment_id=e.id, step_id=step.id, outcome="sending")
        ctx.session.add(log)
        ctx.session.flush()
        ctx.session.add(Recipient(campaign_id=e.campaign_id, customer_id=e.customer_id, address=address,
                                  status="sending", attempts=1, touch=log.id))
        ctx.session.commit()
    recipient = ctx.session.scalar(select(Recipient).where(Recipient.campaign_id == e.campaign_id,
                                                           Recipient.customer_id == e.customer_id,
                                                           Recipient.touch == log.id))
    if recipient is None or recipient.status in ("sent", "failed") or template is None or provider is None:
        _move(ctx, e, log, step, recipient.status if recipient else "skipped", step.next_step_id, now)
        return None
    if recipient.status == "pending":  # a retry after a refused attempt
        recipient.status, recipient.attempts = "sending", recipient.attempts + 1
        ctx.session.commit()
    if recipient.attempts > MAX_ATTEMPTS or (recipient.address and consent.suppressed_among(
            ctx, channel, [recipient.address])):
        recipient.status = "failed"
        recipient.reason = "suppressed" if recipient.attempts <= MAX_ATTEMPTS else "too many attempts"
        _move(ctx, e, log, step, "failed", step.next_step_id, now, recipient.reason)
        return None
    person = campaigns._people(ctx, [e.customer_id])[e.customer_id]
    try:
        language = languages.language_of(ctx, [e.customer_id]).get(e.customer_id)
        message = campaigns.render_for(ctx, chooser.renderer(template, language), person, recipient.id,
                                       recipient.address or "", channel, language)
    except Exception as exc:  # noqa: BLE001 - jinja raises many kinds; the reason is kept on the row
        recipient.status, recipient.reason = "failed", f"template: {type(exc).__name__}: {exc}"[:255]
        _move(ctx, e, log, step, "failed", step.next_step_id, now)
        return None
    return Claim(e, step, log, recipient, message, channel)


def deliver(ctx: ServiceContext, claims: list[Claim], now: dt.datetime) -> list[Enrolment]:
    """Send the claimed messages, one provider call per channel, and move on the enrolments whose message was
    sent or refused for good (returned, to go on); a retry waits for the next run. A channel that is down
    leaves its claims as they are: the next run sends them under the same ``Message-ID``."""
    moved: list[Enrolment] = []
    by_channel: dict[str, list[Claim]] = {}
    for claim in claims:
        by_channel.setdefault(claim.channel, []).append(claim)
    for channel, group in by_channel.items():
        try:
            outcomes = providers(ctx)[channel].send(ctx, [c.message for c in group])
        except ChannelDown:
            ctx.session.rollback()
            continue
        by_recipient = {c.recipient.id: c for c in group}
        for outcome in outcomes:
            c = by_recipient[outcome.recipient_id]
            if outcome.ok:
                c.recipient.status, c.recipient.sent_at = "sent", utcnow()
                c.recipient.message_id = c.message.message_id
                _move(ctx, c.enrolment, c.log, c.step, "sent", c.step.next_step_id, now)
                moved.append(c.enrolment)
            elif outcome.error == "retry":
                c.recipient.status = "pending"
                ctx.session.commit()
            else:
                c.recipient.status, c.recipient.reason = "failed", (outcome.error or "")[:255]
                _move(ctx, c.enrolment, c.log, c.step, "failed", c.step.next_step_id, now)
                moved.append(c.enrolment)
    return moved
