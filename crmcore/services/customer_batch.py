"""Creating many customers at once (imports, ERP syncs) with one flush instead of several per customer.

Each customer, contact and address gets the same checks, derived fields, ``crm_before_save`` call,
audit entry, outbox rows and event as ``customers.create_customer``, ``contacts.create_contact``
and ``contacts.add_address`` would give it one by one.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import select

from ..errors import ValidationError
from ..events import record_changes
from ..i18n import _
from ..models import Address, Contact, Customer
from ..normalize import fold
from . import access
from .completeness import completeness
from .contacts import ADDRESS_FIELDS, CONTACT_FIELDS, _derive, clean_address, validate_contact
from .custom_fields import active_fields, validate_attributes
from .customers import build_customer, code_taken, validate_customer
from .unit import apply_changes, unit_of_work

if TYPE_CHECKING:
    from ..runtime import ServiceContext

def _check_codes(ctx: ServiceContext, items: list[dict[str, Any]]) -> list[str | None]:
    """The items' codes, folded and checked as ``customers.validate_customer`` does, with one query for all."""
    codes: list[str | None] = []
    for item in items:
        if "code" not in item:
            codes.append(None)
            continue
        code = fold(item["code"]) if item["code"] is not None else ""
        if not code:
            raise ValidationError(_("The customer is not valid."), errors={"code": [_("This field cannot be empty.")]})
        codes.append(code)
    wanted = [c for c in codes if c is not None]
    used = {c.code: c for c in ctx.session.scalars(select(Customer).where(Customer.code.in_(wanted)))} \
        if wanted else {}
    for code in wanted:
        if code in used:
            raise ValidationError(_("The customer is not valid."), errors={"code": [code_taken(ctx, code, used[code])]})
    return codes


def create_customers(ctx: ServiceContext, items: list[dict[str, Any]]) -> list[Customer]:
    """Create customers, each item the data of ``create_customer`` plus optional ``contacts`` and
    ``addresses`` (lists of the data of ``create_contact`` and ``add_address``); return them in order.

    All or nothing: the first invalid item raises its ``ValidationError`` (a clash found on insert,
    e.g. two items with one code, raises ``Conflict``) and nothing is written; create the items one
    by one to find and skip the bad ones.
    """
    ctx.require("customer.write")
    if not items:
        return []
    created: list[tuple[Customer, dict[str, Any], list[tuple[Contact, dict[str, Any]]],
                        list[tuple[Address, dict[str, Any]]]]] = []
    with unit_of_work(ctx):
        with ctx.session.no_autoflush:  # the checks' queries must not flush half-built rows
            fields = active_fields(ctx, "customer")
            plain_attributes = validate_attributes(ctx, "customer", None)  # the same for every item without any
            codes = _check_codes(ctx, items)
            tags: dict[str, Any] = {}  # new tags named by several items are created once
            for item, code in zip(items, codes, strict=True):
                data = {k: v for k, v in item.items() if k not in ("contacts", "addresses", "code")}
                data = validate_customer(ctx, data, None)  # as create_customer's, the code checked for all at once above
                if code is not None:
                    data["code"] = code
                if "owner_id" not in data and ctx.actor is not None:
                    data["owner_id"] = ctx.actor.id
                access.may_assign_owner(ctx, data.get("owner_id"))
                customer, changes = build_customer(
                    ctx, data, None if data.get("attributes") else dict(plain_attributes), tags)
                contacts = []
                for raw in item.get("contacts") or ():
                    cdata = validate_contact(ctx, raw, None)
                    contact = Contact(customer=customer, attributes={})
                    cchanges = apply_changes(contact, cdata, CONTACT_FIELDS)
                    if cdata.get("attributes"):
                        contact.attributes = validate_attributes(ctx, "contact", cdata["attributes"])
                    _derive(ctx, contact)
                    ctx.session.add(contact)
                    ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=cchanges, created=True)
                    contacts.append((contact, cchanges))
                addresses = []
                for raw in item.get("addresses") or ():
                    adata = clean_address(raw)
                    address = Address(customer=customer)
                    achanges = apply_changes(address, adata, ADDRESS_FIELDS)
                    ctx.session.add(address)
                    ctx.hook.crm_before_save(ctx=ctx, entity="address", obj=address, changes=achanges, created=True)
                    addresses.append((address, achanges))
                customer.completeness = completeness(customer, fields, labels=False)[0]
                created.append((customer, changes, contacts, addresses))
        ctx.session.flush()  # the batch's rows in one flush (they need their ids for the audit)
        entries: list[tuple[str, str, Any, dict[str, Any] | None, dict[str, Any] | None]] = []
        for customer, changes, contacts, addresses in created:
            changes["code"] = [None, customer.code]
            entries.append(("customer", "created", customer.id, changes, None))
            entries += [("contact", "created", contact.id, cchanges, {"customer_id": customer.id})
                        for contact, cchanges in contacts]
            entries += [("address", "created", address.id, achanges, {"customer_id": customer.id})
                        for address, achanges in addresses]
        record_changes(ctx, entries)  # audit entries and outbox rows in one INSERT each
    return [c for c, *_rest in created]
