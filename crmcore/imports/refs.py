"""What every kind's loader looks up once per batch: customers by code and records by their external id."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import lazyload, selectinload

from ..db import utcnow
from ..errors import CRMError, ValidationError
from ..i18n import _
from ..models import Customer, ExternalRef
from ..normalize import fold
from ..services.customers import live_customer

if TYPE_CHECKING:
    from ..runtime import ServiceContext

SYSTEM = "import"  # ExternalRef.system of the ids imported rows carry (``external_id``)


def customers_by_code(ctx: ServiceContext, codes: Iterable[Any], *, children: bool = False) -> dict[str, Customer]:
    """``{code: customer}`` of these codes (folded, as stored) in one ``IN`` query; ``children``: with their
    contacts and addresses loaded (two more queries for the whole batch)."""
    wanted = {fold(c) for c in codes if isinstance(c, str) and fold(c)}
    if not wanted:
        return {}
    stmt = select(Customer).where(Customer.code.in_(wanted)).options(lazyload(Customer.owner))  # not the owner's row
    if children:
        stmt = stmt.options(selectinload(Customer.contacts), selectinload(Customer.addresses))
    return {c.code: c for c in ctx.session.scalars(stmt)}


def customer_for(ctx: ServiceContext, found: dict[str, Customer], code: Any, permission: str,
                 field: str = "customer_code") -> Customer:
    """The live customer a row names by code, as ``live_customer`` checks it (deleted, merged, outside the
    reader's scope); an unknown code is a ``ValidationError`` on ``field`` naming it."""
    customer = found.get(fold(code)) if isinstance(code, str) else None
    if customer is None:
        message = _("No customer has the code '%(code)s'.", code=code) if code else _("Give the customer's code.")
        raise ValidationError(message, errors={field: [message]})
    return live_customer(ctx, customer.id, field=field, permission=permission)


class CustomerLookup:
    """The customers a batch's rows name by code: one ``IN`` query, and each code checked once (a customer
    named by many rows is checked for the first and the answer reused, an error included)."""

    def __init__(self, ctx: ServiceContext, codes: Iterable[Any], permission: str, *, children: bool = False,
                 field: str = "customer_code") -> None:
        self.ctx, self.permission, self.field = ctx, permission, field
        self.found = customers_by_code(ctx, codes, children=children)
        self._checked: dict[Any, Customer | CRMError] = {}

    def __call__(self, code: Any) -> Customer:
        """The live customer of this code, or the ``ValidationError`` / ``PermissionDenied`` of ``customer_for``."""
        key = code if isinstance(code, str) else repr(code)
        answer = self._checked.get(key)
        if answer is None:
            try:
                answer = customer_for(self.ctx, self.found, code, self.permission, self.field)
            except CRMError as exc:
                answer = exc
            self._checked[key] = answer
        if isinstance(answer, CRMError):
            raise answer
        return answer


def external_ids(ctx: ServiceContext, entity: str, ids: Iterable[str]) -> dict[str, int]:
    """``{external id: record id}`` of the imported records of ``entity`` with these ids, one ``IN`` query."""
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(ExternalRef.external_id, ExternalRef.entity_id).where(
        ExternalRef.system == SYSTEM, ExternalRef.entity == entity, ExternalRef.external_id.in_(wanted))
    return {ext: rid for ext, rid in ctx.session.execute(stmt)}


def add_external_ids(ctx: ServiceContext, entity: str, pairs: list[tuple[str, int]]) -> None:
    """Remember the external ids of new records (one INSERT for the batch)."""
    if pairs:
        now = utcnow()
        ctx.session.execute(insert(cast(Table, ExternalRef.__table__)), [
            {"system": SYSTEM, "entity": entity, "entity_id": rid, "external_id": ext, "created_at": now,
             "last_synced_at": now} for ext, rid in pairs])


def external_id_of(raw: dict[str, Any]) -> str | None:
    """A row's ``external_id``, folded (an identifier: ``Ａ1`` is ``A1``), or None."""
    value = raw.get("external_id")
    if value is None:
        return None
    return fold(str(value)) or None
