"""Contacts and addresses of a customer; each change refreshes the customer's completeness."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..errors import NotFound, ValidationError
from ..events import record_change
from ..models import Address, Contact, Customer
from ..normalize import fold, normalize_email, normalize_phone, tidy
from . import access, listing, search
from .customers import check_version, get_customer, refresh_completeness
from .custom_fields import validate_attributes
from .unit import apply_changes, unit_of_work
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

CONTACT_FIELDS = ("name", "title", "is_primary", "phone", "mobile", "email", "wechat", "qq", "weibo", "other")
ADDRESS_FIELDS = ("kind", "line1", "line2", "city", "region", "postcode", "country", "is_primary")


def _clean_contact(ctx: ServiceContext, data: dict[str, Any], creating: bool) -> dict[str, Any]:
    # stored as given (a name keeps its full-width brackets); a QQ number is an identifier: folded
    data = {k: ((fold(v) if k == "qq" else tidy(v)) if isinstance(v, str) else v) for k, v in data.items()}
    errors: dict[str, list[str]] = {}
    if creating and not data.get("name") or "name" in data and not data.get("name"):
        errors["name"] = [_("A contact needs a name.")]
    region = ctx.settings["DEFAULT_REGION"]
    for key in ("phone", "mobile"):
        if data.get(key) and normalize_phone(data[key], region) is None:
            errors[key] = [_("Not a valid phone number.")]
    if data.get("email") and normalize_email(data["email"]) is None:
        errors["email"] = [_("Not a valid e-mail address.")]
    if data.get("qq") and not str(data["qq"]).isdigit():
        errors["qq"] = [_("A QQ number has digits only.")]
    if errors:
        raise ValidationError(_("The contact is not valid."), errors=errors)
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
    data = _clean_contact(ctx, data, creating=True)
    with unit_of_work(ctx):
        contact = Contact(customer=customer, attributes={})
        changes = apply_changes(contact, data, CONTACT_FIELDS)
        if data.get("attributes"):
            contact.attributes = validate_attributes(ctx, "contact", data["attributes"])
        _derive(ctx, contact)
        ctx.session.add(contact)
        ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=True)
        ctx.session.flush()
        refresh_completeness(ctx, customer)
        record_change(ctx, "contact", "created", contact.id, changes, data={"customer_id": customer.id})
    return contact


def update_contact(ctx: ServiceContext, contact_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                   if_match: bool = False) -> Contact:
    contact = get_contact(ctx, contact_id, permission="customer.write")
    check_version(contact, expected_version, if_match)
    data = _clean_contact(ctx, data, creating=False)
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
    """An address's fields checked (a first line, a two-letter ISO country code), stored as given; only the
    country code is folded."""
    data = {k: ((fold(v) if k == "country" else tidy(v)) if isinstance(v, str) else v) for k, v in data.items()}
    if not data.get("line1"):
        raise ValidationError(_("The address is not valid."), errors={"line1": [_("An address needs a first line.")]})
    if data.get("country") and (len(data["country"]) != 2 or not data["country"].isalpha()):
        raise ValidationError(_("The address is not valid."), errors={"country": [_("Use a two-letter ISO country code.")]})
    if data.get("country"):
        data["country"] = data["country"].upper()
    return data


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
