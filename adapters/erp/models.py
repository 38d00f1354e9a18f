"""The ERP plugin's tables: connections, stream runs, sync issues and the ERP's open invoices per customer.

Bookmarks live in the core's ``sync_state`` and id links in ``external_refs``; these tables hold
what only the sync needs.
"""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, created_ts, intpk, updated_ts

DEFAULT_OWNERSHIP: dict[str, dict[str, str]] = {
    # ERP wins finance fields, the CRM wins contact fields; ``*`` is the default of an entity.
    "customer": {"*": "crm", "name": "erp", "credit_limit": "erp", "currency": "erp"},
    "contact": {"*": "crm"},  # contact persons are contact data: the CRM's (an entity without rules is the ERP's)
}
ISSUE_KINDS = ("rejected", "conflict", "push_failed", "deleted", "invalid", "unlinked")
ISSUE_STATES = ("open", "resolved", "ignored")


class ErpConnection(Base):
    """One ERP to sync with: its adapter, settings, secret (write-only) and sync options."""

    __tablename__ = "erp_connections"
    __table_args__ = {"info": {"crm_stamps": ("erp_connections",)}}  # what a web process keeps: does one take pushes

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    adapter: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str | None] = mapped_column(Text)  # password / API key: never shown, never logged
    streams: Mapped[list[str]] = mapped_column(default=list)  # empty: every stream the adapter offers
    ownership: Mapped[dict[str, Any]] = mapped_column(default=dict)  # overrides DEFAULT_OWNERSHIP
    overlap_seconds: Mapped[int] = mapped_column(default=300)
    timeout_seconds: Mapped[int] = mapped_column(default=10)
    page_size: Mapped[int] = mapped_column(default=200)
    push_enabled: Mapped[bool] = mapped_column(default=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_test_at: Mapped[dt.datetime | None]
    last_test_result: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    def __str__(self) -> str:
        return self.name


class SyncRun(Base):
    """One run of one stream: when, how it ended and the counts."""

    __tablename__ = "erp_sync_runs"
    __table_args__ = (Index("ix_erp_sync_runs_stream", "connection", "stream", "started_at"),)

    id: Mapped[intpk]
    connection: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, ok, failed
    read: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class SyncIssue(Base):
    """A record the sync rejected or a conflict it found, with the reason; open until retried or resolved."""

    __tablename__ = "erp_sync_issues"
    __table_args__ = (Index("ix_erp_sync_issues_open", "status", "connection", "stream"),)

    id: Mapped[intpk]
    connection: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(128))
    entity_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    resolved_at: Mapped[dt.datetime | None]


class ErpInvoice(Base):
    """The ERP's view of a customer invoice: what the finance panel shows (amount due, overdue)."""

    __tablename__ = "erp_invoices"
    __table_args__ = (UniqueConstraint("connection", "external_id", name="uq_erp_invoices_external"),)

    id: Mapped[intpk]
    connection: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    invoice_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    amount_total: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    amount_due: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    updated_at: Mapped[updated_ts]


class SyncedValues(Base):
    """A linked record's field values as the ERP last had them (pulled, or pushed by the CRM): the base
    that tells which side changed a field since (the ERP clearing a value it had, an edit on both sides)."""

    __tablename__ = "erp_synced_values"
    __table_args__ = (UniqueConstraint("connection", "entity", "entity_id", name="uq_erp_synced_values_record"),)

    id: Mapped[intpk]
    connection: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int]
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[updated_ts]


MODELS = [ErpConnection, SyncRun, SyncIssue, ErpInvoice, SyncedValues]
