"""Referral rewards: when a referred customer's first order is paid, the referrer and the new customer are each
rewarded (loyalty points through the ``crm_referral_reward`` hook, or a coupon), after the fraud guards and
once the return window has passed without the order being cancelled or its invoice unpaid."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import exists, func, select

from crmcore.db import utcnow
from crmcore.events import record_change
from crmcore.models import Address, Contact, Customer
from crmcore.normalize import fold, normalize_email, normalize_phone
from crmcore.runtime import ServiceContext

from ..models import Programme, Referral, Reward
from .programme import programme


def _paid_orders(customer_id: int) -> Any:
    from plugins.sales.models import Invoice, Order

    paid = exists().where(Invoice.order_id == Order.id, Invoice.state == "paid")
    return select(Order).where(Order.customer_id == customer_id, Order.status != "cancelled", paid)


def _phones(ctx: ServiceContext, customer_id: int) -> set[str]:
    region = ctx.settings.get("DEFAULT_REGION") or "CN"
    customer = ctx.session.get(Customer, customer_id)
    raw = [customer.phone] if customer else []
    for phone, mobile in ctx.session.execute(select(Contact.phone, Contact.mobile).where(Contact.customer_id == customer_id)):
        raw += [phone, mobile]
    return {p for p in (normalize_phone(r, region) for r in raw if r) if p}


def _emails(ctx: ServiceContext, customer_id: int) -> set[str]:
    customer = ctx.session.get(Customer, customer_id)
    raw = [customer.email] if customer else []
    raw += list(ctx.session.scalars(select(Contact.email).where(Contact.customer_id == customer_id)))
    return {e for e in (normalize_email(r) for r in raw if r) if e}


def _addresses(ctx: ServiceContext, customer_id: int) -> set[str]:
    rows = ctx.session.execute(select(Address.line1, Address.line2, Address.city, Address.postcode)
                               .where(Address.customer_id == customer_id))
    return {"".join(fold(p or "").casefold().split()) for p in
            ("|".join(part or "" for part in row) for row in rows)}


def _devices(ctx: ServiceContext, customer_id: int) -> set[str]:
    """The devices a customer was seen on: the one recorded when they were themselves referred."""
    return {d for d in ctx.session.scalars(select(Referral.device).where(Referral.referee_customer_id == customer_id))
            if d}


def refusal(ctx: ServiceContext, referral: Referral) -> str | None:
    """Why this referral earns nothing (a ``REFUSALS`` code), or None when it may be rewarded."""
    referrer, referee = referral.referrer_customer_id, referral.referee_customer_id
    if referrer is None or referee is None:
        return "self_referral" if referrer == referee else None
    if referrer == referee:
        return "self_referral"
    if _phones(ctx, referrer) & _phones(ctx, referee):
        return "same_phone"
    if _emails(ctx, referrer) & _emails(ctx, referee):
        return "same_email"
    if referral.device and (referral.device in _devices(ctx, referrer) or ctx.session.scalar(
            select(Referral.id).join(Reward, Reward.referral_id == Referral.id)
            .where(Referral.referrer_customer_id == referrer, Referral.device == referral.device,
                   Referral.id != referral.id, Reward.status.in_(("pending", "granted"))).limit(1))):
        return "same_device"
    if _addresses(ctx, referrer) & _addresses(ctx, referee):
        return "same_address"
    return None


def on_paid(ctx: ServiceContext, customer_ids: Iterable[int], *, now: dt.datetime | None = None) -> list[Reward]:
    """The customers among ``customer_ids`` who were referred by a customer and now have their first paid order
    get their rewards (pending until the return window is over), or the refusal with its reason; once only."""
    made: list[Reward] = []
    now = now or utcnow()
    prog: Programme | None = None
    for referral in ctx.session.scalars(select(Referral).where(Referral.referee_customer_id.in_(set(customer_ids)),
                                                               Referral.referrer_customer_id.is_not(None))):
        if ctx.session.scalar(select(func.count()).select_from(Reward).where(
                Reward.referral_id == referral.id)) or ctx.session.scalar(select(Reward.id).where(
                Reward.customer_id == referral.referee_customer_id, Reward.role == "referee").limit(1)):
            continue  # one reward per referee
        from plugins.sales.models import Order

        first = ctx.session.scalar(_paid_orders(int(referral.referee_customer_id or 0))
                                   .order_by(Order.order_date, Order.id).limit(1))
        if first is None:
            continue
        prog = prog or programme(ctx)
        reason = refusal(ctx, referral) if prog.active else "programme_off"
        for role, customer_id, points in (("referrer", referral.referrer_customer_id, prog.referrer_points),
                                          ("referee", referral.referee_customer_id, prog.referee_points)):
            reward = Reward(referral_id=referral.id, customer_id=customer_id, role=role, kind=prog.reward_kind,
                            points=points if prog.reward_kind == "points" else None, order_id=first.id,
                            status="refused" if reason else "pending", reason=reason,
                            due_at=None if reason else now + dt.timedelta(days=prog.return_window_days),
                            decided_at=now if reason else None)
            ctx.session.add(reward)
            made.append(reward)
    if made:
        ctx.session.flush()
        for reward in made:
            record_change(ctx, "referral_reward", "created", reward.id, {"status": [None, reward.status]},
                          data={"customer_id": reward.customer_id, "reason": reward.reason},
                          event_name="social.reward.created")
    return made


def _still_paid(ctx: ServiceContext, order_id: int | None) -> bool:
    from plugins.sales.models import Invoice, Order

    if order_id is None:
        return False
    order = ctx.session.get(Order, order_id)
    if order is None or order.status == "cancelled":
        return False
    return bool(ctx.session.scalar(select(Invoice.id).where(Invoice.order_id == order_id,
                                                            Invoice.state == "paid").limit(1)))


def coupons_module() -> Any:
    """The sales plugin's coupon programmes (``plugins.sales.services.coupons``), or None in a version without."""
    import importlib

    try:
        return importlib.import_module("plugins.sales.services.coupons")
    except ImportError:
        return None


def _pay(ctx: ServiceContext, reward: Reward, prog: Programme) -> str | None:
    """Pay ``reward``: None when paid, else why not (a ``REFUSALS`` code)."""
    from crmcore.errors import CRMError
    from crmcore.i18n import _

    if reward.kind == "points":
        title = _("Referral reward (%(role)s)", role=_("referrer") if reward.role == "referrer" else _("new customer"))
        paid = ctx.hook.crm_referral_reward(ctx=ctx, customer_id=reward.customer_id, points=reward.points or 0,
                                            reason=str(title), key=f"social-reward-{reward.id}")
        return None if paid else "no_payer"
    coupons = coupons_module()
    if coupons is None or prog.coupon_programme_id is None:
        return "no_payer"
    try:
        with ctx.session.begin_nested():  # a refusal leaves the job's other rewards alone
            coupon = coupons.issue_coupon(ctx, prog.coupon_programme_id, reward.customer_id,
                                          source=f"referral:{reward.id}")
    except CRMError:
        return "coupon_not_issued"
    reward.coupon_code = coupon.code
    return None


def grant_due(ctx: ServiceContext, *, now: dt.datetime | None = None) -> dict[str, int]:
    """The ``social.rewards`` job: pending rewards whose return window is over are paid, or cancelled when
    their order was cancelled or is no longer paid; a reward nobody can pay is refused (``no_payer``)."""
    from crmcore.services.unit import unit_of_work

    now = now or utcnow()
    counts = {"granted": 0, "cancelled": 0, "refused": 0}
    with unit_of_work(ctx):
        prog = programme(ctx)
        due = list(ctx.session.scalars(select(Reward).where(Reward.status == "pending", Reward.due_at <= now)
                                       .order_by(Reward.id)))
        for reward in due:
            before = reward.status
            if not _still_paid(ctx, reward.order_id):
                reward.status, reward.reason = "cancelled", "order_cancelled"
            else:
                refused = _pay(ctx, reward, prog)
                reward.status, reward.reason = ("refused", refused) if refused else ("granted", None)
            reward.decided_at = now
            counts[reward.status] += 1
            ctx.session.flush()
            record_change(ctx, "referral_reward", "updated", reward.id, {"status": [before, reward.status]},
                          data={"customer_id": reward.customer_id, "reason": reward.reason},
                          event_name=f"social.reward.{reward.status}")
    return counts


def list_rewards(ctx: ServiceContext, *, status: str | None = None, customer_id: int | None = None,
                 page: int = 1, page_size: int = 25) -> tuple[list[Reward], int]:
    from crmcore.services.access import scope_customers

    ctx.require("social.read")
    stmt = select(Reward)
    if ctx.scope != "all":
        stmt = stmt.where(Reward.customer_id.in_(scope_customers(ctx, select(Customer.id))))
    if status:
        stmt = stmt.where(Reward.status == status)
    if customer_id is not None:
        stmt = stmt.where(Reward.customer_id == customer_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Reward.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)
