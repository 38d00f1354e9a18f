"""Workflow and approval tables: state machines as data, approval policies with tiers, requests,
reviewer tasks and recorded decisions (the OA adapter owns its own tables)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, created_ts, intpk, updated_ts, utcnow
from . import auth  # noqa: F401 - the classes its relationships name, mapped with it

REVIEWER_KINDS = ("user", "role", "field", "manager_of")
TIER_MODES = ("parallel", "sequential")
# normalised states of an approval (the OA contract's vocabulary)
APPROVAL_STATES = ("submitting", "pending", "approved", "rejected", "withdrawn", "terminated", "revoked", "unknown")
FINAL_STATES = ("approved", "rejected", "withdrawn", "terminated", "revoked")


class WorkflowDefinition(Base):
    """A state machine for one entity; several per entity, the first by priority whose condition matches."""

    __tablename__ = "workflow_definitions"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    entity: Mapped[str] = mapped_column(String(64), index=True)
    state_field: Mapped[str] = mapped_column(String(64), default="status")
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=100)
    condition: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    states: Mapped[list["WorkflowState"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", order_by="WorkflowState.position")
    transitions: Mapped[list["WorkflowTransition"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", order_by="WorkflowTransition.id")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class WorkflowState(Base):
    """A state of a workflow; ``on_enter`` sets fields when a record enters it, ``actions`` run named actions."""

    __tablename__ = "workflow_states"
    __table_args__ = (UniqueConstraint("workflow_id", "name", name="uq_workflow_states_name"),)

    id: Mapped[intpk]
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow_definitions.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)
    initial: Mapped[bool] = mapped_column(default=False)
    final: Mapped[bool] = mapped_column(default=False)
    on_enter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actions: Mapped[list[Any]] = mapped_column(default=list)

    workflow: Mapped[WorkflowDefinition] = relationship(back_populates="states")


class ApprovalPolicy(Base):
    """Who must approve, in which order, through which provider (``internal``, ``webhook``, ...)."""

    __tablename__ = "approval_policies"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    entity: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str | None] = mapped_column(String(64))  # for plugins whose state machine is code
    provider: Mapped[str] = mapped_column(String(32), default="internal")
    template: Mapped[str | None] = mapped_column(String(120))
    field_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    key_fields: Mapped[list[str]] = mapped_column(default=list)
    allow_self_approval: Mapped[bool] = mapped_column(default=False)
    compensation: Mapped[str | None] = mapped_column(String(120))  # a named action run on withdraw/revoke
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    tiers: Mapped[list["ApprovalTier"]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="ApprovalTier.step")

    def __str__(self) -> str:
        return self.name


class ApprovalTier(Base):
    """One step of a policy: applies when its condition holds; N of M reviewers, in parallel or in turn."""

    __tablename__ = "approval_tiers"
    __table_args__ = (UniqueConstraint("policy_id", "step", name="uq_approval_tiers_step"),)

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("approval_policies.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(default=1)
    name: Mapped[str | None] = mapped_column(String(120))
    condition: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    reviewers: Mapped[list[Any]] = mapped_column(default=list)  # [{"kind": "role", "value": "manager"}, ...]
    quorum: Mapped[int] = mapped_column(default=1)  # 0: every reviewer
    mode: Mapped[str] = mapped_column(String(16), default="parallel")
    comment_required_on_reject: Mapped[bool] = mapped_column(default=True)
    remind_after: Mapped[int | None]  # seconds
    timeout_after: Mapped[int | None]  # seconds
    escalate_to: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # a reviewer spec, or {"kind": "reject"}

    policy: Mapped[ApprovalPolicy] = relationship(back_populates="tiers")


class WorkflowTransition(Base):
    """An action moving a record from one state to another: allowed roles, guard, optional approval."""

    __tablename__ = "workflow_transitions"
    __table_args__ = (UniqueConstraint("workflow_id", "action", "from_state", name="uq_workflow_transitions_action"),)

    id: Mapped[intpk]
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow_definitions.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(120))
    from_state: Mapped[str] = mapped_column(String(64))
    to_state: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(default=list)  # empty: anyone with the entity's write access
    guard: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    allow_self_approval: Mapped[bool] = mapped_column(default=False)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("approval_policies.id", ondelete="SET NULL"))

    workflow: Mapped[WorkflowDefinition] = relationship(back_populates="transitions")
    policy: Mapped[ApprovalPolicy | None] = relationship()


class ApprovalRequest(Base):
    """One approval of one record's change, routed to a provider; moves forward only."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_record", "entity", "entity_id", "status"),)

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("approval_policies.id", ondelete="RESTRICT"), index=True)
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_transitions.id", ondelete="SET NULL"))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    current_step: Mapped[int | None]
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)  # key fields when submitted
    steps: Mapped[list[Any]] = mapped_column(default=list)  # applicable tier steps, ascending
    comment: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    decided_at: Mapped[dt.datetime | None]
    last_polled_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1, nullable=False)

    policy: Mapped[ApprovalPolicy] = relationship(lazy="joined")
    tasks: Mapped[list["ApprovalTask"]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="ApprovalTask.id")
    decisions: Mapped[list["ApprovalDecision"]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="ApprovalDecision.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


class ApprovalTask(Base):
    """One reviewer's turn on one tier (the internal provider's inbox item)."""

    __tablename__ = "approval_tasks"
    __table_args__ = (Index("ix_approval_tasks_inbox", "approver_id", "status"),)

    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("approval_tiers.id", ondelete="SET NULL"))
    step: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, pending, approved, rejected, skipped
    escalated: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]

    request: Mapped[ApprovalRequest] = relationship(back_populates="tasks")
    approver = relationship("User", lazy="joined")


class ApprovalDecision(Base):
    """Every decision and state change of an approval: who, when, comment, source."""

    __tablename__ = "approval_decisions"

    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True)
    step: Mapped[int | None]
    decision: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[ApprovalRequest] = relationship(back_populates="decisions")


MODELS = [WorkflowDefinition, WorkflowState, ApprovalPolicy, ApprovalTier, WorkflowTransition, ApprovalRequest,
          ApprovalTask, ApprovalDecision]
