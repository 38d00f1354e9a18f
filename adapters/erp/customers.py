"""The ERP plugin's own records: customers with contacts and addresses, credit limits, and the ERP's
invoices per customer (for the finance panel); stored through the core's services.

Field ownership decides who wins per field (``ownership.decide``): the owner's value wins, an empty
CRM value is filled, an absent ERP value overwrites nothing unless the ERP owns the field and cleared
it, and the value of the side that lost (an edit on both sides) is kept in a ``conflict`` sync issue.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import CRMError
from crmcore.imports.customers import create_new
from crmcore.models import Customer
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as customer_svc
from crmcore.runtime import ServiceContext

from .base import ContactPerson, CreditLimitRecord, CustomerRecord, InvoiceRecord, PostalAddress, SkippableRecordError
from .countries import country_code
from .models import ErpInvoice
from .ownership import MISSING, decide, load_base, save_base, save_bases

CUSTOMER_FIELDS = ("name", "kind", "phone", "email", "website", "currency")


def set_aside_invalid(ctx: ServiceContext, record: CustomerRecord, values: dict[str, Any], invalid: dict[str, Any]) -> dict[str, Any]:
    """Drop values the CRM would refuse (a phone that is no number, a malformed e-mail, a website too long
    for its field: the customer's own rules, ``customers.invalid_values``) into ``invalid``: the customer is
    stored without them and they become the record's ``invalid`` sync issue. A kind the CRM does not know
    is left out silently; a bad name stays, so the record fails with the customer's message."""
    out = dict(values)
    for key in customer_svc.invalid_values(ctx, out):
        if key == "kind":
            out.pop(key, None)
        elif key in out and key != "name":
            invalid[key] = out.pop(key)
    return out


def apply_customer(ctx: ServiceContext, sync: Any, record: CustomerRecord) -> tuple[str, int, str]:
    """Create or update the customer linked to ``record`` with its contacts and addresses."""
    customer_id = sync.resolve("customer", record.external_id)
    if customer_id is None and record.crm_ref:
        known = customer_svc.get_by_code(ctx, record.crm_ref)
        customer_id = known.id if known is not None else None
    invalid: dict[str, Any] = {}
    values = set_aside_invalid(ctx, record, {k: getattr(record, k) for k in CUSTOMER_FIELDS
                                  if getattr(record, k) not in (None, "")}, invalid)
    if customer_id is None:
        data = {**values, "stage": "customer", "source_channel": "erp", "owner_id": sync.default_owner_id}
        if record.code and customer_svc.get_by_code(ctx, record.code) is None:
            data["code"] = record.code
        customer = customer_svc.create_customer(ctx, data)
        save_base(ctx, sync.system, "customer", customer.id, {k: values.get(k) for k in CUSTOMER_FIELDS})
        action = "created"
    else:
        customer = ctx.session.get(Customer, customer_id)
        if customer is None or customer.deleted_at is not None or customer.merged_into_id is not None:
            target = customer.merged_into_id if customer is not None else None
            if target is None:
                raise SkippableRecordError(f"customer {customer_id} linked to {record.external_id} is deleted")
            customer = ctx.session.get(Customer, target)
        base = load_base(ctx, sync.system, "customer", customer.id)
        changes, seen = {}, {}
        for key in CUSTOMER_FIELDS:
            if key not in values and getattr(record, key) not in (None, ""):
                continue  # a value the CRM refuses (a malformed phone): noted as a conflict by set_aside_invalid
            erp_value, crm_value = values.get(key), getattr(customer, key)
            seen[key] = erp_value
            write, conflict = decide(sync.erp_wins("customer", key), crm_value, erp_value, base.get(key, MISSING))
            if write and erp_value is None and not Customer.__table__.c[key].nullable:
                write, conflict = False, False  # a required field is never emptied
            if conflict:
                sync.conflict("customer", customer.id, key, crm_value, erp_value, record.external_id,
                              owner="erp" if write else "crm")
            if write:
                changes[key] = erp_value
        action = "unchanged"
        if changes:
            customer_svc.update_customer(ctx, customer.id, changes)
            action = "updated"
        save_base(ctx, sync.system, "customer", customer.id, seen)
    if _apply_contacts(ctx, sync, customer, record, invalid) and action == "unchanged":
        action = "updated"
    sync.invalid("customer", customer.id, record.external_id, invalid)
    return "customer", customer.id, action


def _contact_data(ctx: ServiceContext, person: ContactPerson, customer_name: str, invalid: dict[str, Any]) -> dict[str, Any]:
    """A contact person as the contact service takes it; values the contact's rules refuse (phones that are
    no number, malformed e-mails, a title too long) are left out, into ``invalid`` (``contact <name>.<field>``:
    the customer's sync issue)."""
    data = _contact_values(person, customer_name)
    for key in contact_svc.invalid_values(ctx, data):
        if key in data and key != "name":
            invalid[f"contact {data['name']}.{key}"] = data.pop(key)
    return data


def _contact_values(person: ContactPerson, customer_name: str) -> dict[str, Any]:
    """A contact person's values as the ERP has them (none left out)."""
    data = {"name": person.name or customer_name, "title": person.title, "phone": person.phone,
            "mobile": person.mobile, "email": person.email}
    return {k: v for k, v in data.items() if v not in (None, "")}


def _address_data(address: PostalAddress, primary: bool, invalid: dict[str, Any]) -> dict[str, Any] | None:
    """An ERP address as the address service takes it, its country as the ISO code (``country_code``: ``CHN``,
    ``China``, ``中国`` are ``CN``; none given is the default, ``CN``). A country that names no country is never
    cut to fit: the address is left out, its value into ``invalid`` (``address <line1>.country``: the customer's
    sync issue) and the address is brought in once the ERP's country is corrected."""
    country = "CN"
    if address.country not in (None, ""):
        code = country_code(str(address.country))
        if code is None:
            invalid[f"address {address.line1}.country"] = address.country
            return None
        country = code
    data = {"line1": address.line1, "line2": address.line2, "city": address.city, "region": address.region,
            "postcode": address.postcode, "country": country, "is_primary": primary}
    return {k: v for k, v in data.items() if v is not None}


def create_new_customers(ctx: ServiceContext, sync: Any, records: list[CustomerRecord],
                         fingerprints: dict[str, str]) -> tuple[list[str], list[CustomerRecord]]:
    """Create the page's new customers together, set-based as ``crm import customers`` creates them
    (``crmcore.imports.customers.create_new``: one INSERT per table, the same checks, derived fields,
    audit rows, outbox rows and events), and link them; return ``(external ids created, records left)``.

    Left for ``apply_customer`` one by one: records already linked, records the CRM knows by code
    (pushed before), the unusual (no name, contact persons or addresses already linked or sharing a
    name or first line), and the records the CRM refuses (an invalid value: ``apply_customer`` stores the
    record without it, noted in its ``invalid`` issue; a refused record becomes its ``rejected`` issue).
    """
    sync.prefetch("contact", [p.external_id for r in records for p in r.contacts])
    sync.prefetch("address", [a.external_id for r in records for a in r.addresses])
    codes = {c for r in records for c in (r.crm_ref, r.code) if c}
    taken = set(ctx.session.scalars(select(Customer.code).where(Customer.code.in_(codes)))) if codes else set()
    new, left, items, invalids = [], [], [], []
    for record in records:
        people = [p.name or record.name for p in record.contacts]
        lines = [a.line1.strip() for a in record.addresses
                 if a.line1 and sync.resolve("address", a.external_id) is None]
        if (sync.resolve("customer", record.external_id) is not None or (record.crm_ref and record.crm_ref in taken)
                or not (record.name or "").strip() or len(set(people)) != len(people)
                or len(set(lines)) != len(lines)
                or any(sync.resolve("contact", p.external_id) is not None for p in record.contacts)):
            left.append(record)
            continue
        invalid: dict[str, Any] = {}
        # the ERP's values as they are: a record the CRM refuses (a phone that is no number) is left for
        # ``apply_customer``, which stores it without them (``set_aside_invalid``); checked once, not twice, per record
        values = {k: getattr(record, k) for k in CUSTOMER_FIELDS if getattr(record, k) not in (None, "")}
        data: dict[str, Any] = {**values, "stage": "customer", "source_channel": "erp",
                                "owner_id": sync.default_owner_id}
        if record.code and record.code not in taken:
            data["code"] = record.code
            taken.add(record.code)
        data["contacts"] = [_contact_values(p, record.name) for p in record.contacts]
        addresses = []
        for source in (a for a in record.addresses if a.line1 and sync.resolve("address", a.external_id) is None):
            address = _address_data(source, not addresses, invalid)
            if address is not None:
                addresses.append((source, address))
        data["addresses"] = [a for _s, a in addresses]
        new.append((record, [s for s, _a in addresses], values))
        items.append(data)
        invalids.append(invalid)
    done = []
    for outcome, (record, addresses, values), item, invalid in zip(create_new(ctx, items), new, items, invalids,
                                                                    strict=True):
        if isinstance(outcome, CRMError):
            left.append(record)  # applied alone: refused again, it becomes the record's sync issue
            continue
        done.append((outcome, record, addresses, values, item))
        if invalid:
            sync.invalid("customer", outcome.id, record.external_id, invalid)
    save_bases(ctx, sync.system, "customer", [(c.id, {k: v.get(k) for k in CUSTOMER_FIELDS})
                                              for c, _r, _a, v, _i in done])
    save_bases(ctx, sync.system, "contact", [(k, given) for c, _r, _a, _v, item in done
                                             for k, given in zip(c.contact_ids, item["contacts"], strict=True)])
    sync.link_new("customer", [(c.id, r.external_id, fingerprints.get(r.external_id)) for c, r, _a, _v, _i in done])
    sync.link_new("contact", [(k, person.external_id, None) for c, r, _a, _v, _i in done
                              for k, person in zip(c.contact_ids, r.contacts, strict=True)])
    sync.link_new("address", [(k, source.external_id, None) for c, _r, addresses, _v, _i in done
                              for k, source in zip(c.address_ids, addresses, strict=True)])
    return [r.external_id for _c, r, _a, _v, _i in done], left


def _apply_contacts(ctx: ServiceContext, sync: Any, customer: Customer, record: CustomerRecord, invalid: dict[str, Any]) -> bool:
    changed = False
    for person in record.contacts:
        data = _contact_data(ctx, person, customer.name, invalid)
        contact_id = sync.resolve("contact", person.external_id)
        if contact_id is None:  # the CRM's own contact of that name (pushed before): link, do not copy
            same = next((c for c in customer.contacts if c.name == data["name"]), None)
            if same is not None:
                sync.link("contact", same.id, person.external_id)
                contact_id = same.id
        if contact_id is None:
            contact = contact_svc.create_contact(ctx, customer.id, data)
            sync.link("contact", contact.id, person.external_id)
            save_base(ctx, sync.system, "contact", contact.id, data)
            changed = True
            continue
        contact = contact_svc.get_contact(ctx, contact_id)
        base = load_base(ctx, sync.system, "contact", contact.id)
        fill = {}
        for key, erp_value in data.items():  # only the ERP's values: an absent one changes nothing
            crm_value = getattr(contact, key)
            write, conflict = decide(sync.erp_wins("contact", key), crm_value, erp_value, base.get(key, MISSING))
            if conflict:
                sync.conflict("contact", contact.id, key, crm_value, erp_value, person.external_id,
                              owner="erp" if write else "crm")
            if write:
                fill[key] = erp_value
        if fill:
            contact_svc.update_contact(ctx, contact.id, fill)
            changed = True
        save_base(ctx, sync.system, "contact", contact.id, data)
    for address in record.addresses:
        if sync.resolve("address", address.external_id) is not None or not address.line1:
            continue  # addresses are the CRM's once linked (contact data)
        same = next((a for a in customer.addresses if a.line1.strip() == address.line1.strip()), None)
        if same is not None:  # the CRM's own address (pushed before): link, do not copy
            sync.link("address", same.id, address.external_id)
            continue
        data = _address_data(address, not customer.addresses, invalid)
        if data is None:
            continue  # its country names no country: in the record's ``invalid`` issue
        created = contact_svc.add_address(ctx, customer.id, data)
        sync.link("address", created.id, address.external_id)
        changed = True
    return changed


def apply_credit_limit(ctx: ServiceContext, sync: Any, record: CreditLimitRecord) -> tuple[str, int, str]:
    customer_id = sync.resolve("customer", record.customer_ref or record.external_id)
    if customer_id is None:
        raise SkippableRecordError(f"customer {record.customer_ref or record.external_id} is not synced yet")
    customer = ctx.session.get(Customer, customer_id)
    base = load_base(ctx, sync.system, "customer", customer_id)
    write, conflict = decide(sync.erp_wins("customer", "credit_limit"), customer.credit_limit, record.credit_limit,
                             base.get("credit_limit", MISSING))
    save_base(ctx, sync.system, "customer", customer_id, {"credit_limit": record.credit_limit})
    if conflict:
        sync.conflict("customer", customer_id, "credit_limit", customer.credit_limit, record.credit_limit,
                      record.external_id, owner="erp" if write else "crm")
    if not write:  # equal, the CRM's, or absent in the ERP (an absent value never overwrites)
        return "credit_limit", customer_id, "unchanged"
    customer_svc.update_customer(ctx, customer_id, {"credit_limit": record.credit_limit})
    return "credit_limit", customer_id, "updated"


def mirror_invoice(ctx: ServiceContext, sync: Any, record: InvoiceRecord) -> str:
    """Keep the ERP's view of an invoice for the finance panel (amount due, overdue); return created, updated
    or unchanged (a payment in the ERP may change the amount due and state here only: an update too)."""
    customer_id = sync.resolve("customer", record.customer_ref)
    if customer_id is None:
        raise SkippableRecordError(f"customer {record.customer_ref} of invoice {record.number} is not synced yet")
    customer = ctx.session.get(Customer, customer_id)
    while customer is not None and customer.merged_into_id is not None:  # merged in the CRM: the winner's panel
        customer_id = customer.merged_into_id
        customer = ctx.session.get(Customer, customer_id)
    row = ctx.session.scalar(select(ErpInvoice).where(ErpInvoice.connection == sync.system,
                                                      ErpInvoice.external_id == record.external_id))
    if row is None:
        row = ErpInvoice(connection=sync.system, external_id=record.external_id)
        ctx.session.add(row)
    values = {"customer_id": customer_id, "number": record.number or record.external_id,
              "invoice_date": record.invoice_date, "due_date": record.due_date,
              "currency": record.currency or ctx.settings["DEFAULT_CURRENCY"], "amount_total": record.amount_total,
              "amount_due": record.amount_due, "state": record.state}
    action = "created" if row.id is None else (
        "updated" if any(getattr(row, k) != v for k, v in values.items()) else "unchanged")
    for key, value in values.items():
        setattr(row, key, value)
    return action


def customer_record(ctx: ServiceContext, customer: Customer, sync: Any, *, creating: bool) -> CustomerRecord:
    """The canonical record of a CRM customer to push; on updates, ERP-owned fields stay None (untouched)."""
    values: dict[str, Any] = {k: getattr(customer, k) for k in CUSTOMER_FIELDS}
    if not creating:
        values = {k: (None if sync.erp_wins("customer", k) else v) for k, v in values.items()}
    from .base import ContactPerson, PostalAddress

    contacts = [ContactPerson(external_id=sync.external_id("contact", c.id) or "", name=c.name, title=c.title,
                              phone=c.phone, mobile=c.mobile, email=c.email) for c in customer.contacts]
    addresses = [PostalAddress(external_id=sync.external_id("address", a.id) or "", line1=a.line1, line2=a.line2,
                               city=a.city, region=a.region, postcode=a.postcode, country=a.country)
                 for a in customer.addresses]
    return CustomerRecord(external_id=sync.external_id("customer", customer.id) or "", code=None,
                          contacts=contacts, addresses=addresses, crm_ref=customer.code,
                          **{k: v for k, v in values.items()})
