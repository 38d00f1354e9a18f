"""Integration state: external ids, sync bookmarks, the transactional outbox and job runs."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, created_ts, intpk, updated_ts, utcnow


class ExternalRef(Base):
    """Links one CRM record to its id in another system (an ERP, an OA)."""

    __tablename__ = "external_refs"
    __table_args__ = (
        UniqueConstraint("system", "entity", "external_id", name="uq_external_refs_external"),
        UniqueConstraint("system", "entity", "entity_id", name="uq_external_refs_local"),
        Index("ix_external_refs_entity", "entity", "entity_id"),
    )

    id: Mapped[intpk]
    system: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int]
    external_id: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_ts]


class SyncState(Base):
    """A bookmark per connection and stream, Singer style: {replication_key, value}."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("connection", "stream", name="uq_sync_state_stream"),)

    id: Mapped[intpk]
    connection: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    bookmark: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[updated_ts]


class OutboxMessage(Base):
    """One event for one destination, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_destination_due", "destination", "status", "next_attempt_at", "id"))

    id: Mapped[intpk]
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    topic: Mapped[str] = mapped_column(String(120))
    destination: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    delivered_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(120))  # the worker delivering it now
    claimed_until: Mapped[dt.datetime | None]  # its claim ends then (a crashed worker's claim expires)


class OutboxDestination(Base):
    """Delivery state of one destination, shared by every worker: paused after failures (backoff)."""

    __tablename__ = "outbox_destinations"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failures of the destination itself
    paused_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRun(Base):
    """When each scheduled job last ran and how it ended."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_started_at: Mapped[dt.datetime | None]
    last_finished_at: Mapped[dt.datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)


class JobExecution(Base):
    """One run of a job, queued or periodic, in either backend: its progress, cancel request and outcome."""

    __tablename__ = "job_executions"
    __table_args__ = (Index("ix_job_executions_status", "status", "id"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued running ok failed cancelled
    backend: Mapped[str] = mapped_column(String(16), default="inprocess")
    engine_job_id: Mapped[int | None] = mapped_column(index=True)  # the engine's own id (procrastinate_jobs.id)
    scheduled_for: Mapped[dt.datetime | None]  # the schedule slot of a periodic run
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
