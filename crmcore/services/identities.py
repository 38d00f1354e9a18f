"""Customer identities: add, remove and find a customer by an id on a messaging platform.

An identity is unique per (platform, account, value): an openid belongs to one customer. The contact fields
WeChat ID, QQ and Weibo feed identities of the contact's customer (``sync_contact``); inbound channel
messages, the unmatched queue and the WeChat OAuth add openids and unionids. Identity resolution
(:mod:`.dedupe`) flags customers sharing an identity value, and a merge moves the loser's identities.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import lazyload

from ..errors import Conflict, NotFound
from ..events import record_change
from ..i18n import _
from ..models import Contact, Customer, CustomerIdentity
from ..models.identity import IDENTITY_LABELS, SCOPED
from ..normalize import fold
from ..schemas.identities import IdentitySchema
from .customers import get_customer
from .unit import unit_of_work
from .validation import load

if TYPE_CHECKING:
    from ..runtime import ServiceContext

_SCHEMA = IdentitySchema()
INVALID = _("The identity is not valid.")
# The contact fields that are identities of the contact's customer.
CONTACT_FIELDS = {"wechat": "wechat_id", "qq": "qq", "weibo": "weibo"}


def label(platform: str) -> str:
    """The words for an identity's platform in the reader's language."""
    return str(IDENTITY_LABELS.get(platform, platform))


def validate_identity(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """An identity's input checked and converted, the one validation of every path: the schema, then an
    account (app id or corp id) for ids scoped by one and none for the others; a QQ number has digits."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        platform = values.get("platform")
        if platform in SCOPED and not values.get("account"):
            errors["account"] = [_("Give the app id or corp id that issued this id.")]
        if platform == "qq" and values.get("value") and not fold(values["value"]).isdigit():
            errors["value"] = [_("A QQ number has digits only.")]
        return errors

    data = load(_SCHEMA, data, partial=False, message=INVALID, check=check)
    if data["platform"] not in SCOPED:
        data["account"] = ""
    data["account"] = data.get("account") or ""
    if data["platform"] == "qq":
        data["value"] = fold(data["value"])
    return data


def _key(platform: str, account: str, value: str) -> Any:
    return and_(CustomerIdentity.platform == platform, CustomerIdentity.account == (account or ""),
                CustomerIdentity.value == value)


def _owner(ctx: ServiceContext, platform: str, account: str, value: str) -> CustomerIdentity | None:
    return ctx.session.scalar(select(CustomerIdentity).where(_key(platform, account, value)))


def add_identity(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> CustomerIdentity:
    """Record an id of a customer; the same id again is a no-op; an id of another customer is a conflict
    naming that customer (merge them if they are one person)."""
    customer = get_customer(ctx, customer_id, permission="customer.write")
    data = validate_identity(ctx, data)
    found = _owner(ctx, data["platform"], data["account"], data["value"])
    if found is not None:
        if found.customer_id == customer.id:
            return found
        other = ctx.session.get(Customer, found.customer_id)
        if other is not None and other.deleted_at is not None:  # a deleted customer's id is free again
            with unit_of_work(ctx):
                found.customer_id, found.source = customer.id, data.get("source") or "manual"
                ctx.session.flush()
                record_change(ctx, "customer", "updated", customer.id,
                              {"identity": [None, f"{label(found.platform)}: {found.value}"]})
            return found
        raise Conflict(_("This %(platform)s is already the customer %(name)s's; merge them if they are one person.",
                         platform=label(data["platform"]), name=other.name if other else found.customer_id))
    with unit_of_work(ctx):
        item = CustomerIdentity(customer_id=customer.id, platform=data["platform"], account=data["account"],
                                value=data["value"], source=data.get("source") or "manual")
        ctx.session.add(item)
        ctx.session.flush()
        record_change(ctx, "customer", "updated", customer.id,
                      {"identity": [None, f"{label(item.platform)}: {item.value}"]})
    return item


def remove_identity(ctx: ServiceContext, identity_id: int, customer_id: int | None = None) -> None:
    """Forget one identity of a customer (of ``customer_id`` when given)."""
    item = ctx.session.get(CustomerIdentity, identity_id)
    if item is None or (customer_id is not None and item.customer_id != customer_id):
        raise NotFound(_("Identity %(id)s does not exist.", id=identity_id))
    get_customer(ctx, item.customer_id, permission="customer.write")
    with unit_of_work(ctx):
        before = f"{label(item.platform)}: {item.value}"
        customer_id = item.customer_id
        ctx.session.delete(item)
        ctx.session.flush()
        record_change(ctx, "customer", "updated", customer_id, {"identity": [before, None]})


def list_identities(ctx: ServiceContext, customer_id: int) -> list[CustomerIdentity]:
    """A customer's identities, by platform."""
    customer = get_customer(ctx, customer_id)
    return list(ctx.session.scalars(select(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id)
                                    .order_by(CustomerIdentity.platform, CustomerIdentity.id)))


def find_customer(ctx: ServiceContext, platform: str, value: str, account: str = "") -> Customer | None:
    """The live customer an identity belongs to (following merges); None when nobody has it. A lookup for
    matching (the inbound pipeline): it does not check the actor's permissions."""
    if platform not in SCOPED:
        account = ""
    # one query (the inbound pipeline runs it per message); the tags load only when used
    customer = ctx.session.scalar(select(Customer).join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                                  .where(_key(platform, account, value)).options(lazyload(Customer.tags)))
    seen = 0
    while customer is not None and customer.merged_into_id is not None and seen < 10:
        customer, seen = ctx.session.get(Customer, customer.merged_into_id), seen + 1
    if customer is None or customer.deleted_at is not None:
        return None
    return customer


def record(ctx: ServiceContext, customer_id: int, platform: str, value: str, account: str = "",
           source: str = "channel") -> CustomerIdentity | None:
    """Record an identity inside the caller's unit of work, without permission checks (the inbound
    pipeline, a contact's fields); None when the id is another live customer's already (a duplicate to
    flag). An id a deleted customer held moves to ``customer_id``."""
    value = (value or "").strip()
    if not value:
        return None
    account = account if platform in SCOPED else ""
    found = _owner(ctx, platform, account, value)
    if found is not None:
        if found.customer_id == customer_id:
            return found
        holder = ctx.session.get(Customer, found.customer_id)
        if holder is None or holder.deleted_at is None:
            return None
        found.customer_id, found.source = customer_id, source
        ctx.session.flush()
        return found
    item = CustomerIdentity(customer_id=customer_id, platform=platform, account=account, value=value[:128],
                            source=source)
    savepoint = ctx.session.begin_nested()
    try:
        ctx.session.add(item)
        ctx.session.flush()
    except Exception:  # noqa: BLE001 - a concurrent insert of the same id: it is someone's now
        savepoint.rollback()
        return None
    savepoint.commit()
    return item


def sync_contact(ctx: ServiceContext, contact: Contact) -> None:
    """Feed a contact's WeChat ID, QQ and Weibo fields to its customer's identities (called on save)."""
    for field, platform in CONTACT_FIELDS.items():
        value = getattr(contact, field, None)
        if value:
            record(ctx, contact.customer_id, platform, fold(value) if platform == "qq" else value, source="contact")


def identity_keys(ctx: ServiceContext, customer: Customer) -> set[tuple[str, str, str]]:
    """A customer's identities as (platform, account, value), with those of its contacts' fields."""
    keys: set[tuple[str, str, str]] = set()
    if customer.id is not None:
        for platform, account, value in ctx.session.execute(
                select(CustomerIdentity.platform, CustomerIdentity.account, CustomerIdentity.value)
                .where(CustomerIdentity.customer_id == customer.id)):
            keys.add((platform, account, value))
    for contact in customer.contacts:
        for field, platform in CONTACT_FIELDS.items():
            value = (getattr(contact, field, None) or "").strip()
            if value:
                keys.add((platform, "", fold(value) if platform == "qq" else value))
    return keys


def customers_sharing(ctx: ServiceContext, keys: set[tuple[str, str, str]]) -> dict[int, set[str]]:
    """Customers with any of the identity ``keys`` (as an identity or in a contact's field): ``{id: {platform}}``."""
    found: dict[int, set[str]] = {}
    if not keys:
        return found
    cond = or_(*(_key(p, a, v) for p, a, v in keys))
    for cid, platform in ctx.session.execute(select(CustomerIdentity.customer_id, CustomerIdentity.platform).where(cond)):
        found.setdefault(cid, set()).add(platform)
    for field, platform in CONTACT_FIELDS.items():
        values = {v for p, a, v in keys if p == platform}
        if values:
            column = getattr(Contact, field)
            for (cid,) in ctx.session.execute(select(Contact.customer_id).where(column.in_(values))):
                found.setdefault(cid, set()).add(platform)
    return found

