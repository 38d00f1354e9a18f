"""The ``customers`` import kind: customers by code with tags, custom fields, a contact and an address, set-based."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError as SchemaError
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..db import utcnow
from ..errors import CRMError, ValidationError
from ..events import record_changes
from ..i18n import _
from ..models import Address, Contact, Customer
from ..models.customer import customer_tags
from ..normalize import fold
from ..services import access
from ..services.completeness import completeness
from ..services.contacts import ADDRESS_FIELDS, CONTACT_FIELDS, _derive, clean_address, validate_contact
from ..services.custom_fields import active_fields, validate_attributes
from ..services.customers import FIELDS, _tags, validate_customer, apply_update, code_taken, derive_fields, get_customer, \
    new_code, refresh_completeness
from ..services.tags import ensure_tags
from ..services.unit import apply_changes, unit_of_work
from ..services.validation import messages_text
from .contract import CREATED, REJECTED, UNCHANGED, UPDATED, Column, ImportKind, ImportOptions, Row, RowResult
from .driver import record, rejected
from .sql import created_changes, insert_rows, row_values, transient

if TYPE_CHECKING:
    from ..runtime import ServiceContext

CONTACT_COLUMNS = ("name", "title", "phone", "mobile", "email", "wechat", "qq", "weibo", "other")
ADDRESS_COLUMNS = ("line1", "line2", "city", "region", "postcode", "country", "kind")


@functools.cache
def _schemas() -> tuple[Any, Any, Any]:
    """The entities' schemas, made on first use (after the API installed the translated messages)."""
    from ..schemas.customers import AddressSchema, ContactSchema, CustomerSchema

    return (CustomerSchema(exclude=("contacts", "addresses")), ContactSchema(exclude=("customer_id",)),
            AddressSchema())


def split_tags(value: str) -> list[str]:
    """Tag names from one cell: separated by ``;`` (or ``；`` or ``,``)."""
    return [t.strip() for t in value.replace("；", ";").replace(",", ";").split(";") if t.strip()]


def from_cells(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV record to a customer row: empty cells dropped, ``tags`` split, ``attr.<name>`` into the
    custom attributes, ``contact.<field>`` into one contact and ``address.<field>`` into one address."""
    data: dict[str, Any] = {}
    parts: dict[str, dict[str, str]] = {"attributes": {}, "contact": {}, "address": {}}
    for key, value in cells.items():
        if not value:
            continue
        prefix, dot, rest = key.partition(".")
        if dot and prefix in ("attr", "attributes"):
            parts["attributes"][rest] = value
        elif dot and prefix in ("contact", "address"):
            parts[prefix][rest] = value
        elif key == "tags":
            data["tags"] = split_tags(value)
        else:
            data[key] = value
    if parts["attributes"]:
        data["attributes"] = parts["attributes"]
    if parts["contact"]:
        data["contacts"] = [parts["contact"]]
    if parts["address"]:
        data["addresses"] = [parts["address"]]
    return data


def _children(raw: dict[str, Any], name: str, singular: str, schema: Any, clean: Any) -> list[dict[str, Any]]:
    """The row's contacts or addresses, each loaded by its schema and checked by its service's validation;
    errors named ``contact.<field>`` (one) or ``contacts.<n>.<field>`` (several)."""
    items = raw.get(name) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationError(_("The customer is not valid."), errors={name: [_("Must be a list of objects.")]})
    out = []
    for n, item in enumerate(items):
        where = singular if len(items) == 1 else f"{name}.{n}"
        try:
            out.append(clean(schema.load(item)))
        except SchemaError as exc:
            raise ValidationError(_("The customer is not valid."),
                                  errors={f"{where}.{k}": v for k, v in messages_text(exc.messages_dict).items()}) from None
        except ValidationError as exc:
            raise ValidationError(exc.message, errors={f"{where}.{k}": v for k, v in exc.errors.items()}) from None
    return out


class Profile:
    """A new customer seen with its contacts, addresses and tags, for the completeness score."""

    def __init__(self, customer: Customer, contacts: list[Any], addresses: list[Any], tags: list[Any]) -> None:
        self._customer, self.contacts, self.addresses, self.tags = customer, contacts, addresses, tags

    def __getattr__(self, name: str) -> Any:
        return getattr(self._customer, name)


def load(ctx: ServiceContext, rows: list[Row], options: ImportOptions) -> list[RowResult]:
    """Validate and write one batch of customer rows (see :data:`crmcore.imports.Loader`)."""
    ctx.require("customer.write")
    session = ctx.session
    customer_schema, contact_schema, address_schema = _schemas()
    results: list[RowResult | None] = [None] * len(rows)
    codes = {i: fold(raw["code"]) for i, (_line, raw) in enumerate(rows) if isinstance(raw.get("code"), str)}
    existing: dict[str, Customer] = {}
    if any(codes.values()):
        stmt = (select(Customer).where(Customer.code.in_({c for c in codes.values() if c}))
                .options(selectinload(Customer.contacts), selectinload(Customer.addresses)))
        existing = {c.code: c for c in session.scalars(stmt)}
    fields = active_fields(ctx, "customer")
    updates: list[tuple[int, Customer, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []
    news: list[tuple[int, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []
    for i, (line, raw) in enumerate(rows):
        try:
            plain = {k: v for k, v in raw.items() if k not in ("contacts", "addresses")}
            found = existing.get(codes.get(i) or "")
            if found is not None:
                if not options.update:
                    raise ValidationError(_("A customer with this code exists."), errors={"code": [_("Already exists.")]})
                customer = get_customer(ctx, found.id, permission="customer.write")  # deleted, merged, out of scope
                data = customer_schema.load(plain, partial=True)
                data.pop("code", None)  # the key that found it
                data = validate_customer(ctx, data, customer)
                if "owner_id" in data and data["owner_id"] != customer.owner_id:
                    access.may_assign_owner(ctx, data["owner_id"])
                contacts = _children(raw, "contacts", "contact", contact_schema,
                                     lambda d: validate_contact(ctx, d, None))
                addresses = _children(raw, "addresses", "address", address_schema, clean_address)
                updates.append((i, customer, data, contacts, addresses))
                continue
            data = customer_schema.load(plain)
            code = data.pop("code", None)
            if code is not None and not fold(code):
                raise ValidationError(_("The customer is not valid."), errors={"code": [_("This field cannot be empty.")]})
            data = validate_customer(ctx, data, None)
            data["code"] = fold(code) if code is not None else new_code()
            if "owner_id" not in data and ctx.actor is not None:
                data["owner_id"] = ctx.actor.id
            access.may_assign_owner(ctx, data.get("owner_id"))
            data["attributes"] = validate_attributes(ctx, "customer", data.get("attributes"), fields=fields)
            contacts = _children(raw, "contacts", "contact", contact_schema,
                                 lambda d: validate_contact(ctx, d, None))
            addresses = _children(raw, "addresses", "address", address_schema, clean_address)
            news.append((i, data, contacts, addresses))
        except SchemaError as exc:
            results[i] = RowResult(line, REJECTED, key=raw.get("code"), errors=messages_text(exc.messages_dict))
        except CRMError as exc:
            results[i] = rejected(line, raw.get("code"), exc)
    names = [n for _i, data, *_rest in news + [(u[0], u[2]) for u in updates] for n in data.get("tags") or ()]
    tags = ensure_tags(ctx, [fold(n) for n in names])  # one query (and one insert) for the batch's tags
    entries: list[Any] = []
    _update(ctx, rows, updates, tags, fields, results, entries)
    new_codes = {i: data["code"] for i, data, *_rest in news}
    for i, outcome in _create(ctx, news, tags, fields, entries).items():
        line = rows[i][0]
        results[i] = (rejected(line, new_codes[i], outcome) if isinstance(outcome, CRMError)
                      else RowResult(line, CREATED, outcome.id, outcome.code))
    record(ctx, options, entries)
    return [r for r in results if r is not None]


@dataclass
class NewCustomer:
    """A customer :func:`create_new` wrote: its id and code, and its contacts' and addresses' ids in the order given."""

    id: int
    code: str
    contact_ids: list[int]
    address_ids: list[int]


def create_new(ctx: ServiceContext, items: list[dict[str, Any]]) -> list[NewCustomer | CRMError]:
    """Create new customers set-based, as ``crm import customers`` creates them: one INSERT per table for all.

    Each item is the data of ``customers.create_customer`` plus optional ``contacts`` and ``addresses``
    (lists of the data of ``contacts.create_contact`` and ``contacts.add_address``). Each gets the same
    validation, derived fields, ``crm_before_save`` calls, completeness, audit entries, outbox rows (for
    ``ctx.source``) and events as one by one. Per item, in order: its :class:`NewCustomer`, or the error
    that refused it (nothing of it written; a code held by another customer, or by an earlier item, is
    refused too). A unit of work: inside the caller's, it joins it; alone, it commits. A clash the
    database finds (a code another transaction wrote meanwhile) raises ``Conflict`` and writes nothing."""
    ctx.require("customer.write")
    outcomes: dict[int, NewCustomer | CRMError] = {}
    fields = active_fields(ctx, "customer")
    plain_attributes: dict[str, Any] | CRMError
    try:  # the same for every item without attributes (a required custom field refuses them all)
        plain_attributes = validate_attributes(ctx, "customer", None, fields=fields)
    except CRMError as exc:
        plain_attributes = exc
    codes = {fold(c) for item in items if isinstance(c := item.get("code"), str)} - {""}
    taken: dict[str, Customer | None] = ({c.code: c for c in ctx.session.scalars(select(Customer).where(
        Customer.code.in_(codes)))} if codes else {})
    news: list[tuple[int, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []
    for i, item in enumerate(items):
        try:
            data = validate_customer(ctx, {k: v for k, v in item.items() if k not in ("code", "contacts", "addresses")},
                                     None)
            data["code"] = _free_code(ctx, item, taken)
            if "owner_id" not in data and ctx.actor is not None:
                data["owner_id"] = ctx.actor.id
            access.may_assign_owner(ctx, data.get("owner_id"))
            if data.get("attributes"):
                data["attributes"] = validate_attributes(ctx, "customer", data["attributes"], fields=fields)
            elif isinstance(plain_attributes, CRMError):
                raise plain_attributes
            else:
                data["attributes"] = dict(plain_attributes)
            contacts = _checked(item, "contacts", lambda d: validate_contact(ctx, d, None))
            addresses = _checked(item, "addresses", clean_address)
            news.append((i, data, contacts, addresses))
        except CRMError as exc:
            outcomes[i] = exc
    names = [n for _i, data, *_rest in news for n in data.get("tags") or ()]
    tags = ensure_tags(ctx, [fold(n) for n in names]) if names else {}
    entries: list[Any] = []
    with unit_of_work(ctx):  # a code written meanwhile by another transaction: Conflict, nothing written
        outcomes.update(_create(ctx, news, tags, fields, entries))
        if entries:
            record_changes(ctx, entries)
    return [outcomes[i] for i in range(len(items))]


def _free_code(ctx: ServiceContext, item: dict[str, Any], taken: dict[str, Customer | None]) -> str:
    """The item's code, folded, checked as ``validate_customer`` checks it (held by no other customer, nor
    by an earlier item of the batch: ``taken`` is updated), or a new one when the item has none."""
    if "code" not in item:
        return new_code()
    code = fold(item["code"]) if isinstance(item["code"], str) else ""
    if not code:
        raise ValidationError(_("The customer is not valid."), errors={"code": [_("This field cannot be empty.")]})
    if code in taken:
        other = taken[code]
        message = code_taken(ctx, code, other) if other is not None else _("Already exists.")
        raise ValidationError(_("The customer is not valid."), errors={"code": [message]})
    taken[code] = None
    return code


def _checked(item: dict[str, Any], name: str, check: Any) -> list[dict[str, Any]]:
    """An item's contacts or addresses, each checked by its service's validation; errors named ``<name>.<n>.<field>``."""
    out = []
    for n, child in enumerate(item.get(name) or ()):
        try:
            out.append(check(child))
        except ValidationError as exc:
            raise ValidationError(exc.message, errors={f"{name}.{n}.{k}": v for k, v in exc.errors.items()}) from None
    return out


def _update(ctx: ServiceContext, rows: list[Row], updates: list[Any], tags: dict[str, Any], fields: list[Any],
            results: list[RowResult | None], entries: list[Any]) -> None:
    """Existing customers: the service's own update (``apply_update``), one flush for the batch; a given
    contact updates the customer's contact of that name (else is added), an address likewise by first line."""
    touched: list[tuple[int, Customer, dict[str, Any], list[Any]]] = []
    for i, customer, data, contacts, addresses in updates:
        try:
            with ctx.session.no_autoflush:
                changes = apply_update(ctx, customer, data, tags=tags, fields=fields)
                children = _merge_children(ctx, customer, contacts, addresses)
                if children:
                    refresh_completeness(ctx, customer, fields)
            touched.append((i, customer, changes, children))
        except CRMError as exc:
            for obj in [o for o in ctx.session.new if getattr(o, "customer", None) is customer]:
                ctx.session.expunge(obj)  # a contact or address added for the rejected row
            ctx.session.expire(customer)  # drop what was set on it
            results[i] = rejected(rows[i][0], customer.code, exc)
    ctx.session.flush()
    for i, customer, changes, children in touched:
        if changes:
            entries.append(("customer", "updated", customer.id, changes, None))
        for entity, action, obj, obj_changes in children:
            entries.append((entity, action, obj.id, obj_changes, {"customer_id": customer.id}))
        status = UPDATED if changes or children else UNCHANGED
        results[i] = RowResult(rows[i][0], status, customer.id, customer.code)


def _merge_children(ctx: ServiceContext, customer: Customer, contacts: list[dict[str, Any]], addresses: list[dict[str, Any]]
                    ) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """Contacts and addresses of an existing customer's row: matched by name / first line, changed or added."""
    out: list[tuple[str, str, Any, dict[str, Any]]] = []
    for cdata in contacts:
        match = next((c for c in customer.contacts if fold(c.name).casefold() == fold(cdata["name"]).casefold()), None)
        contact = match or Contact(attributes={})
        if match is None:
            customer.contacts.append(contact)  # into the session along the customer's collection
        changes = apply_changes(contact, cdata, CONTACT_FIELDS)
        if cdata.get("attributes"):
            after = validate_attributes(ctx, "contact", cdata["attributes"], dict(contact.attributes or {}), partial=True)
            if after != contact.attributes:
                changes["attributes"] = [contact.attributes, after]
                contact.attributes = after
        if changes:
            _derive(ctx, contact)
            ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=match is None)
            out.append(("contact", "updated" if match else "created", contact, changes))
    for adata in addresses:
        same = next((a for a in customer.addresses if fold(a.line1).casefold() == fold(adata["line1"]).casefold()), None)
        address = same or Address()
        if same is None:
            customer.addresses.append(address)
        changes = apply_changes(address, adata, ADDRESS_FIELDS)
        if changes:
            ctx.hook.crm_before_save(ctx=ctx, entity="address", obj=address, changes=changes, created=same is None)
            out.append(("address", "updated" if same else "created", address, changes))
    return out


def _create(ctx: ServiceContext, news: list[Any], tags: dict[str, Any], fields: list[Any], entries: list[Any]
            ) -> dict[int, NewCustomer | CRMError]:
    """New customers: built and checked as ``create_customer`` builds them (derived fields, tags,
    ``crm_before_save``, completeness), then written with one INSERT per table for the batch; per
    position, what was written or the error that refused it. Their audit and outbox ``entries`` are added."""
    outcomes: dict[int, NewCustomer | CRMError] = {}
    now = utcnow()
    currency = ctx.settings["DEFAULT_CURRENCY"]
    built: list[tuple[int, Customer, dict[str, Any], list[Any], list[Any], list[Any]]] = []
    for i, data, contacts, addresses in news:
        try:
            values = {k: data[k] for k in FIELDS if k in data}
            customer = transient(Customer, **{"currency": currency, **values, "attributes": data["attributes"]})
            changes = created_changes(values)
            if data["attributes"]:
                changes["attributes"] = [None, data["attributes"]]
            tag_list = _tags(ctx, data.get("tags") or [], tags)
            if tag_list:
                set_committed_value(customer, "tags", tag_list)  # seen by the hooks; written below, not flushed
                changes["tags"] = [None, [t.name for t in tag_list]]
            derive_fields(ctx, customer)
            ctx.hook.crm_before_save(ctx=ctx, entity="customer", obj=customer, changes=changes, created=True)
            new_contacts = []
            for cdata in contacts:
                cvalues = {k: cdata[k] for k in CONTACT_FIELDS if k in cdata}
                contact = transient(Contact, **cvalues, attributes={})
                cchanges = created_changes(cvalues)
                if cdata.get("attributes"):
                    contact.attributes = validate_attributes(ctx, "contact", cdata["attributes"])
                _derive(ctx, contact)
                ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=cchanges, created=True)
                new_contacts.append((contact, cchanges))
            new_addresses = []
            for adata in addresses:
                avalues = {k: adata[k] for k in ADDRESS_FIELDS if k in adata}
                address = transient(Address, **avalues)
                achanges = created_changes(avalues)
                ctx.hook.crm_before_save(ctx=ctx, entity="address", obj=address, changes=achanges, created=True)
                new_addresses.append((address, achanges))
            profile = Profile(customer, [c for c, _ch in new_contacts], [a for a, _ch in new_addresses], tag_list)
            customer.completeness = completeness(profile, fields, labels=False)[0]
            built.append((i, customer, changes, new_contacts, new_addresses, tag_list))
        except CRMError as exc:
            outcomes[i] = exc
    table = Customer.__table__
    ids = insert_rows(ctx, table, [row_values(c, table, now) for _i, c, *_rest in built])
    contact_rows, address_rows, tag_rows = [], [], []
    for (_i, _c, _ch, contacts, addresses, tag_list), cid in zip(built, ids, strict=True):
        contact_rows += [row_values(c, Contact.__table__, now, customer_id=cid) for c, _cc in contacts]
        address_rows += [row_values(a, Address.__table__, now, customer_id=cid) for a, _ac in addresses]
        tag_rows += [{"customer_id": cid, "tag_id": t.id} for t in tag_list]
    contact_ids = iter(insert_rows(ctx, Contact.__table__, contact_rows))
    address_ids = iter(insert_rows(ctx, Address.__table__, address_rows))
    insert_rows(ctx, customer_tags, tag_rows, returning=False)
    for (i, customer, changes, contacts, addresses, _t), cid in zip(built, ids, strict=True):
        written = NewCustomer(cid, customer.code, [next(contact_ids) for _c in contacts],
                              [next(address_ids) for _a in addresses])
        entries.append(("customer", "created", cid, changes, None))
        entries += [("contact", "created", k, cc, {"customer_id": cid})
                    for k, (_c, cc) in zip(written.contact_ids, contacts, strict=True)]
        entries += [("address", "created", k, ac, {"customer_id": cid})
                    for k, (_a, ac) in zip(written.address_ids, addresses, strict=True)]
        outcomes[i] = written
    return outcomes


def _key(row: dict[str, Any]) -> str | None:
    code = row.get("code")
    return fold(code) or None if isinstance(code, str) else None


KIND = ImportKind(
    name="customers", label=_("Customers"), permission="customer.import", key="code", entity="customer",
    columns=(
        Column("code", _("Unique code: a row whose code exists updates that customer; generated when empty")),
        Column("name", _("Name; required for a new customer"), required=True),
        Column("kind", _("organization (default) or person")),
        Column("stage", _("lead (default), prospect, customer or inactive")),
        Column("level", _("Level, e.g. A, B, VIP")),
        Column("source_channel", _("Where the customer came from")),
        Column("industry", _("Industry")),
        Column("website", _("Website")),
        Column("phone", _("Phone number in any format; stored with its E.164 form (+86 by default)")),
        Column("email", _("E-mail address")),
        Column("credit_limit", _("Credit limit, a non-negative amount")),
        Column("currency", _("Three-letter ISO 4217 code (default: the CRM's currency)")),
        Column("notes", _("Notes")),
        Column("owner_id", _("Id of the owning user (default: whoever imports)")),
        Column("tags", _("Tag names separated by ';'")),
        *(Column(f"contact.{f}", _("A contact of the customer: %(field)s", field=f)) for f in CONTACT_COLUMNS),
        *(Column(f"address.{f}", _("An address of the customer: %(field)s", field=f)) for f in ADDRESS_COLUMNS),
    ),
    load=load, prefixes=("attr.",), extra_keys=("attributes", "contacts", "addresses"), convert=from_cells,
    key_of=_key,
)
