"""The entities a custom metric can count: model, owner and date columns, and the typed fields its
conditions (the core's condition language, :mod:`crmcore.conditions`) may name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmcore.conditions import NUMERIC, Field
from crmcore.i18n import _

from ..models import Activity, Expense, Invoice, Lead, Opportunity, Order, Quote

AGGREGATABLE = NUMERIC


@dataclass(frozen=True)
class EntitySpec:
    """A metric entity: its model, owner column (record rules), date column (period) and fields."""

    name: str
    label: Any  # lazily translated
    model: Any
    owner: str
    date: str
    fields: dict[str, str] = field(default_factory=dict)  # name -> type
    currency: str | None = None  # the column money fields are in
    labels: dict[str, Any] = field(default_factory=dict)  # words of fields the entity metadata does not name

    def column(self, name: str) -> Any:
        return getattr(self.model, name)

    def condition_fields(self) -> dict[str, Field]:
        """The fields a metric's conditions may name, for :func:`crmcore.conditions.compile_sql`."""
        return {name: Field(name, kind, self.column(name)) for name, kind in self.fields.items()}


ENTITIES: dict[str, EntitySpec] = {spec.name: spec for spec in (
    EntitySpec("opportunity", _("Opportunities"), Opportunity, "owner_id", "created_at", {
        "name": "str", "customer_id": "int", "owner_id": "int", "stage_id": "int", "status": "str", "amount": "money",
        "currency": "str", "probability": "int", "expected_close_date": "date", "lost_reason": "str",
        "competitor": "str", "source_channel": "str", "created_at": "datetime", "closed_at": "datetime"},
        currency="currency"),
    EntitySpec("order", _("Orders"), Order, "owner_id", "order_date", {
        "customer_id": "int", "owner_id": "int", "status": "str", "total": "money", "list_total": "money",
        "currency": "str", "order_date": "date", "source": "str"}, currency="currency"),
    EntitySpec("invoice", _("Invoices"), Invoice, "owner_id", "due_date", {
        "customer_id": "int", "owner_id": "int", "state": "str", "amount_total": "money", "amount_paid": "money",
        "currency": "str", "invoice_date": "date", "due_date": "date"}, currency="currency"),
    EntitySpec("activity", _("Activities"), Activity, "owner_id", "done_at", {
        "kind": "str", "status": "str", "outcome": "str", "customer_id": "int", "opportunity_id": "int",
        "owner_id": "int", "due_at": "datetime", "done_at": "datetime"}),
    EntitySpec("lead", _("Leads"), Lead, "owner_id", "created_at", {
        "status": "str", "source_channel": "str", "campaign": "str", "owner_id": "int",
        "estimated_amount": "money", "currency": "str", "created_at": "datetime", "qualified_at": "datetime"},
        currency="currency"),
    EntitySpec("quote", _("Quotes"), Quote, "owner_id", "created_at", {
        "customer_id": "int", "owner_id": "int", "status": "str", "total": "money", "currency": "str",
        "effective_discount_percent": "num", "max_line_discount_percent": "num", "requires_approval": "bool",
        "created_at": "datetime"}, currency="currency"),
    EntitySpec("expense", _("Expenses"), Expense, "owner_id", "spent_on", {
        "owner_id": "int", "customer_id": "int", "category": "str", "amount": "money", "currency": "str",
        "spent_on": "date"}, currency="currency",
        labels={"amount": _("Amount"), "category": _("Category"), "spent_on": _("Spent on")}),
)}
