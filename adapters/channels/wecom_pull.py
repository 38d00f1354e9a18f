"""Pulling from WeCom for the channels jobs (`jobs.py`): external contacts into customers, group-send results."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from crmcore.db import utcnow
from crmcore.models import Contact, Customer
from crmcore.normalize import normalize_phone
from crmcore.runtime import ServiceContext
from crmcore.services import identities
from crmcore.services.customers import create_customer, update_customer
from crmcore.services.unit import unit_of_work

from .base import Inbound


def _by_phone(ctx: ServiceContext, phone: str | None) -> Customer | None:
    """The one live customer with this phone (customer or contact); None for none or several."""
    key = normalize_phone(phone or "", ctx.settings.get("DEFAULT_REGION") or "CN")
    if not key:
        return None
    by_contact = select(Contact.customer_id).where(or_(Contact.phone_normalized == key, Contact.mobile_normalized == key))
    ids = list(ctx.session.scalars(select(Customer.id).where(
        or_(Customer.phone_normalized == key, Customer.id.in_(by_contact)),
        Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))))
    return ctx.session.get(Customer, ids[0]) if len(ids) == 1 else None


def contact_me_events(identity: dict[str, Any]) -> list[Inbound]:
    """A pulled contact's "contact me" states as the ``add_external_contact`` events WeCom's callback gives (the
    same dedupe key: change, staff, customer, time), one per follow staff who was added through a way with a state."""
    corp, external = str(identity["account"]), str(identity["external_id"])
    events = []
    for follow in identity.get("follow_users") or []:
        state = str(follow.get("state") or "").strip()
        if not state:
            continue
        try:
            added = int(follow.get("added_at") or 0)
        except (TypeError, ValueError):
            added = 0
        at = dt.datetime.fromtimestamp(added, dt.timezone.utc) if added > 0 else utcnow()
        events.append(Inbound(platform="wecom", account=corp, sender=external, kind="event",
                              event="add_external_contact", received_at=at, scene=state[:128],
                              msg_id=f"wecom:add_external_contact:{follow.get('userid') or ''}:{external}:{int(at.timestamp())}",
                              raw={"ChangeType": "add_external_contact", "UserID": str(follow.get("userid") or ""),
                                   "ExternalUserID": external, "State": state, "source": "pull"}))
    return events


def import_contacts(ctx: ServiceContext, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, int]:
    """``to_customers`` pairs as CRM data: each contact linked to the customer holding its external userid
    (or unionid, or its phone), else created through the customer service; its WeCom tags added. A contact new
    to the CRM brings its "contact me" states through the inbox as the callback's add events would
    (``crm_channel_scene``: a ``ref_<code>`` refers it); the inbox stores each event once (a callback that
    brought it already, or a later pull, changes nothing), and a known contact's states are not handed again."""
    from . import inbox

    counts = {"linked": 0, "created": 0, "known": 0}
    for data, identity in pairs:
        corp, external = str(identity["account"]), str(identity["external_id"])
        customer = identities.find_customer(ctx, "wecom_external_userid", external, corp)
        new = customer is None
        if customer is not None:
            counts["known"] += 1
        else:
            customer = (identities.find_customer(ctx, "wechat_unionid", identity["unionid"]) if identity.get("unionid")
                        else None) or _by_phone(ctx, data.get("phone"))
            if customer is not None:
                counts["linked"] += 1
            else:
                customer = create_customer(ctx, data)
                counts["created"] += 1
        missing = [t for t in data.get("tags") or [] if t not in {tag.name for tag in customer.tags}]
        if missing:
            update_customer(ctx, customer.id, {"tags": sorted({t.name for t in customer.tags} | set(missing))})
        with unit_of_work(ctx):
            identities.record(ctx, customer.id, "wecom_external_userid", external, corp, source="channel")
            if identity.get("unionid"):
                identities.record(ctx, customer.id, "wechat_unionid", str(identity["unionid"]), source="channel")
        if new:
            for event in contact_me_events(identity):
                inbox.receive(ctx, event)
    return counts


def wecom_contacts(ctx: ServiceContext) -> dict[str, int]:
    """Pull every external contact of the staff with customer contact (the WeCom channel account)."""
    from .wecom_contact import to_customers
    from .wecom_send import WeComChannel

    if WeComChannel().configured(ctx) is not None:
        return {"linked": 0, "created": 0, "known": 0}
    client = WeComChannel().client(ctx)
    pairs = to_customers(client.pull_contacts(), client.corp_id, client.tag_library(),
                         str(ctx.settings.get("DEFAULT_REGION") or "CN"))
    return import_contacts(ctx, pairs)


def wecom_group_results(ctx: ServiceContext) -> dict[str, int]:
    """The results of the open WeCom group sends, stored as receipts (and marked on marketing's recipients)."""
    from .wecom_send import WeComChannel, group_send_results
    from .wiring import store

    if WeComChannel().configured(ctx) is not None:
        return {"receipts": 0}
    with unit_of_work(ctx):
        new = store(ctx, group_send_results(ctx))
    return {"receipts": new}
