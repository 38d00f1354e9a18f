"""Value types the workflow hooks exchange: named condition predicates, named actions, the
entities a workflow can drive, and what an OA provider reports."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Predicate:
    """A named test usable in conditions: ``func(ctx, record, args) -> bool``.

    ``validate(args)`` returns a list of problems (empty when the arguments are fine).
    """

    name: str
    func: Callable[[Any, Any, dict[str, Any]], bool]
    description: str = ""
    validate: Callable[[dict[str, Any]], list[str]] | None = None


@dataclass(frozen=True)
class WorkflowAction:
    """A named action run on entering a state or to compensate a withdrawn or revoked approval:
    ``func(ctx, record, params)``, inside the transaction of the change."""

    name: str
    func: Callable[[Any, Any, dict[str, Any]], Any]
    description: str = ""


@dataclass(frozen=True)
class WorkflowEntity:
    """An entity a workflow can drive: how to load a record and who owns it.

    ``load(ctx, id)`` returns the record (checking the reader's access) or raises ``NotFound``;
    ``fields`` lists the fields the admin offers in conditions (documentation, not a limit);
    ``owner_field`` names the field holding the owner's user id (self-approval and record rules).
    """

    name: str
    model: Any
    load: Callable[[Any, int], Any]
    owner_field: str | None = "owner_id"
    label: str = ""
    fields: tuple[str, ...] = ()
    write_permission: str | None = None


@dataclass
class OAState:
    """The authoritative state of one approval at its OA: normalised status and the decisions."""

    external_id: str
    status: str  # submitting, pending, approved, rejected, withdrawn, terminated, revoked, unknown
    decisions: list[dict[str, Any]] = field(default_factory=list)  # {"approver", "decision", "comment", "at"}
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class OACallbackEvent:
    """One verified callback event: which approval, what happened, and its per-event dedupe key."""

    dedupe_key: str
    external_id: str | None
    event_type: str
    status_hint: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
