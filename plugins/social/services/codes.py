"""Referral codes: short, unguessable and unique, one active code per customer and per rep."""
from __future__ import annotations

import secrets

from sqlalchemy import select

from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import User
from crmcore.runtime import ServiceContext
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work

from ..models import ReferralCode

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud or typed from a poster
LENGTH = 10  # 31**10 ≈ 8e14 codes: guessing one is hopeless behind the link's rate limit


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _i in range(LENGTH))


def clean_code(value: object) -> str | None:
    """A code as typed (any case, spaces around) in its stored form, or None when it cannot be one."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower()
    if not code or len(code) > 16 or any(c not in ALPHABET for c in code):
        return None
    return code


def find_code(ctx: ServiceContext, value: object) -> ReferralCode | None:
    """The active code ``value`` names, or None."""
    code = clean_code(value)
    if code is None:
        return None
    return ctx.session.scalar(select(ReferralCode).where(ReferralCode.code == code, ReferralCode.active.is_(True)))


def code_for(ctx: ServiceContext, *, customer_id: int | None = None, user_id: int | None = None) -> ReferralCode:
    """The active code of a customer or a rep, made on first asking: anyone who may read referrals gets the code of
    a customer in their scope or their own; a rep's code for someone else needs ``social.manage``."""
    ctx.require("social.read")
    if user_id is not None and user_id != ctx.actor_id:
        ctx.require("social.manage")
    if (customer_id is None) == (user_id is None):
        raise ValidationError(_("Give a customer or a rep."),
                              errors={"customer_id": [_("Give a customer or a rep, not both.")]})
    if customer_id is not None:
        get_customer(ctx, customer_id)  # 404, or 403 outside the user's scope
        owner = ReferralCode.customer_id == customer_id
    else:
        user = ctx.session.get(User, user_id)
        if user is None:
            raise NotFound(_("User %(id)s does not exist.", id=user_id))
        owner = ReferralCode.user_id == user_id
    existing = ctx.session.scalar(select(ReferralCode).where(owner, ReferralCode.active.is_(True)))
    if existing is not None:
        return existing
    with unit_of_work(ctx):
        while True:
            code = new_code()
            if ctx.session.scalar(select(ReferralCode.id).where(ReferralCode.code == code)) is None:
                break
        row = ReferralCode(code=code, customer_id=customer_id, user_id=user_id, active=True)
        ctx.session.add(row)
        ctx.session.flush()
        record_change(ctx, "referral_code", "created", row.id, {"code": [None, code]},
                      data={"customer_id": customer_id}, event_name="social.code.created")
    return row


def owner_name(ctx: ServiceContext, code: ReferralCode) -> str:
    """Who the code belongs to, by name."""
    from crmcore.models import Customer

    if code.customer_id is not None:
        customer = ctx.session.get(Customer, code.customer_id)
        return customer.name if customer else ""
    user = ctx.session.get(User, code.user_id)
    return (user.full_name or user.username) if user else ""
