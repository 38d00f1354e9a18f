"""Who referred whom: recorded when a lead or a customer is created with a referral code (the API, the public
lead forms, a WeChat scene ``ref_<code>``), kept when the lead becomes a customer; never a cycle."""
from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from crmcore.errors import Conflict, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.access import scope_customers
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work

from ..models import SOURCES, Referral, ReferralCode
from .codes import find_code
from .tree import ancestor_ids

SCENE_PREFIX = "ref_"  # a WeChat QR code's scene that carries a referral code
# the service context's source -> how the referral arrived
SOURCE_OF = {"web-form": "form", "api": "api", "admin": "admin", "import": "import", "wechat": "wechat",
             "link": "link"}


def unknown_code() -> ValidationError:
    return ValidationError(_("The referral code is not valid."),
                           errors={"referral_code": [_("No active referral code reads like this.")]})


def device_of_request() -> str | None:
    """A hash of the visitor's browser and address (the device guard), when a request is being served."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    seen = f"{request.headers.get('User-Agent', '')}|{request.remote_addr or ''}"
    return hashlib.sha256(seen.encode()).hexdigest()


def _check_cycle(ctx: ServiceContext, referrer_id: int | None, referee_id: int) -> None:
    if referrer_id is None:
        return
    if referrer_id == referee_id:
        raise ValidationError(_("A customer cannot refer themselves."),
                              errors={"referral_code": [_("This is the customer's own referral code.")]})
    if referee_id in ancestor_ids(ctx, referrer_id):
        raise Conflict(_("The customer already brought the owner of this code (directly or not): a referral "
                         "cannot go round in a circle."), errors={"referral_code": [_("This would make a cycle.")]})


def record_referral(ctx: ServiceContext, code: str, customer_id: int | None = None, lead_id: int | None = None,
                    source: str = "api", device: str | None = None) -> Referral:
    """Record that the owner of ``code`` brought a customer and/or a lead (the channels call this for a WeChat
    scene ``ref_<code>``). A customer or lead already referred keeps its first referrer (that referral is
    returned); unknown codes, self-referral and cycles are refused (422, 409)."""
    ctx.require("social.manage")
    if source not in SOURCES:
        raise ValidationError(_("The referral is not valid."), errors={"source": [_("Not a known source.")]})
    row = find_code(ctx, code)
    if row is None:
        raise unknown_code()
    if customer_id is None and lead_id is None:
        raise ValidationError(_("The referral is not valid."),
                              errors={"customer_id": [_("Give the customer or the lead that was referred.")]})
    if customer_id is not None:
        get_customer(ctx, customer_id)
        existing = ctx.session.scalar(select(Referral).where(Referral.referee_customer_id == customer_id))
        if existing is not None:
            return existing
    if lead_id is not None:
        from plugins.sales.services.leads import get_lead

        lead = get_lead(ctx, lead_id)
        existing = ctx.session.scalar(select(Referral).where(Referral.lead_id == lead_id))
        if existing is not None:
            return existing
        if customer_id is None and lead.customer_id is not None:
            customer_id = lead.customer_id  # a lead qualified already: its customer is the one referred
            existing = ctx.session.scalar(select(Referral).where(Referral.referee_customer_id == customer_id))
            if existing is not None:
                return existing
    if customer_id is not None:
        _check_cycle(ctx, row.customer_id, customer_id)
    with unit_of_work(ctx):
        referral = Referral(code_id=row.id, referrer_customer_id=row.customer_id, referrer_user_id=row.user_id,
                            referee_customer_id=customer_id, lead_id=lead_id, source=source, device=device)
        ctx.session.add(referral)
        ctx.session.flush()
        record_change(ctx, "referral", "created", referral.id, {"code": [None, row.code]},
                      data={"customer_id": customer_id, "referrer_customer_id": row.customer_id},
                      event_name="social.referral.created")
    return referral


def record_scene(ctx: ServiceContext, scene: str | None, customer_id: int | None = None, lead_id: int | None = None,
                 device: str | None = None, source: str = "wechat") -> Referral | None:
    """A WeChat QR code's scene ``ref_<code>`` scanned by a follower (or a WeCom "contact me" state) who became
    ``customer_id`` or ``lead_id``: :func:`record_referral` with source ``wechat`` (``wecom``); None for a scene
    that is no referral."""
    if not isinstance(scene, str) or not scene.startswith(SCENE_PREFIX):
        return None
    return record_referral(ctx, scene[len(SCENE_PREFIX):], customer_id=customer_id, lead_id=lead_id, source=source,
                           device=device)


def referral_from_scene(ctx: ServiceContext, scene: str | None, customer_id: int | None,
                        lead_id: int | None = None, source: str = "wechat") -> Referral | None:
    """For the channels' inbound pipeline: :func:`record_scene` in a savepoint, a refused referral (an unknown
    code, the follower's own code, a circle) logged and dropped, so the message is stored all the same."""
    import logging

    from crmcore.errors import CRMError

    try:
        with ctx.session.begin_nested():
            return record_scene(ctx, scene, customer_id=customer_id, lead_id=lead_id, source=source)
    except CRMError as exc:
        logging.getLogger(__name__).info("referral scene of customer %s / lead %s not recorded: %s", customer_id,
                                         lead_id, exc.message)
        return None


def on_before_save(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    """``crm_before_save``: a new lead or customer with ``referral_code`` gets its referral in the same
    transaction."""
    if entity in ("lead", "customer") and created and "referral_code" in changes:
        _referred_on_create(ctx, entity, obj, changes["referral_code"][1])


def _referred_on_create(ctx: ServiceContext, entity: str, obj: Any, code: Any) -> None:
    if code in (None, ""):
        return
    row = find_code(ctx, code)
    if row is None:
        if ctx.source == "web-form":
            return  # a visitor cannot correct a code they followed: the lead is kept, without a referrer
        raise unknown_code()
    referral = Referral(code_id=row.id, referrer_customer_id=row.customer_id, referrer_user_id=row.user_id,
                        source=SOURCE_OF.get(ctx.source, "api"),
                        device=device_of_request() if ctx.source in ("web-form", "link") else None)
    ctx.session.add(referral)
    ctx.session.flush()  # the new lead or customer gets its id; then the referral points to it
    if entity == "lead":
        referral.lead_id = obj.id
    else:
        referral.referee_customer_id = obj.id


def on_leads_qualified(ctx: ServiceContext, lead_ids: list[int]) -> None:
    """After ``sales.lead.qualified``: each referred lead passes its referrer on to the customer it became."""
    from plugins.sales.models import Lead

    for lead_id, customer_id in ctx.session.execute(select(Lead.id, Lead.customer_id).where(
            Lead.id.in_(lead_ids), Lead.customer_id.is_not(None))):
        _lead_converted(ctx, int(lead_id), int(customer_id))


def _lead_converted(ctx: ServiceContext, lead_id: int, customer_id: int) -> None:
    referral = ctx.session.scalar(select(Referral).where(Referral.lead_id == lead_id))
    if referral is None or referral.referee_customer_id is not None:
        return
    if ctx.session.scalar(select(Referral.id).where(Referral.referee_customer_id == customer_id)) is not None:
        return  # the customer was referred before: the first referrer stays
    if referral.referrer_customer_id == customer_id or (
            referral.referrer_customer_id is not None
            and customer_id in ancestor_ids(ctx, referral.referrer_customer_id)):
        return  # the lead matched its own referrer (or an ancestor of it): no referral between them
    referral.referee_customer_id = customer_id


def list_referrals(ctx: ServiceContext, *, customer_id: int | None = None, page: int = 1,
                   page_size: int = 25) -> tuple[list[Referral], int]:
    """Referrals, newest first; of one customer (as referrer or referee) when ``customer_id`` is given."""
    ctx.require("social.read")
    stmt = select(Referral)
    if ctx.scope != "all":  # a rep sees the referrals of customers in their scope, on either side
        mine = scope_customers(ctx, select(Customer.id))
        stmt = stmt.where(Referral.referee_customer_id.in_(mine) | Referral.referrer_customer_id.in_(mine))
    if customer_id is not None:
        get_customer(ctx, customer_id)
        stmt = stmt.where((Referral.referrer_customer_id == customer_id) | (Referral.referee_customer_id == customer_id))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Referral.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def referrer_of(ctx: ServiceContext, customer_id: int) -> Referral | None:
    return ctx.session.scalar(select(Referral).where(Referral.referee_customer_id == customer_id))


def codes_of(ctx: ServiceContext, customer_id: int) -> list[ReferralCode]:
    return list(ctx.session.scalars(select(ReferralCode).where(ReferralCode.customer_id == customer_id)))
