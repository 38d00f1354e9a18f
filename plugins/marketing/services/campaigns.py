"""Campaigns: a template sent to an audience on a channel, with a held-out control group.

Starting a campaign checks everything first (an audience that matches nobody, a channel not set up, nobody
with consent and an address: each a clear message, nothing sent), then snapshots the audience into
``marketing_recipients`` with one INSERT ... SELECT (consent, suppression list and address decided in SQL;
the control group chosen by a stable hash of campaign and customer) and queues the ``marketing.send`` job.

Sending claims recipients in batches: ``pending`` -> ``sending`` (committed) -> ``sent``/``failed``. A
worker killed mid-batch leaves its claimed rows ``sending``; the next run sends them again with the same
``Message-ID`` (so a receiver shows a repeated message once), and every other row exactly once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, cast, func, insert, literal, select, update

from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Address, Contact, Customer, User
from crmcore.runtime import ServiceContext
from crmcore.services.unit import apply_changes, unit_of_work

from ..channels import ChannelDown, Outgoing, providers
from ..models import Audience, Campaign, MessageTemplate, Recipient, Variant
from . import abtest, audiences, consent, footer, languages, rules, templates, tracking
from .campaign_schema import validate_campaign

BATCH = 200
MAX_ATTEMPTS = 3
EDITABLE = ("name", "channel", "purpose", "audience_id", "template_id", "holdout_percent", "scheduled_at",
            "ab_test_percent", "ab_metric", "ab_hours")
EDITABLE_STATES = ("draft", "scheduled")


def get_campaign(ctx: ServiceContext, campaign_id: int) -> Campaign:
    """A campaign the actor may see (record rules: :mod:`.rules`); 404 when unknown or out of scope."""
    ctx.require("marketing.read")
    campaign = ctx.session.get(Campaign, campaign_id)
    if campaign is not None and not rules.sees_all(ctx):
        campaign = ctx.session.scalar(rules.scope_campaigns(ctx, select(Campaign).where(Campaign.id == campaign_id)))
    if campaign is None:
        raise NotFound(_("Campaign %(id)s does not exist.", id=campaign_id))
    return campaign


def list_campaigns(ctx: ServiceContext) -> list[Campaign]:
    ctx.require("marketing.read")
    return list(ctx.session.scalars(rules.scope_campaigns(ctx, select(Campaign).order_by(Campaign.id.desc()))))


def create_campaign(ctx: ServiceContext, data: dict[str, Any]) -> Campaign:
    ctx.require("marketing.manage")
    values = validate_campaign(ctx, data, None)
    with unit_of_work(ctx):
        campaign = Campaign(status="draft", created_by_id=ctx.actor.id if ctx.actor else None)
        changes = apply_changes(campaign, values, EDITABLE)
        ctx.session.add(campaign)
        ctx.session.flush()
        _save_variants(ctx, campaign, values)
        record_change(ctx, "marketing_campaign", "created", campaign.id, changes)
    return campaign


def update_campaign(ctx: ServiceContext, campaign_id: int, data: dict[str, Any]) -> Campaign:
    ctx.require("marketing.manage")
    campaign = get_campaign(ctx, campaign_id)
    if campaign.status not in EDITABLE_STATES:
        raise Conflict(_("A campaign that has started cannot be changed."))
    values = validate_campaign(ctx, data, campaign)
    with unit_of_work(ctx):
        changes = apply_changes(campaign, values, EDITABLE)
        if _save_variants(ctx, campaign, values):
            changes["variants"] = [None, [v["label"] for v in values["variants"]]]
        if changes:
            record_change(ctx, "marketing_campaign", "updated", campaign.id, changes)
    return campaign


def _save_variants(ctx: ServiceContext, campaign: Campaign, values: dict[str, Any]) -> bool:
    """Replace the draft's variants with ``values["variants"]`` when given; True when they were."""
    if "variants" not in values:
        return False
    for old in ctx.session.scalars(select(Variant).where(Variant.campaign_id == campaign.id)):
        ctx.session.delete(old)
    ctx.session.flush()
    for v in values["variants"]:
        ctx.session.add(Variant(campaign_id=campaign.id, label=v["label"].strip(), template_id=v["template_id"]))
    ctx.session.flush()
    return True


def variants_of(ctx: ServiceContext, campaign_id: int) -> list[Variant]:
    return list(ctx.session.scalars(select(Variant).where(Variant.campaign_id == campaign_id).order_by(Variant.label)))


def _bucket(column: Any, multiplier: int, salt: int) -> Any:
    """SQL: a stable pseudo-random bucket in [0, 100) of an integer column (multiplicative hashing mod 2**32;
    other multipliers give independent splits), the same on SQLite and PostgreSQL. In BIGINT, with the id
    taken mod 2**32 and a multiplier under 2**31, so no product overflows."""
    big = cast(column, BigInteger) % 4294967296
    return ((big * literal(multiplier % 2147483648, BigInteger) + literal(salt % 4294967296, BigInteger))
            % 4294967296) * 100 // 4294967296


# ---- starting: checks, then the snapshot -----------------------------------------------------------

def readiness(ctx: ServiceContext, campaign: Campaign) -> dict[str, Any]:
    """Who the campaign would reach now: the audience, how many have no address, no consent, a suppressed
    address, and how many remain (the control group is taken out of those)."""
    provider = providers(ctx).get(campaign.channel)
    audience = ctx.session.get(Audience, campaign.audience_id) if campaign.audience_id else None
    if provider is None or audience is None:
        return {"audience": 0, "reachable": 0, "no_address": 0, "no_consent": 0, "suppressed": 0, "over_cap": 0}
    members = audiences.members_query(ctx, audience).subquery()
    address = provider.address()
    base = select(Customer.id).where(Customer.id.in_(select(members.c.id)))
    count = lambda stmt: ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0  # noqa: E731
    total = count(base)
    with_address = base.where(address.is_not(None))
    consented = with_address.where(consent.granted_clause(Customer.id, campaign.channel, campaign.purpose))
    allowed = consented.where(consent.not_suppressed_clause(campaign.channel, address))
    reachable = allowed.where(consent.under_cap_clause(ctx, Customer.id, campaign.channel, campaign.id))
    n_address, n_consent, n_allowed, n_reach = count(with_address), count(consented), count(allowed), count(reachable)
    out = {"audience": total, "no_address": total - n_address, "no_consent": n_address - n_consent,
           "suppressed": n_consent - n_allowed, "over_cap": n_allowed - n_reach, "reachable": n_reach}
    if campaign.variants:  # the A/B test's size per variant, against what the test needs
        testers = n_reach * (100 - campaign.holdout_percent) * (campaign.ab_test_percent or 100) // 10_000
        out.update(ab_per_variant=testers // len(campaign.variants), ab_needed_per_variant=abtest.needed(ctx))
    return out


def _check_startable(ctx: ServiceContext, campaign: Campaign) -> dict[str, Any]:
    if campaign.status not in EDITABLE_STATES:
        raise Conflict(_("The campaign has already started."))
    provider = providers(ctx).get(campaign.channel)
    if provider is None:
        raise ValidationError(_("Nothing can send on this channel."), errors={"channel": [_("No provider.")]})
    if problem := provider.configured(ctx):
        raise ValidationError(problem, errors={"channel": [problem]})
    template = ctx.session.get(MessageTemplate, campaign.template_id) if campaign.template_id else None
    if template is None:
        raise ValidationError(_("Pick a template."), errors={"template_id": [_("No such template.")]})
    if campaign.audience_id is None or ctx.session.get(Audience, campaign.audience_id) is None:
        raise ValidationError(_("Pick an audience."), errors={"audience_id": [_("No such audience.")]})
    ready = readiness(ctx, campaign)
    if ready["audience"] == 0:
        raise ValidationError(_("The audience matches nobody: nothing to send."), errors={"audience_id": [
            _("The audience matches nobody.")]})
    if ready["reachable"] == 0:
        message = _("Nobody in the audience can be sent this: %(no_address)s without an address, %(no_consent)s "
                    "without consent for this channel and purpose, %(suppressed)s on the suppression list, "
                    "%(over_cap)s over the frequency cap.", **ready)
        raise ValidationError(message, errors={"audience_id": [message]})
    return ready


def start(ctx: ServiceContext, campaign_id: int) -> dict[str, Any]:
    """Check the campaign, snapshot its recipients and queue the send; return the counts."""
    ctx.require("marketing.send")
    campaign = get_campaign(ctx, campaign_id)
    if campaign.kind == "journey":
        from . import journeys

        return journeys.start(ctx, campaign_id)
    ready = _check_startable(ctx, campaign)
    provider = providers(ctx)[campaign.channel]
    audience = ctx.session.get(Audience, campaign.audience_id)
    members = audiences.members_query(ctx, audience).subquery()
    address = provider.address()
    # the control group: a stable hash of (campaign, customer) in [0, 100), the same on every database
    bucket = _bucket(Customer.id, 1597334677, campaign.id * 40503)
    chosen = consent.reachable(select(
        literal(campaign.id).label("campaign_id"), Customer.id.label("customer_id"), address.label("address"),
        cast(literal(0), Integer).label("attempts"), bucket.label("bucket"))
        .where(Customer.id.in_(select(members.c.id)),
               consent.under_cap_clause(ctx, Customer.id, campaign.channel, campaign.id)),
        Customer.id, campaign.channel, campaign.purpose, address).subquery()
    columns = ["campaign_id", "customer_id", "address", "status", "attempts"]
    with unit_of_work(ctx):
        for status, in_group in (("pending", chosen.c.bucket >= campaign.holdout_percent),
                                 ("held_out", chosen.c.bucket < campaign.holdout_percent)):
            ctx.session.execute(insert(Recipient).from_select(columns, select(
                chosen.c.campaign_id, chosen.c.customer_id, chosen.c.address, literal(status), chosen.c.attempts)
                .where(in_group)))
        _split_variants(ctx, campaign)
        campaign.status, campaign.started_at = "running", utcnow()
        record_change(ctx, "marketing_campaign", "started", campaign.id, {"status": ["draft", "running"]},
                      data=ready)
    from crmcore.services import job_runs

    job_runs.enqueue(ctx, "marketing.send", {"campaign_id": campaign.id})
    return {**ready, **counts(ctx, campaign.id)}


def _split_variants(ctx: ServiceContext, campaign: Campaign) -> None:
    """With variants: the test share of the pending recipients gets one variant each (evenly, by a hash
    independent of the control group's); the rest waits for the winner (everyone tries them at 0 %)."""
    variants = variants_of(ctx, campaign.id)
    if not variants:
        return
    share = campaign.ab_test_percent or 100
    tester = _bucket(Recipient.customer_id, 2013265921, campaign.id * 3266489917) < share
    pick = _bucket(Recipient.customer_id, 1103515245, campaign.id * 668265263) % len(variants)
    for i, variant in enumerate(variants):
        ctx.session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id,
                                                    Recipient.status == "pending", tester, pick == i)
                            .values(variant_id=variant.id).execution_options(synchronize_session=False))
    ctx.session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "pending",
                                                Recipient.variant_id.is_(None))
                        .values(status="waiting").execution_options(synchronize_session=False))


def counts(ctx: ServiceContext, campaign_id: int) -> dict[str, int]:
    rows = ctx.session.execute(select(Recipient.status, func.count()).where(Recipient.campaign_id == campaign_id)
                               .group_by(Recipient.status)).all()
    return {status: int(n) for status, n in rows}


def pause(ctx: ServiceContext, campaign_id: int) -> Campaign:
    ctx.require("marketing.send")
    campaign = get_campaign(ctx, campaign_id)
    if campaign.status != "running":
        raise Conflict(_("Only a running campaign can be paused."))
    with unit_of_work(ctx):
        campaign.status = "paused"
        record_change(ctx, "marketing_campaign", "paused", campaign.id, {"status": ["running", "paused"]})
    return campaign


def resume(ctx: ServiceContext, campaign_id: int) -> Campaign:
    ctx.require("marketing.send")
    campaign = get_campaign(ctx, campaign_id)
    if campaign.status != "paused":
        raise Conflict(_("Only a paused campaign can be resumed."))
    with unit_of_work(ctx):
        campaign.status = "running"
        record_change(ctx, "marketing_campaign", "resumed", campaign.id, {"status": ["paused", "running"]})
    from crmcore.services import job_runs

    job_runs.enqueue(ctx, "marketing.journeys" if campaign.kind == "journey" else "marketing.send",
                     {"campaign_id": campaign.id})
    return campaign


# ---- sending -----------------------------------------------------------------------------------------

def message_id(ctx: ServiceContext, recipient_id: int) -> str:
    """The same ``Message-ID`` every time this recipient's message is sent (a resend after a crash)."""
    digest = hashlib.sha256(f"{ctx.settings.get('SECRET_KEY')}:{recipient_id}".encode()).hexdigest()[:24]
    domain = str(ctx.settings.get("MARKETING_FROM") or "crm.invalid").rpartition("@")[2] or "crm.invalid"
    return f"<m{recipient_id}.{digest}@{domain}>"


def _people(ctx: ServiceContext, customer_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per customer of a batch: name, code, the primary contact's name and a city, in three queries."""
    people = {cid: {"id": cid, "name": name, "code": code, "contact": None, "city": ""}
              for cid, name, code in ctx.session.execute(
        select(Customer.id, Customer.name, Customer.code).where(Customer.id.in_(customer_ids)))}
    for cid, name, _primary, _id in ctx.session.execute(
            select(Contact.customer_id, Contact.name, Contact.is_primary, Contact.id)
            .where(Contact.customer_id.in_(customer_ids)).order_by(Contact.is_primary.desc(), Contact.id)):
        if people[cid]["contact"] is None:
            people[cid]["contact"] = name
    for cid, city in ctx.session.execute(select(Address.customer_id, Address.city).where(
            Address.customer_id.in_(customer_ids), Address.city.is_not(None))
            .order_by(Address.is_primary.desc(), Address.id)):
        people[cid]["city"] = people[cid]["city"] or city
    return people


def recommendations(ctx: ServiceContext, customer_id: int, limit: int = 3) -> list[str]:
    """Names of products to suggest to the customer: what goes with what they bought (the analysis plugin's
    basket rules through the sales plugin's suggestions), not yet bought; empty without them."""
    try:
        from plugins.sales.services.suggestions import for_customer
    except ImportError:  # the sales plugin is not installed
        return []
    if not ctx.can("sales.product.read"):
        return []
    return [str(s["name"]) for s in for_customer(ctx, customer_id, limit=limit)]


def _variables(ctx: ServiceContext, person: dict[str, Any], links: dict[str, str],
               suggested: list[str] | None = None) -> dict[str, Any]:
    return {"customer": {"name": person["name"], "code": person["code"], "city": person["city"] or ""},
            "contact": {"name": person["contact"] or person["name"]},
            "company": {"name": str(ctx.settings.get("COMPANY_NAME") or "")},
            "recommendations": suggested or [], "best_sellers": [], **links}


def render_for(ctx: ServiceContext, renderer: templates.Renderer, person: dict[str, Any], recipient_id: int,
               address: str, channel: str = "email", language: str | None = None) -> Outgoing:
    """One recipient's message; an e-mail part whose template places no preference or unsubscribe link gets the
    footer with both, in the recipient's ``language``."""
    links = tracking.links(ctx, recipient_id, person["id"])
    suggested = recommendations(ctx, person["id"]) if renderer.uses_recommendations else None
    variables = _variables(ctx, person, links, suggested)
    if renderer.uses_best_sellers and ctx.can("sales.product.read"):
        from .recommend import best_sellers

        variables["best_sellers"] = best_sellers(ctx, person["id"])
    parts = renderer.render(variables)
    if channel == "email":
        if parts["html"] is not None and not renderer.has_way_out["html"]:
            parts["html"] = footer.add_html(ctx, parts["html"], language, links)
        if parts["text"] is not None and not renderer.has_way_out["text"]:
            parts["text"] = footer.add_text(ctx, parts["text"], language, links)
    html = tracking.track_html(ctx, recipient_id, parts["html"]) if parts["html"] else None
    headers = {"List-Unsubscribe": f"<{links['unsubscribe_url']}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} if tracking.base_url(ctx) else {}
    return Outgoing(recipient_id, address, parts["subject"] or "", html, parts["text"], message_id(ctx, recipient_id),
                    headers)


_SET = (update(Recipient.__table__).where(Recipient.__table__.c.id == bindparam("rid"))
        .values(status=bindparam("st"), reason=bindparam("why"), sent_at=bindparam("at"), message_id=bindparam("mid")))


def send_batch(ctx: ServiceContext, campaign_id: int, batch: int = BATCH) -> int:
    """Claim and send one batch of the campaign's recipients; return how many were claimed (0: done)."""
    campaign = ctx.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "running" or campaign.kind == "journey":
        return 0  # a journey's messages are sent by the journey engine
    # rows a killed worker left claimed come first, then new ones
    ids = list(ctx.session.scalars(select(Recipient.id).where(
        Recipient.campaign_id == campaign_id, Recipient.status.in_(("sending", "pending")),
        Recipient.attempts < MAX_ATTEMPTS).order_by(Recipient.status.desc(), Recipient.id).limit(batch)))
    if not ids:
        return 0
    # claimed, not yet an attempt: a worker killed now (or crash-looping on this batch) costs nobody their
    # message; an attempt is a send the provider answered "not now" (ChannelDown, retry)
    ctx.session.execute(update(Recipient).where(Recipient.id.in_(ids)).values(
        status="sending").execution_options(synchronize_session=False))
    ctx.session.commit()
    chosen = {None: ctx.session.get(MessageTemplate, campaign.template_id)}  # by variant; rendered per language
    for variant in variants_of(ctx, campaign.id):
        template = ctx.session.get(MessageTemplate, variant.template_id) if variant.template_id else None
        chosen[variant.id] = template if template is not None else chosen[None]
    rows = ctx.session.execute(select(Recipient.id, Recipient.customer_id, Recipient.address, Recipient.variant_id)
                               .where(Recipient.id.in_(ids)).order_by(Recipient.id)).all()
    people = _people(ctx, [r.customer_id for r in rows])
    spoken, chooser = languages.language_of(ctx, [r.customer_id for r in rows]), languages.Chooser(ctx)
    # the suppression list and the cap are read again: an unsubscribe or another campaign since the start count
    suppressed = consent.suppressed_among(ctx, campaign.channel, [r.address for r in rows if r.address])
    capped: set[int] = set()
    if campaign.purpose == "marketing":
        capped = set(ctx.session.scalars(select(Customer.id).where(
            Customer.id.in_([r.customer_id for r in rows]),
            ~consent.under_cap_clause(ctx, Customer.id, campaign.channel, campaign.id))))
    skipped = {r.id: "suppressed" for r in rows if r.address in suppressed}
    skipped.update({r.id: "frequency cap" for r in rows if r.customer_id in capped and r.id not in skipped})
    messages = []
    for r in rows:
        if r.id in skipped:
            continue
        try:  # a template that fails for this customer alone (a filter on an odd value) fails this message only
            renderer = chooser.renderer(chosen.get(r.variant_id) or chosen[None], spoken.get(r.customer_id))
            messages.append(render_for(ctx, renderer, people[r.customer_id], r.id, r.address, campaign.channel,
                                       spoken.get(r.customer_id)))
        except Exception as exc:  # noqa: BLE001 - jinja raises many kinds; the reason is kept on the row
            skipped[r.id] = f"template: {type(exc).__name__}: {exc}"[:255]
    try:
        outcomes = providers(ctx)[campaign.channel].send(ctx, messages) if messages else []
    except ChannelDown:
        ctx.session.rollback()
        ctx.session.execute(update(Recipient).where(Recipient.id.in_(ids), Recipient.status == "sending")
                            .values(status="pending", attempts=Recipient.attempts + 1)
                            .execution_options(synchronize_session=False))
        ctx.session.commit()
        raise
    now = utcnow()
    changes = [{"rid": o.recipient_id, "st": "sent", "why": None, "at": now, "mid": message_id(ctx, o.recipient_id)}
               if o.ok else {"rid": o.recipient_id, "st": "pending" if o.error == "retry" else "failed",
                             "why": (o.error or "")[:255], "at": None, "mid": None} for o in outcomes]
    changes += [{"rid": rid, "st": "failed", "why": why, "at": None, "mid": None} for rid, why in skipped.items()]
    if changes:
        ctx.session.connection().execute(_SET, changes)
    if retried := [o.recipient_id for o in outcomes if not o.ok and o.error == "retry"]:
        ctx.session.execute(update(Recipient).where(Recipient.id.in_(retried))
                            .values(attempts=Recipient.attempts + 1).execution_options(synchronize_session=False))
    ctx.session.commit()
    return len(ids)


def send_campaign(ctx: ServiceContext, campaign_id: int, batch: int | None = None,
                  now: dt.datetime | None = None) -> dict[str, int]:
    """The ``marketing.send`` job: batches (``batch``, else ``MARKETING_BATCH_SIZE``, 200) until nothing is
    left (or the campaign is paused), reporting progress; then the campaign is done. Safe to run again after
    a crash."""
    from crmcore.config import setting_int
    from crmcore.services.jobs import report_progress

    batch = batch or setting_int(ctx.settings, "MARKETING_BATCH_SIZE", BATCH, minimum=1)

    campaign_id = int(campaign_id)
    campaign = ctx.session.get(Campaign, campaign_id)
    if campaign is not None and campaign.kind == "journey":
        return counts(ctx, campaign_id)  # a journey ends by its enrolments, not by a list of recipients
    if campaign is not None and campaign.purpose == "marketing" and consent.quiet_now(ctx):
        return counts(ctx, campaign_id)  # quiet hours: the periodic job goes on after them
    if campaign is not None and campaign.status == "running":
        abtest.decide_if_due(ctx, campaign, now)
    total = sum(counts(ctx, campaign_id).values())
    while send_batch(ctx, campaign_id, batch):
        c = counts(ctx, campaign_id)
        report_progress(ctx, total - c.get("pending", 0) - c.get("sending", 0), total)
    campaign = ctx.session.get(Campaign, campaign_id)
    left = ctx.session.scalar(select(func.count()).where(Recipient.campaign_id == campaign_id,
                                                         Recipient.status.in_(("pending", "sending")),
                                                         Recipient.attempts < MAX_ATTEMPTS))
    waiting = ctx.session.scalar(select(func.count()).where(Recipient.campaign_id == campaign_id,
                                                            Recipient.status == "waiting"))
    if campaign is not None and campaign.status == "running" and not left and not waiting:
        campaign.status, campaign.finished_at = "done", utcnow()
        ctx.session.execute(update(Recipient).where(Recipient.campaign_id == campaign_id,
                                                     Recipient.status.in_(("pending", "sending")))
                            .values(status="failed", reason="too many attempts"))
        ctx.session.commit()
    return counts(ctx, campaign_id)


def send_test(ctx: ServiceContext, campaign_id: int, customer_id: int | None = None) -> str:
    """Send the campaign's message, rendered for one customer of its audience (or ``customer_id``), to the
    actor's own e-mail address; nothing is recorded on the campaign. A journey sends the message of each of
    its send steps (of the version new entries follow), each subject saying which step. Returns the address."""
    ctx.require("marketing.manage")
    campaign = get_campaign(ctx, campaign_id)
    user = ctx.session.get(User, ctx.actor.id) if ctx.actor else None
    to = getattr(user, "email", None)
    if not to:
        raise ValidationError(_("Your user has no e-mail address to send the test to."), errors={})
    if campaign.kind == "journey":
        from .journeys import steps_of

        sends = [s for s in steps_of(ctx, campaign.id) if s.kind == "send"]
        if not sends:
            raise ValidationError(_("The journey has no step that sends a message."), errors={})
        customer = _test_customer(ctx, campaign, customer_id)
        for step in sends:
            template = templates.get_template(ctx, step.template_id) if step.template_id else None
            if template is None:
                raise ValidationError(_("Pick a template."), errors={"template_id": [_("No such template.")]})
            _send_one_test(ctx, step.channel or template.channel, template, customer, to, step.name)
        return to
    template = templates.get_template(ctx, campaign.template_id) if campaign.template_id else None
    if template is None:
        raise ValidationError(_("Pick a template."), errors={"template_id": [_("No such template.")]})
    _send_one_test(ctx, campaign.channel, template, _test_customer(ctx, campaign, customer_id), to, None)
    return to


def _test_customer(ctx: ServiceContext, campaign: Campaign, customer_id: int | None) -> Customer:
    """The customer a test is rendered for: the one given, else the first of the audience (a journey without
    an audience: the first customer the actor may see)."""
    from crmcore.services.access import scope_customers

    customer = ctx.session.get(Customer, customer_id) if customer_id else None
    if customer is None and campaign.audience_id:
        audience = ctx.session.get(Audience, campaign.audience_id)
        first = ctx.session.scalar(audiences.members_query(ctx, audience).order_by(Customer.id).limit(1))
        customer = ctx.session.get(Customer, first) if first else None
    elif customer is None and campaign.kind == "journey":
        first = ctx.session.scalar(scope_customers(ctx, select(Customer.id)).where(
            Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(1))
        customer = ctx.session.get(Customer, first) if first else None
    if customer is None:
        raise ValidationError(_("The audience matches nobody: nothing to send."), errors={})
    return customer


def _send_one_test(ctx: ServiceContext, channel: str, template: Any, customer: Customer, to: str,
                   step: str | None) -> None:
    provider = providers(ctx).get(channel)
    if provider is None or (problem := provider.configured(ctx)):
        raise ValidationError(_("Nothing can send on this channel."), errors={"channel": [str(problem or "")]})
    language = languages.language_of(ctx, [customer.id]).get(customer.id)
    renderer = languages.Chooser(ctx).renderer(template, language)
    message = render_for(ctx, renderer, _people(ctx, [customer.id])[customer.id], 0, to, channel, language)
    message.subject = f"[TEST] {step}: {message.subject}" if step else f"[TEST] {message.subject}"
    message.message_id = f"<test.{dt.datetime.now().timestamp()}@crm.invalid>"
    outcome = provider.send(ctx, [message])
    if not outcome or not outcome[0].ok:
        raise ValidationError(_("The test message was refused: %(error)s", error=outcome[0].error if outcome else ""),
                              errors={})
