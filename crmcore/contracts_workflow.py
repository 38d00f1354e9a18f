"""Value types the workflow hooks exchange: named condition predicates, named actions, the
entities a workflow can drive, and what the core needs of an approval provider."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from .runtime import ServiceContext


@dataclass(frozen=True)
class Predicate:
    """A named test usable in conditions: ``func(ctx, record, args) -> bool``.

    ``validate(args)`` returns a list of problems (empty when the arguments are fine).
    """

    name: str
    func: Callable[[ServiceContext, Any, dict[str, Any]], bool]
    description: str = ""
    validate: Callable[[dict[str, Any]], list[str]] | None = None


@dataclass(frozen=True)
class WorkflowAction:
    """A named action run on entering a state or to compensate a withdrawn or revoked approval:
    ``func(ctx, record, params)``, inside the transaction of the change. ``entities``: the workflow entities
    whose records it acts on (empty: any), so the admin offers it only for those."""

    name: str
    func: Callable[[ServiceContext, Any, dict[str, Any]], Any]
    description: str = ""
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkflowEntity:
    """An entity a workflow can drive: how to load a record and who owns it.

    ``load(ctx, id)`` returns the record (checking the reader's access) or raises ``NotFound``;
    ``fields`` lists the fields the admin offers in conditions (documentation, not a limit);
    ``owner_field`` names the field holding the owner's user id (self-approval and record rules);
    ``describe(ctx, record)`` says what the approval inbox shows of a record (a ``RecordSummary``);
    ``admin_endpoint`` is the record's admin model view (its details page is the inbox's link).
    """

    name: str
    model: Any
    load: Callable[[ServiceContext, int], Any]
    owner_field: str | None = "owner_id"
    label: str = ""
    fields: tuple[str, ...] = ()
    write_permission: str | None = None
    describe: Callable[[ServiceContext, Any], RecordSummary] | None = None
    admin_endpoint: str | None = None


@dataclass(frozen=True)
class RecordSummary:
    """What an approver needs to see of a record: its title, customer, amount and discount."""

    title: str
    customer: str | None = None
    amount: Any = None
    currency: str | None = None
    discount_percent: Any = None


class ApprovalProvider(Protocol):
    """What the core needs of an approval provider class (``crm_register_oa_providers``).

    A policy names its provider by ``name``; ``label`` is shown to people. The embedded
    ``internal`` path (tasks, inbox, decisions in the CRM) is the core's own and needs no provider
    class. Any other provider is handed each request through the transactional outbox: the core
    emits ``approval.submit`` and ``approval.cancel`` (``approvals.PROVIDER_TOPICS``, payload
    ``request_id``, ``provider``, ``idempotency_key``), and the provider's side reports every
    result through ``crmcore.services.approvals.apply_state`` (forward only). How a provider is
    configured, delivers, verifies callbacks and reconciles is its own (``adapters/oa``).
    """

    name: str
    label: str
