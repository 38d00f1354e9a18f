"""Contacts and addresses of a customer; each change refreshes the customer's completeness."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..errors import NotFound
from ..events import record_change
from ..models import Address, Contact, Customer
from ..normalize import fold, normalize_email, normalize_phone
from . import access, identities, listing, search
from ..schemas.customers import AddressSchema, ContactSchema
from .customers import check_version, get_customer, refresh_completeness
from .custom_fields import validate_attributes
from .unit import apply_changes, unit_of_work
from .validation import invalid_fields, load
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

CONTACT_FIELDS = ("name", "title", "is_primary", "phone", "mobile", "email", "wechat", "qq", "weibo", "other")
_CONTACT = ContactSchema(exclude=("customer_id",))
_ADDRESS = AddressSchema()
ADDRESS_FIELDS = ("kind", "line1", "line2", "city", "region", "postcode", "country", "is_primary")


def _phone_errors(ctx: ServiceContext, values: dict[str, Any]) -> dict[str, list[Any]]:
    region = ctx.settings["DEFAULT_REGION"]
    return {key: [_("Not a valid phone number.")] for key in ("phone", "mobile")
            if values.get(key) and normalize_phone(values[key], region) is None}


def invalid_values(ctx: ServiceContext, values: dict[str, Any]) -> dict[str, list[str]]:
    """Which of ``values`` (contact fields, e.g. from an ERP) the CRM would refuse, and why: the rules of
    :func:`validate_contact`, field by field."""
    return invalid_fields(_CONTACT, values, lambda loaded: _phone_errors(ctx, loaded))


def validate_contact(ctx: ServiceContext, data: dict[str, Any], existing: Contact | None) -> dict[str, Any]:
    """A contact's input checked and converted, the one validation every path shares: the fields by
    ``ContactSchema`` (all for a new contact, those given for ``existing``), then phone numbers of the
    region. A QQ number is an identifier: folded (full-width digits to ASCII)."""
    data = load(_CONTACT, data, partial=existing is not None, message=_("The contact is not valid."),
                check=lambda values: _phone_errors(ctx, values))
    if data.get("qq"):
        data["qq"] = fold(data["qq"])
    return data


def _derive(ctx: ServiceContext, contact: Contact) -> None:
    region = ctx.settings["DEFAULT_REGION"]
    contact.phone_normalized = normalize_phone(contact.phone, region)
    contact.mobile_normalized = normalize_phone(contact.mobile, region)
    contact.email_normalized = normalize_email(contact.email)


def get_contact(ctx: ServiceContext, contact_id: int, permission: str = "customer.read") -> Contact:
    contact = ctx.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(_("Contact %(id)s does not exist.", id=contact_id))
    get_customer(ctx, contact.customer_id, permission=permission)
    return contact


def list_contacts(ctx: ServiceContext, *, customer_id: int | None = None, q: str | None = None, page: int = 1,
                  page_size: int = 25, cursor: str | None = None) -> listing.ListPage:
    """The contacts of customers the actor may see, oldest first; by keyset from ``cursor``."""
    ctx.require("customer.read")
    visible = access.scope_customers(ctx, select(Customer.id).where(Customer.deleted_at.is_(None),
                                                                    Customer.merged_into_id.is_(None)))
    stmt = select(Contact).where(Contact.customer_id.in_(visible))
    if customer_id is not None:
        stmt = stmt.where(Contact.customer_id == customer_id)
    if q:
        stmt = stmt.where(Contact.id.in_(search.contact_ids(ctx, q)))
    return listing.list_page(ctx, stmt, name="contacts", keys=[listing.Key(Contact.id)], cursor=cursor, page=page,
                             page_size=page_size)


def create_contact(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> Contact:
    customer = get_customer(ctx, customer_id, permission="customer.write")
    data = validate_contact(ctx, data, None)
    with unit_of_work(ctx):
        contact = Contact(customer=customer, attributes={})
        changes = apply_changes(contact, data, CONTACT_FIELDS)
        if data.get("attributes"):
            contact.attributes = validate_attributes(ctx, "contact", data["attributes"])
        _derive(ctx, contact)
        ctx.session.add(contact)
        ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=True)
        ctx.session.flush()
        identities.sync_contact(ctx, contact)
        refresh_completeness(ctx, customer)
        record_change(ctx, "contact", "created", contact.id, changes, data={"customer_id": customer.id})
    return contact


def update_contact(ctx: ServiceContext, contact_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                   if_match: bool = False) -> Contact:
    contact = get_contact(ctx, contact_id, permission="customer.write")
    check_version(contact, expected_version, if_match)
    data = validate_contact(ctx, data, contact)
    with unit_of_work(ctx):
        changes = apply_changes(contact, data, CONTACT_FIELDS)
        if "attributes" in data:
            before = dict(contact.attributes or {})
            after = validate_attributes(ctx, "contact", data["attributes"], before, partial=True)
            if after != before:
                contact.attributes = after
                changes["attributes"] = [before, after]
        if not changes:
            return contact
        _derive(ctx, contact)
        ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=False)
        ctx.session.flush()
        identities.sync_contact(ctx, contact)
        refresh_completeness(ctx, contact.customer)
        record_change(ctx, "contact", "updated", contact.id, changes, data={"customer_id": contact.customer_id})
    return contact


def delete_contact(ctx: ServiceContext, contact_id: int) -> None:
    contact = get_contact(ctx, contact_id, permission="customer.write")
    customer = contact.customer
    with unit_of_work(ctx):
        ctx.hook.crm_before_delete(ctx=ctx, entity="contact", obj=contact)
        snapshot = {f: getattr(contact, f) for f in CONTACT_FIELDS}
        ctx.session.delete(contact)
        ctx.session.flush()
        ctx.session.expire(customer, ["contacts"])
        refresh_completeness(ctx, customer)
        record_change(ctx, "contact", "deleted", contact_id, {k: [v, None] for k, v in snapshot.items() if v},
                      data={"customer_id": customer.id})


def clean_address(data: dict[str, Any]) -> dict[str, Any]:
    """A new address's input checked by ``AddressSchema`` (a first line, a two-letter ISO country code),
    the one validation every path shares; stored as given, only the country code folded."""
    return load(_ADDRESS, data, partial=False, message=_("The address is not valid."))


def add_address(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> Address:
    customer = get_customer(ctx, customer_id, permission="customer.write")
    data = clean_address(data)
    with unit_of_work(ctx):
        address = Address(customer=customer)
        changes = apply_changes(address, data, ADDRESS_FIELDS)
        ctx.session.add(address)
        ctx.hook.crm_before_save(ctx=ctx, entity="address", obj=address, changes=changes, created=True)
        ctx.session.flush()
        refresh_completeness(ctx, customer)
        record_change(ctx, "address", "created", address.id, changes, data={"customer_id": customer.id})
    return address


def delete_address(ctx: ServiceContext, address_id: int, customer_id: int | None = None) -> None:
    address = ctx.session.get(Address, address_id)
    if address is None or (customer_id is not None and address.customer_id != customer_id):
        raise NotFound(_("Address %(id)s does not exist.", id=address_id))
    customer = get_customer(ctx, address.customer_id, permission="customer.write")
    with unit_of_work(ctx):
        ctx.hook.crm_before_delete(ctx=ctx, entity="address", obj=address)
        snapshot = {f: getattr(address, f) for f in ADDRESS_FIELDS}
        ctx.session.delete(address)
        ctx.session.flush()
        ctx.session.expire(customer, ["addresses"])
        refresh_completeness(ctx, customer)
        record_change(ctx, "address", "deleted", address_id, {k: [v, None] for k, v in snapshot.items() if v},
                      data={"customer_id": customer.id})


def first_address(column: Any, dialect: str) -> Any:
    """SQL: ``column`` of each customer's first address (the primary, else the lowest id) as a subquery with
    columns ``key`` (the customer's id) and ``value``, one row per customer: what a correlated
    ``ORDER BY is_primary DESC, id LIMIT 1`` reads, computed once for a join.

    Written per engine, as each plans it best at 10M joined rows (``bench/reports.py --full``). PostgreSQL: the
    address picked by an aggregate (the lowest primary id, else the lowest id), its key read from the address
    row; a join on an aggregate runs in parallel, on a window function (``row_number``) not, which made the
    report twice as slow as the hand-written query. SQLite: the window, materialised once and searched by an
    automatic index; the aggregate's join was scanned once per joined row."""
    from sqlalchemy import case, func

    if dialect == "postgresql":
        pick = select(Address.customer_id.label("key"),
                      func.coalesce(func.min(case((Address.is_primary, Address.id))),
                                    func.min(Address.id)).label("id")).group_by(Address.customer_id).subquery()
        chosen = Address.__table__.alias("first_address")
        # the key read from the address row itself: PostgreSQL estimates the join from that column's statistics
        # (from the aggregate's output it has none, and hashed every order joined to its address first)
        return select(chosen.c.customer_id.label("key"), chosen.c[column.expression.name].label("value")).join(
            pick, chosen.c.id == pick.c.id).subquery()
    ranked = select(Address.customer_id.label("key"), column.label("value"),
                    func.row_number().over(partition_by=Address.customer_id,
                                           order_by=(Address.is_primary.desc(), Address.id)).label("rank")).subquery()
    return select(ranked.c.key, ranked.c.value).where(ranked.c.rank == 1).subquery()
