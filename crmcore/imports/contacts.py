"""The ``contacts`` import kind: contacts of customers named by code, matched by external id or name, set-based."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from marshmallow import ValidationError as SchemaError
from sqlalchemy import Table, bindparam, select, update

from ..db import changed_rows, utcnow
from ..errors import Conflict, CRMError, ValidationError
from ..i18n import _
from ..models import Contact, Customer
from ..normalize import fold
from ..services.completeness import completeness
from ..services.contacts import CONTACT_FIELDS, _derive, validate_contact
from ..services.custom_fields import active_fields, validate_attributes
from ..services.unit import apply_changes
from ..services.validation import messages_text
from .contract import CREATED, REJECTED, UNCHANGED, UPDATED, Column, ImportKind, ImportOptions, Row, RowResult
from .customers import Profile
from .driver import record, rejected
from .refs import CustomerLookup, add_external_ids, external_id_of, external_ids
from .sql import created_changes, insert_rows, row_values, transient

if TYPE_CHECKING:
    from ..runtime import ServiceContext


@functools.cache
def _schema() -> Any:
    from ..schemas.customers import ContactSchema

    return ContactSchema(exclude=("customer_id",))


def from_cells(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV record to a contact row: empty cells dropped, ``attr.<name>`` into the custom attributes."""
    data: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in cells.items():
        if not value:
            continue
        if key.startswith("attr."):
            attributes[key[5:]] = value
        else:
            data[key] = value
    if attributes:
        data["attributes"] = attributes
    return data


def _name_key(name: Any) -> str:
    return fold(name).casefold() if isinstance(name, str) else ""


def row_key(row: dict[str, Any]) -> str | None:
    """The contact a row means: its external id, else its customer's code and its name."""
    ext = external_id_of(row)
    if ext:
        return f"id:{ext}"
    code, name = row.get("customer_code"), _name_key(row.get("name"))
    return f"name:{fold(code)}\x00{name}" if isinstance(code, str) and name else None


def load(ctx: ServiceContext, rows: list[Row], options: ImportOptions) -> list[RowResult]:
    """Validate and write one batch of contact rows (see :data:`crmcore.imports.Loader`)."""
    ctx.require("customer.write")
    session = ctx.session
    customer_of = CustomerLookup(ctx, [raw.get("customer_code") for _l, raw in rows], "customer.write", children=True)
    refs = external_ids(ctx, "contact", [e for _l, raw in rows if (e := external_id_of(raw))])
    known = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(set(refs.values()))))} \
        if refs else {}
    contact_fields = active_fields(ctx, "contact")
    results: list[RowResult | None] = [None] * len(rows)
    updates: list[tuple[int, Any, Contact, dict[str, Any]]] = []
    news: list[tuple[int, Any, dict[str, Any], str | None]] = []
    for i, (line, raw) in enumerate(rows):
        ext = external_id_of(raw)
        try:
            customer = customer_of(raw.get("customer_code"))
            data = _schema().load({k: v for k, v in raw.items() if k not in ("customer_code", "external_id")})
            if ext is not None:
                existing = known.get(refs[ext]) if ext in refs else None
                if existing is not None and existing.customer_id != customer.id:
                    message = _("The contact of this external id belongs to another customer.")
                    raise ValidationError(message, errors={"customer_code": [message]})
            else:
                key = _name_key(data.get("name"))
                existing = next((c for c in customer.contacts if _name_key(c.name) == key), None)
            if existing is not None:
                if not options.update:
                    raise ValidationError(_("This contact exists."), errors={"name": [_("Already exists.")]})
                updates.append((i, customer, existing, validate_contact(ctx, data, existing)))
                continue
            data = validate_contact(ctx, data, None)
            data["attributes"] = validate_attributes(ctx, "contact", data.get("attributes"), fields=contact_fields)
            news.append((i, customer, data, ext))
        except SchemaError as exc:
            results[i] = RowResult(line, REJECTED, key=ext, errors=messages_text(exc.messages_dict))
        except CRMError as exc:
            results[i] = rejected(line, ext, exc)
    entries: list[Any] = []
    touched: dict[int, tuple[Any, list[Contact]]] = {}  # customer id -> (customer, its new contacts)
    changed: list[tuple[int, Contact, dict[str, Any]]] = []
    for i, customer, contact, data in updates:
        try:
            with session.no_autoflush:
                changes = apply_changes(contact, data, CONTACT_FIELDS)
                if "attributes" in data:
                    before = dict(contact.attributes or {})
                    after = validate_attributes(ctx, "contact", data["attributes"], before, partial=True,
                                                fields=contact_fields)
                    if after != before:
                        contact.attributes = after
                        changes["attributes"] = [before, after]
                if changes:
                    _derive(ctx, contact)
                    ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=False)
                    touched.setdefault(customer.id, (customer, []))
            changed.append((i, contact, changes))
        except CRMError as exc:
            session.expire(contact)
            results[i] = rejected(rows[i][0], external_id_of(rows[i][1]), exc)
    now = utcnow()
    built: list[tuple[int, Any, Contact, dict[str, Any], str | None]] = []
    for i, customer, data, ext in news:
        try:
            values = {k: data[k] for k in CONTACT_FIELDS if k in data}
            contact = transient(Contact, **values, attributes=data["attributes"])
            changes = created_changes(values)
            if data["attributes"]:
                changes["attributes"] = [None, data["attributes"]]
            _derive(ctx, contact)
            ctx.hook.crm_before_save(ctx=ctx, entity="contact", obj=contact, changes=changes, created=True)
            built.append((i, customer, contact, changes, ext))
            touched.setdefault(customer.id, (customer, []))[1].append(contact)
        except CRMError as exc:
            results[i] = rejected(rows[i][0], ext, exc)
    ids = insert_rows(ctx, Contact.__table__, [row_values(c, Contact.__table__, now, customer_id=cu.id)
                                               for _i, cu, c, _ch, _e in built])
    add_external_ids(ctx, "contact", [(ext, cid) for (_i, _cu, _c, _ch, ext), cid in zip(built, ids, strict=True) if ext])
    session.flush()
    _refresh_completeness(ctx, touched.values(), now)
    for i, contact, changes in changed:
        if changes:
            entries.append(("contact", "updated", contact.id, changes, {"customer_id": contact.customer_id}))
        results[i] = RowResult(rows[i][0], UPDATED if changes else UNCHANGED, contact.id, external_id_of(rows[i][1]))
    for (i, customer, _contact, changes, ext), cid in zip(built, ids, strict=True):
        entries.append(("contact", "created", cid, changes, {"customer_id": customer.id}))
        results[i] = RowResult(rows[i][0], CREATED, cid, ext)
    record(ctx, options, entries)
    return [r for r in results if r is not None]


def _refresh_completeness(ctx: ServiceContext, touched: Any, now: Any) -> None:
    """The customers' completeness, as ``create_contact`` / ``update_contact`` refresh it (a new version of
    each customer whose score changed), in one ``UPDATE`` for the batch; a customer changed meanwhile by
    another transaction is a ``Conflict`` (the driver then loads the rows one by one)."""
    fields = active_fields(ctx, "customer")
    scores = []
    with ctx.session.no_autoflush:
        for customer, new in touched:
            profile = Profile(customer, [*customer.contacts, *new], customer.addresses, customer.tags)
            score = completeness(profile, fields, labels=False)[0]
            if customer.completeness != score:
                scores.append({"cid": customer.id, "v": customer.version, "score": score, "now": now})
    if not scores:
        return
    table = cast(Table, Customer.__table__)
    stmt = (update(table).where(table.c.id == bindparam("cid"), table.c.version == bindparam("v"))
            .values(completeness=bindparam("score"), version=table.c.version + 1, updated_at=bindparam("now")))
    result = ctx.session.execute(stmt, scores)
    if changed_rows(result) != len(scores):
        raise Conflict(_("The record was changed by someone else; reload it and try again."))
    changed = {row["cid"] for row in scores}
    for customer, _new in touched:
        if customer.id in changed:
            ctx.session.expire(customer, ["completeness", "version", "updated_at"])


KIND = ImportKind(
    name="contacts", label=_("Contacts"), permission="customer.import", key="external_id", entity="contact",
    columns=(
        Column("customer_code", _("Code of the customer the contact belongs to"), required=True),
        Column("name", _("Name"), required=True),
        Column("external_id", _("Id in the other system: a row whose id was imported before updates that contact; "
                                "without it, the customer's contact of the same name is updated")),
        Column("title", _("Title")),
        Column("is_primary", _("true for the primary contact")),
        Column("phone", _("Phone number in any format; stored with its E.164 form (+86 by default)")),
        Column("mobile", _("Mobile number")),
        Column("email", _("E-mail address")),
        Column("wechat", _("WeChat")),
        Column("qq", _("QQ")),
        Column("weibo", _("Weibo")),
        Column("other", _("Other")),
    ),
    load=load, prefixes=("attr.",), extra_keys=("attributes",), convert=from_cells, key_of=row_key,
)
