"""Customers: create, update, delete, search, tags and the timeline, with record rules."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import lazyload

from ..db import mapped_columns, utcnow
from ..errors import Conflict, NotFound, PreconditionFailed, ValidationError
from ..events import record_change, record_new
from ..models import Address, Contact, Customer, Interaction, Tag, User, customer_tags
from ..normalize import company_key, fold, normalize_email, normalize_phone, search_text
from ..schemas.common import SEARCH_MAX
from . import access, listing, search
from ..schemas.customers import CustomerSchema
from .completeness import completeness
from .custom_fields import active_fields, validate_attributes
from .tags import ensure_tags
from .unit import apply_changes, unit_of_work
from .validation import invalid_fields, load
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

FIELDS = ("code", "name", "kind", "stage", "level", "source_channel", "industry", "website", "phone",
          "email", "credit_limit", "currency", "notes", "owner_id")
_SCHEMA = CustomerSchema(exclude=("contacts", "addresses"))
SORTABLE = {"name", "code", "created_at", "updated_at", "stage", "completeness", "level", "id"}


def _visible(stmt: Any) -> Any:
    return stmt.where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))


def new_code() -> str:
    return "C" + secrets.token_hex(4).upper()


# One customer: its owner and tags are read when used (a lazy load is a cheaper statement than the list's eager
# join and IN query, and the access check needs only owner_id).
_ONE = (lazyload(Customer.owner), lazyload(Customer.tags))


def get_customer(ctx: ServiceContext, customer_id: int, *, permission: str = "customer.read") -> Customer:
    """Return a visible customer the actor may access, or raise NotFound / PermissionDenied."""
    ctx.require(permission)
    customer = ctx.session.get(Customer, customer_id, options=_ONE)
    if customer is None or customer.deleted_at is not None:
        raise NotFound(_("Customer %(id)s does not exist.", id=customer_id))
    if customer.merged_into_id is not None:
        winner = ctx.session.get(Customer, customer.merged_into_id)
        if winner is not None and access.can_access_customer(ctx, winner):
            raise NotFound(_("Customer %(id)s was merged into customer %(winner)s.", id=customer_id,
                             winner=customer.merged_into_id))
        access.check_customer_access(ctx, customer)
        raise NotFound(_("Customer %(id)s was merged into another customer.", id=customer_id))
    access.check_customer_access(ctx, customer)
    return customer


class CustomerView:
    """A customer as ``read_customer`` reads it: its columns as attributes (under the mapped names), ``contacts``
    and ``addresses`` as rows with their columns, ``tags`` as rows with a ``name``. It is what the response
    schema, the completeness score, the record rules and the ETag read of a ``Customer``, without the ORM."""

    __tablename__ = Customer.__tablename__

    def __init__(self, values: dict[str, Any], contacts: Sequence[Any], addresses: Sequence[Any], tags: Sequence[Any]) -> None:
        self.__dict__.update(values)
        self.contacts, self.addresses, self.tags = contacts, addresses, tags


def _columns_of(model: Any) -> list[Any]:
    """The model's columns labelled with their mapped attribute names (a row then reads like the instance)."""
    return [column.label(key) for key, column in mapped_columns(model)]


# built once: a read's four statements (the bare app's), on the tables without the ORM's instances, which cost
# about two thirds of a read through the session (each collection a lazy load)
_VIEW_CUSTOMER = select(*_columns_of(Customer)).where(Customer.__table__.c.id == bindparam("id"))
_VIEW_CONTACTS = select(*_columns_of(Contact)).where(Contact.__table__.c.customer_id == bindparam("id")).order_by(
    Contact.__table__.c.id)
_VIEW_ADDRESSES = select(*_columns_of(Address)).where(Address.__table__.c.customer_id == bindparam("id")).order_by(
    Address.__table__.c.id)
_VIEW_TAGS = select(Tag.__table__.c.name).join(customer_tags, customer_tags.c.tag_id == Tag.__table__.c.id).where(
    customer_tags.c.customer_id == bindparam("id")).order_by(Tag.__table__.c.name)


def read_customer(ctx: ServiceContext, customer_id: int) -> CustomerView | Customer:
    """The customer to show (``GET /customers/<id>``): the same record and errors as ``get_customer``, read by
    Core statements. A customer that is missing, deleted or merged is left to ``get_customer`` (its messages).
    Only for reading in a session with no pending change to the customer (a request's fresh session)."""
    ctx.require("customer.read")
    conn = ctx.session.connection()
    params = {"id": customer_id}
    row = conn.execute(_VIEW_CUSTOMER, params).first()
    if row is None or row.deleted_at is not None or row.merged_into_id is not None:
        return get_customer(ctx, customer_id)
    access.check_customer_access(ctx, row)
    return CustomerView(row._asdict(), conn.execute(_VIEW_CONTACTS, params).all(),
                        conn.execute(_VIEW_ADDRESSES, params).all(), conn.execute(_VIEW_TAGS, params).all())


def code_taken(ctx: ServiceContext, code: str, other: Customer) -> str:
    """The message for a code another customer holds: it names that customer only when the actor
    may see it (a uniqueness error must not reveal records outside the actor's scope)."""
    if other.deleted_at is None and other.merged_into_id is None and access.can_access_customer(ctx, other):
        return _("Code '%(code)s' is already used by customer '%(name)s'.", code=code, name=other.name)
    return _("Code '%(code)s' is already used by another customer.", code=code)


def live_customer(ctx: ServiceContext, customer_id: Any, *, field: str = "customer_id",
                  permission: str = "customer.read", known: Customer | None = None) -> Customer:
    """The customer a new record (order, invoice, quote, opportunity, activity, ticket, ...) is for.

    Unlike ``get_customer`` (a 404 for the customer's own URL), a customer named in a record's data that
    does not exist, was deleted or was merged away is bad input: ``ValidationError`` (422) on ``field``,
    saying which (a deleted customer takes no new records; a merged one sends you to its winner). One
    outside the actor's scope stays a 403, and is never named. ``known``: the customer of this id when the
    caller loaded it already (a bulk import's batch), read without ``session.get``."""
    ctx.require(permission)
    if known is not None and known.id == customer_id:
        customer: Customer | None = known
    else:
        customer = ctx.session.get(Customer, customer_id) if customer_id is not None else None
    message = None
    if customer is None or ((customer.deleted_at is not None or customer.merged_into_id is not None)
                            and not access.can_access_customer(ctx, customer)):
        message = _("Customer %(id)s does not exist.", id=customer_id)
    elif customer.merged_into_id is not None:
        message = _("Customer %(name)s was merged into another customer; record this on the customer it was "
                    "merged into.", name=customer.name)
    elif customer.deleted_at is not None:
        message = _("Customer %(name)s was deleted and takes no new orders, quotes, tickets or other records; "
                    "restore it or choose another customer.", name=customer.name)
    if message is not None or customer is None:  # (no customer: a message already)
        raise ValidationError(message, errors={field: [message]})
    access.check_customer_access(ctx, customer)
    return customer


def get_by_code(ctx: ServiceContext, code: str) -> Customer | None:
    """The customer of this code (codes are keys, stored folded: ``ＣＵ１`` finds ``CU1``)."""
    return ctx.session.scalar(select(Customer).where(Customer.code == fold(code)))


def list_customers(ctx: ServiceContext, *, q: str | None = None, tag: str | None = None, owner_id: int | None = None,
                   stage: str | None = None, level: str | None = None, sort: str = "name",
                   page: int = 1, page_size: int = 25, cursor: str | None = None) -> listing.ListPage:
    """Search the customers the actor may see; return ``(page of customers, total)`` (a ``ListPage``: the
    total may be an estimate above ``COUNT_EXACT_MAX``; ``cursor`` pages by keyset, from ``next_cursor``)."""
    stmt = search_statement(ctx, q=q, tag=tag, owner_id=owner_id, stage=stage, level=level)
    key = sort.lstrip("-+")
    if key not in SORTABLE:
        raise ValidationError(_("Unknown sort key."), errors={"sort": [_("Sort by one of: %(choices)s.", choices=", ".join(sorted(SORTABLE)))]})
    keys = [listing.Key(getattr(Customer, key), sort.startswith("-"), Customer.__table__.c[key].nullable)]
    if key != "id":
        keys.append(listing.Key(Customer.id))
    return listing.list_page(ctx, stmt, name="customers", keys=keys, sort=sort, cursor=cursor, page=page,
                             page_size=page_size)


def search_statement(ctx: ServiceContext, *, q: str | None = None, tag: str | None = None, owner_id: int | None = None,
                     stage: str | None = None, level: str | None = None) -> Any:
    """The ``select(Customer)`` of the customers the actor may see that match the filters (unordered)."""
    ctx.require("customer.read")
    stmt = access.scope_customers(ctx, _visible(select(Customer)))
    if q and len(q) > SEARCH_MAX:  # the admin's and the export's searches come here without the API's schema
        raise ValidationError(_("The search is too long."), errors={"q": [_("At most %(n)s characters.", n=SEARCH_MAX)]})
    if q:
        stmt = stmt.where(Customer.id.in_(search.customer_ids(ctx, q)))
    if tag:
        stmt = stmt.where(Customer.tags.any(Tag.name == tag))
    if owner_id is not None:
        stmt = stmt.where(Customer.owner_id == owner_id)
    if stage:
        stmt = stmt.where(Customer.stage == stage)
    if level:
        stmt = stmt.where(Customer.level == level)
    return stmt


def validate_customer(ctx: ServiceContext, data: dict[str, Any], existing: Customer | None) -> dict[str, Any]:
    """The customer's input checked and converted, the one validation every path shares (API, admin,
    importer, ERP sync): the fields by ``CustomerSchema`` (lengths and choices from the model; all
    of them for a new customer, those given for ``existing``), then the rules that need the database
    or the settings (a phone number of the region, an owner that exists, a code no other customer holds).
    Raises ``ValidationError`` with ``{field: [messages]}``; returns the values to store."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors = field_errors(ctx, values)
        if values.get("code"):
            values["code"] = fold(values["code"])  # a key: folded
            other = get_by_code(ctx, values["code"])
            if other is not None and (existing is None or other.id != existing.id):
                errors["code"] = [code_taken(ctx, values["code"], other)]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The customer is not valid."), check=check)


def field_errors(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, list[Any]]:
    """The errors of already loaded values that the schema cannot judge alone: a phone number that is no
    number of ``DEFAULT_REGION``, an owner that does not exist."""
    errors: dict[str, list[Any]] = {}
    if data.get("phone") and normalize_phone(data["phone"], ctx.settings["DEFAULT_REGION"]) is None:
        errors["phone"] = [_("Not a valid phone number.")]
    if data.get("owner_id") is not None and ctx.session.get(User, data["owner_id"]) is None:
        errors["owner_id"] = [_("User %(id)s does not exist.", id=data["owner_id"])]
    return errors


def invalid_values(ctx: ServiceContext, values: dict[str, Any]) -> dict[str, list[str]]:
    """Which of ``values`` (customer fields, e.g. from an ERP) the CRM would refuse, and why: the
    same rules as :func:`validate_customer`, field by field, so a caller can store the rest."""
    return invalid_fields(_SCHEMA, values, lambda loaded: field_errors(ctx, loaded))


def derive_fields(ctx: ServiceContext, customer: Customer) -> None:
    region = ctx.settings["DEFAULT_REGION"]
    customer.phone_normalized = normalize_phone(customer.phone, region)
    customer.email_normalized = normalize_email(customer.email)
    customer.name_key = company_key(customer.name) or None
    customer.search_text = search_text(customer.name, customer.code, customer.name_key)


def refresh_completeness(ctx: ServiceContext, customer: Customer, fields: list[Any] | None = None) -> None:
    with ctx.session.no_autoflush:
        score = completeness(customer, active_fields(ctx, "customer") if fields is None else fields, labels=False)[0]
    if customer.completeness != score:
        customer.completeness = score


def _tags(ctx: ServiceContext, names: list[str], known: dict[str, Tag] | None = None) -> list[Tag]:
    """The tags of these names, new ones created (safe under concurrency); ``known``: tags found or
    made earlier in the same unit of work (a batch), so two customers naming one new tag share it."""
    folded = list(dict.fromkeys(n for n in (fold(raw) for raw in names) if n))
    have = {n: known[n] for n in folded if known is not None and n in known}
    have.update(ensure_tags(ctx, [n for n in folded if n not in have]))
    if known is not None:
        known.update(have)
    return [have[n] for n in folded]


def build_customer(ctx: ServiceContext, data: dict[str, Any], attributes: dict[str, Any] | None = None,
                   tags: dict[str, Tag] | None = None, referral_code: str | None = None) -> tuple[Customer, dict[str, Any]]:
    """A new customer from cleaned ``data``: fields, custom attributes (``attributes``: already
    validated ones, to skip the check), tags and derived fields; added to the session and checked
    by ``crm_before_save``, not flushed. Returns the customer and its changes for the audit."""
    customer = Customer(code=data.get("code") or new_code(), attributes={}, currency=ctx.settings["DEFAULT_CURRENCY"])
    customer.contacts, customer.addresses, customer.tags = [], [], []  # new: known empty, never loaded
    changes = apply_changes(customer, data, FIELDS)
    customer.attributes = (attributes if attributes is not None
                           else validate_attributes(ctx, "customer", data.get("attributes")))
    if data.get("attributes"):
        changes["attributes"] = [None, customer.attributes]
    if data.get("tags"):
        customer.tags = _tags(ctx, data["tags"], tags)
        changes["tags"] = [None, [t.name for t in customer.tags]]
    derive_fields(ctx, customer)
    if referral_code:  # who brought the customer: a referral plugin's crm_before_save records it
        changes["referral_code"] = [None, referral_code]
    ctx.session.add(customer)
    ctx.hook.crm_before_save(ctx=ctx, entity="customer", obj=customer, changes=changes, created=True)
    return customer, changes


def create_customer(ctx: ServiceContext, data: dict[str, Any]) -> Customer:
    """Create a customer with its tags and custom attributes; owner defaults to the actor."""
    ctx.require("customer.write")
    data = validate_customer(ctx, data, None)
    if "owner_id" not in data and ctx.actor is not None:
        data["owner_id"] = ctx.actor.id
    access.may_assign_owner(ctx, data.get("owner_id"))
    with unit_of_work(ctx):
        customer, changes = build_customer(ctx, data, referral_code=data.get("referral_code"))
        refresh_completeness(ctx, customer)
        changes["code"] = [None, customer.code]
        record_new(ctx, "customer", customer, changes)  # the customer and its audit entry, one statement on PostgreSQL
    return customer


def check_version(customer: Any, expected_version: int | None, if_match: bool = False) -> None:
    if expected_version is not None and int(expected_version) != customer.version:
        cls = PreconditionFailed if if_match else Conflict
        raise cls(_("The record is at version %(current)s, not %(given)s; reload it and try again.", current=customer.version, given=expected_version))


def update_customer(ctx: ServiceContext, customer_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                    if_match: bool = False) -> Customer:
    """Change a customer; a stale ``expected_version`` raises Conflict (or PreconditionFailed)."""
    customer = get_customer(ctx, customer_id, permission="customer.write")
    check_version(customer, expected_version, if_match)
    data = validate_customer(ctx, data, customer)
    if "owner_id" in data and data["owner_id"] != customer.owner_id:
        access.may_assign_owner(ctx, data["owner_id"])
    with unit_of_work(ctx):
        changes = apply_update(ctx, customer, data)
        if not changes:
            return customer
        ctx.session.flush()
        record_change(ctx, "customer", "updated", customer.id, changes)
    return customer


def apply_update(ctx: ServiceContext, customer: Customer, data: dict[str, Any], *, tags: dict[str, Tag] | None = None,
                 fields: list[Any] | None = None) -> dict[str, Any]:
    """Set cleaned ``data`` (see ``validate_customer``) on a loaded customer: fields, custom attributes and tags; when
    anything changed, its derived fields, ``crm_before_save`` and completeness. Returns the changes for the
    audit; neither flushed nor recorded. ``tags``: tags already found by name (a batch); ``fields``: the
    active custom fields, when the caller has them (a batch)."""
    changes = apply_changes(customer, data, FIELDS)
    if "attributes" in data:
        before = dict(customer.attributes or {})
        after = validate_attributes(ctx, "customer", data["attributes"], before, partial=True, fields=fields)
        if after != before:
            customer.attributes = after
            changes["attributes"] = [before, after]
    if "tags" in data:
        before_tags = [t.name for t in customer.tags]
        wanted = _tags(ctx, data["tags"] or [], tags)
        if sorted(before_tags) != sorted(t.name for t in wanted):
            customer.tags = wanted
            changes["tags"] = [before_tags, [t.name for t in wanted]]
    if not changes:
        return changes
    derive_fields(ctx, customer)
    ctx.hook.crm_before_save(ctx=ctx, entity="customer", obj=customer, changes=changes, created=False)
    refresh_completeness(ctx, customer, fields)
    return changes


def delete_customer(ctx: ServiceContext, customer_id: int, *, expected_version: int | None = None, if_match: bool = False) -> None:
    """Soft-delete: the record and its history stay for audit, hidden from lists and search."""
    customer = get_customer(ctx, customer_id, permission="customer.delete")
    check_version(customer, expected_version, if_match)
    with unit_of_work(ctx):
        ctx.hook.crm_before_delete(ctx=ctx, entity="customer", obj=customer)
        customer.deleted_at = utcnow()
        ctx.session.flush()
        record_change(ctx, "customer", "deleted", customer.id, {"deleted_at": [None, customer.deleted_at]},
                      data={"code": customer.code, "name": customer.name})


def timeline(ctx: ServiceContext, customer_id: int, *, before: dt.datetime | None = None, channel: str | None = None,
             limit: int = 50) -> list[Interaction]:
    """The customer's interactions, newest first (every channel, every plugin's touchpoints)."""
    customer = get_customer(ctx, customer_id)
    ctx.require("interaction.read")
    stmt = select(Interaction).where(Interaction.customer_id == customer.id)
    if before is not None:
        stmt = stmt.where(Interaction.occurred_at < before)
    if channel:
        stmt = stmt.where(Interaction.channel == channel)
    stmt = stmt.order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit)
    return list(ctx.session.scalars(stmt))


def panels(ctx: ServiceContext, customer_id: int) -> list[dict[str, Any]]:
    """The customer 360 sections contributed by the core and the plugins, in order."""
    customer = get_customer(ctx, customer_id)
    found = [p for group in ctx.hook.crm_customer_panels(ctx=ctx, customer=customer) for p in (group or [])]
    return [p.to_dict() for p in sorted(found, key=lambda p: (p.order, p.key))]


def completeness_of(ctx: ServiceContext, customer: Customer | CustomerView) -> tuple[int, list[str]]:
    return completeness(customer, active_fields(ctx, "customer"))
