"""Field ownership: which side's value wins, decided against what the ERP last had (the base).

The rule, for one field of a linked record (documented in docs/erp_sync.md, "Field ownership"):

- An absent value (None or empty) from the ERP never overwrites a CRM value, unless the ERP owns the
  field and explicitly cleared it: it had a value (the base) and the CRM still has that same value.
- A value is filled while the CRM's is empty, whoever owns the field.
- A field only one side changed since the base takes that side's value (nothing else is lost).
- Otherwise the owner's value wins, and the other side's value is kept in a ``conflict`` sync issue:
  no edit is lost silently.
- The CRM refuses its users' edits of a field the ERP owns on a linked customer (``refuse_locked``:
  422 naming the connection), so such an edit is not silently reverted by the next pull.
"""
from __future__ import annotations

import contextlib
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from sqlalchemy import insert, select

from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.models import ExternalRef
from crmcore.runtime import ServiceContext

from .models import DEFAULT_OWNERSHIP, ErpConnection, SyncedValues

MISSING = object()  # no base known for a field (linked before bases were kept, or never seen)
SOURCE = "erp-sync"  # ctx.source of every write the sync makes (the push skips these: no echo)
DESTINATION = "erp"  # the outbox destination of the push (declared in destination.py)
SYNC_WRITES = "erp_sync_writes"  # session.info flag while the sync stores records
_LABELS = {"name": lambda: _("Name"), "credit_limit": lambda: _("Credit limit"), "currency": lambda: _("Currency"),
           "phone": lambda: _("Phone"), "email": lambda: _("E-mail"), "website": lambda: _("Website"),
           "kind": lambda: _("Kind"), "title": lambda: _("Title"), "mobile": lambda: _("Mobile")}
# the fields whose owner the sync decides, per record type (customers.CUSTOMER_FIELDS, the credit limit, and the
# contact persons' fields): the ones the admin's ownership grid offers
OWNED_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "kind", "phone", "email", "website", "currency", "credit_limit"),
    "contact": ("name", "title", "phone", "mobile", "email"),
}


def empty(value: Any) -> bool:
    return value is None or value == ""


def same(a: Any, b: Any) -> bool:
    """Equal as field values: empty is empty, amounts compare as numbers ("5000" == "5000.00")."""
    if empty(a) or empty(b):
        return empty(a) and empty(b)
    if isinstance(a, (Decimal, int, float)) or isinstance(b, (Decimal, int, float)):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return False
    return str(a) == str(b)


def stored(value: Any) -> Any:
    """A value as kept in the base (JSON)."""
    return str(value) if isinstance(value, Decimal) else value


def decide(erp_owns: bool, crm: Any, erp: Any, base: Any = MISSING) -> tuple[bool, bool]:
    """For one field on pull: ``(write the ERP's value?, record a conflict?)``."""
    if same(crm, erp):
        return False, False
    if empty(erp):  # absent: overwrites only what the ERP owned and cleared, the CRM not having changed it
        if not erp_owns or base is MISSING or empty(base):
            return False, False
        return (True, False) if same(crm, base) else (False, True)
    if empty(crm):
        return True, False
    if erp_owns:  # the ERP's value wins; a CRM value that was not the ERP's last one is kept in an issue
        return True, base is MISSING or not same(crm, base)
    if base is not MISSING and same(crm, base):  # only the ERP changed it since: nothing of the CRM's is lost
        return True, False
    if base is not MISSING and same(erp, base):  # only the CRM changed it (not pushed yet): nothing to record
        return False, False
    return False, True  # both changed it: the CRM's value wins; the ERP's is kept in an issue


def load_base(ctx: ServiceContext, connection: str, entity: str, entity_id: int) -> dict[str, Any]:
    row = ctx.session.scalar(select(SyncedValues.values).where(
        SyncedValues.connection == connection, SyncedValues.entity == entity, SyncedValues.entity_id == entity_id))
    return dict(row or {})


def save_base(ctx: ServiceContext, connection: str, entity: str, entity_id: int, values: dict[str, Any]) -> None:
    """Remember the ERP's values of these fields (merged into what is kept)."""
    row = ctx.session.scalar(select(SyncedValues).where(
        SyncedValues.connection == connection, SyncedValues.entity == entity, SyncedValues.entity_id == entity_id))
    clean = {k: stored(v) for k, v in values.items()}
    if row is None:
        ctx.session.add(SyncedValues(connection=connection, entity=entity, entity_id=entity_id, values=clean))
    elif any(row.values.get(k, MISSING) != v for k, v in clean.items()):
        row.values = {**row.values, **clean}


def save_bases(ctx: ServiceContext, connection: str, entity: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """``save_base`` for records created in this transaction (no base yet): one INSERT."""
    if rows:
        ctx.session.execute(insert(SyncedValues), [
            {"connection": connection, "entity": entity, "entity_id": entity_id,
             "values": {k: stored(v) for k, v in values.items()}} for entity_id, values in rows])


def field_word(name: str) -> str:
    """A synced field in the reader's words (one this module does not know shows as stored)."""
    return str(_LABELS[name]()) if name in _LABELS else name


def default_owner(entity: str, name: str) -> str:
    """Who owns ``entity``'s field ``name`` when a connection says nothing (``erp`` or ``crm``)."""
    rules = DEFAULT_OWNERSHIP.get(entity, {})
    return rules.get(name, rules.get("*", "erp"))


def erp_owned(connection: ErpConnection, entity: str) -> set[str]:
    """The fields of ``entity`` this connection's ERP owns (defaults plus the connection's overrides)."""
    rules = {**DEFAULT_OWNERSHIP.get(entity, {}), **(connection.ownership or {}).get(entity, {})}
    return {name for name, owner in rules.items() if owner == "erp" and name != "*"}


def refuse_locked(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    """Refuse (422, naming the connection) a CRM user's change of a customer field an ERP owns, on a
    customer linked to that ERP: the next pull would put the ERP's value back. The sync's own writes
    (source ``erp-sync``) and new customers are not concerned."""
    if entity != "customer" or created or not changes:
        return
    if getattr(ctx, "source", None) == SOURCE or ctx.session.info.get(SYNC_WRITES):
        return
    connections = list(ctx.session.scalars(select(ErpConnection).where(ErpConnection.enabled.is_(True))))
    owned = {c.name: erp_owned(c, "customer") & set(changes) for c in connections}
    owned = {name: fields for name, fields in owned.items() if fields}
    if not owned:
        return
    linked = set(ctx.session.scalars(select(ExternalRef.system).where(
        ExternalRef.entity == "customer", ExternalRef.entity_id == obj.id, ExternalRef.system.in_(list(owned)))))
    errors: dict[str, list[Any]] = {}
    for name in sorted(linked):
        for field in sorted(owned[name]):
            label = field_word(field)
            errors.setdefault(field, []).append(_(
                "%(field)s is kept by the ERP connection '%(connection)s': change it in the ERP; the next sync "
                "brings it here.", field=label, connection=name))
    if errors:
        raise ValidationError(_("Some fields of this customer are kept by an ERP and cannot be changed here."),
                              errors=errors)


@contextlib.contextmanager
def sync_writes(session: Any) -> Iterator[None]:
    """Mark the session's writes as the sync's own (``session.info[SYNC_WRITES]``: the ownership lock lets
    them through, whatever the context's source). Values that do not fit their columns are refused by the
    core's check before every flush (``crmcore.columnsizes``): the record becomes a sync issue."""
    before = session.info.get(SYNC_WRITES)
    session.info[SYNC_WRITES] = True
    try:
        yield
    finally:
        session.info[SYNC_WRITES] = before
