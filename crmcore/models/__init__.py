"""The core's tables. :func:`load_all` registers them all on ``Base.metadata``, and so does asking this package for
any of its names (``from crmcore.models import Customer``): what the app, the migrations and every service use.

A light command (``crm token list``) imports only the modules it needs (``crmcore.models.auth``): mapping the
core's thirty classes, and configuring them, cost it a fifth of its time. The modules it takes that way must name
in their relationships only classes of modules they import themselves.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: the modules of the core's tables, in the order they are loaded
MODULES = ("audit", "auth", "custom_field", "customer", "integration", "identity", "interaction", "security", "search",
           "workflow")
_WHERE = {
    "AuditLog": "audit", "ApiToken": "auth", "Role": "auth", "Team": "auth", "User": "auth",
    "ChangeStamp": "custom_field", "CustomField": "custom_field",
    "Address": "customer", "Contact": "customer", "Customer": "customer", "Tag": "customer", "customer_tags": "customer",
    "ExternalRef": "integration", "JobExecution": "integration", "JobRun": "integration",
    "OutboxDestination": "integration", "OutboxMessage": "integration", "SyncState": "integration",
    "CustomerIdentity": "identity", "Interaction": "interaction", "LoginFailure": "security", "RateLimitHit": "security",
    "ApprovalDecision": "workflow", "ApprovalPolicy": "workflow", "ApprovalRequest": "workflow", "ApprovalTask": "workflow",
    "ApprovalTier": "workflow", "WorkflowDefinition": "workflow", "WorkflowState": "workflow",
    "WorkflowTransition": "workflow",
}
__all__ = ["Address", "ApiToken", "ApprovalDecision", "ApprovalPolicy", "ApprovalRequest", "ApprovalTask",
           "ApprovalTier", "AuditLog", "ChangeStamp", "Contact", "CustomField", "Customer", "CustomerIdentity",
           "ExternalRef", "Interaction", "JobExecution", "JobRun", "LoginFailure", "OutboxDestination",
           "OutboxMessage", "RateLimitHit", "Role", "SyncState", "Tag", "Team", "User", "WorkflowDefinition",
           "WorkflowState", "WorkflowTransition", "customer_tags"]


def load_all() -> None:
    """Register every core table on ``Base.metadata`` (and map its class): before creating tables, comparing them
    with the migrations, or reading the metadata as a whole (a merge's references to a customer)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_all()  # whoever asks the package for a class gets all of them mapped, as before
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .audit import AuditLog
    from .auth import ApiToken, Role, Team, User
    from .custom_field import ChangeStamp, CustomField
    from .customer import Address, Contact, Customer, Tag, customer_tags
    from .identity import CustomerIdentity
    from .integration import ExternalRef, JobExecution, JobRun, OutboxDestination, OutboxMessage, SyncState
    from .interaction import Interaction
    from .security import LoginFailure, RateLimitHit
    from .workflow import (ApprovalDecision, ApprovalPolicy, ApprovalRequest, ApprovalTask, ApprovalTier,
                           WorkflowDefinition, WorkflowState, WorkflowTransition)
