"""Small value types that hooks exchange with the core (what a ``crm_register_*`` hook returns)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .db import utcnow

if TYPE_CHECKING:
    from .models import OutboxMessage
    from .runtime import ServiceContext


@dataclass(frozen=True)
class Permission:
    """A named permission that roles can be granted, e.g. ``customer.write``."""

    name: str
    description: str = ""
    default_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntity:
    """Who reads the audit entries of one entity type (``AuditLog.entity == name``).

    A reader needs ``permission`` to see any of them; ``visible(ctx)`` then returns a SQL
    condition over ``AuditLog`` picking the entries whose record the reader may see under record
    rules, or ``None`` when they see them all (``crmcore.services.audit_scope`` has builders:
    ``ids_in(select_of_ids)`` and ``customer_in(ctx)``).
    """

    name: str
    permission: str
    visible: Callable[[ServiceContext], Any] | None = None


@dataclass(frozen=True)
class FieldType:
    """A custom field type: ``validate(value, field)`` returns the clean value or raises ValueError."""

    name: str
    validate: Callable[[Any, Any], Any]
    label: str = ""


@dataclass(frozen=True)
class Job:
    """A job: ``func(ctx, **params)`` runs every ``interval`` seconds (``0``: only when queued) on the configured
    backend (docs/jobs.md); ``ctx.report_progress(done, total)`` between chunks shows progress and honours cancel."""

    name: str
    func: Callable[[ServiceContext], Any]
    interval: int
    description: str = ""


@dataclass(frozen=True)
class Finding:
    """What ``crm check`` found: ``level`` is ``error`` (exit code 1), ``warning`` or ``ok``; ``message``
    says what is wrong and what to do, in the reader's language (never a secret)."""

    level: str
    topic: str
    message: str


@dataclass(frozen=True)
class Check:
    """A deployment check of ``crm check``: ``func(ctx)`` returns a list of :class:`Finding`."""

    name: str
    func: Callable[[Any], list[Finding]]
    description: str = ""


@dataclass(frozen=True)
class OutboxHandler:
    """A destination for outbox messages: ``deliver(ctx, message)`` raises to retry.

    ``topics`` are event names; a trailing ``*`` matches a prefix (``customer.*``).
    ``ignore_sources``: changes made with these ``ctx.source`` values get no message for this
    destination (the ERP sync's own writes are not pushed back to the ERP: that would echo).
    ``active(ctx)``: whether the destination exists now (an ERP connection, a mail server), asked
    once per writing transaction; when it says no, events get no row for it. ``None``: always.
    A failure raising ``OSError`` or ``RetriableAdapterError`` means the destination is down: it is
    paused with backoff (its other messages wait); any other exception retries that message only.
    """

    name: str
    topics: tuple[str, ...]
    deliver: Callable[[ServiceContext, OutboxMessage], None]
    max_attempts: int = 10
    ignore_sources: tuple[str, ...] = ()
    active: Callable[[Any], bool] | None = None

    def wants(self, topic: str, source: str | None = None) -> bool:
        if source is not None and source in self.ignore_sources:
            return False
        return any(t == topic or (t.endswith("*") and topic.startswith(t[:-1])) for t in self.topics)


@dataclass
class Panel:
    """A section of the customer 360 view: a title and rows of label/value pairs or a list."""

    key: str
    title: str
    rows: list[tuple[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    order: int = 100

    def to_dict(self) -> dict[str, Any]:
        # str() renders lazily translated titles and labels in the reader's language
        return {"key": self.key, "title": str(self.title), "order": self.order,
                "rows": [[str(k), v] for k, v in self.rows], "items": self.items}


@dataclass
class DuplicateCandidate:
    """A customer that is probably the same as another, with a score in [0, 1] and reasons."""

    customer_id: int
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass
class MovedRows:
    """Rows of ``table`` whose ``column`` a merge changed from the loser to the winner."""

    table: str
    column: str
    ids: list[Any]
    pk: str = "id"


#: What a table's owner declares, as ``info={"merge_policy": ...}`` in its ``__table_args__``, for
#: rows of the two merged customers that clash on a unique key including the customer.
MERGE_KEEP_WINNER = "keep_winner"  # the winner's row stays; the loser's clashing row is removed
MERGE_KEEP_LOSER = "keep_loser"  # the loser's row replaces the winner's clashing row
MERGE_DROP_DERIVED = "drop_derived"  # derived data: every row of the loser is removed, the winner's stay
MERGE_POLICIES = (MERGE_KEEP_WINNER, MERGE_KEEP_LOSER, MERGE_DROP_DERIVED)


@dataclass
class RemovedRows:
    """Rows of ``table`` a merge deleted (as JSON-ready ``{column: value}``), put back by undo."""

    table: str
    rows: list[dict[str, Any]]


@dataclass
class Event:
    """Something that happened, delivered to ``crm_event`` after commit and to the outbox."""

    name: str
    entity: str | None = None
    entity_id: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    actor_id: int | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: dt.datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "entity": self.entity,
                "entity_id": self.entity_id, "data": self.data, "actor_id": self.actor_id,
                "at": self.at.isoformat()}
