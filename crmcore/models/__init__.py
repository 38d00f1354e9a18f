"""The core's tables. Importing this package registers them on ``Base.metadata``."""
from .audit import AuditLog
from .auth import ApiToken, Role, Team, User
from .custom_field import ChangeStamp, CustomField
from .customer import Address, Contact, Customer, Tag, customer_tags
from .integration import ExternalRef, JobExecution, JobRun, OutboxDestination, OutboxMessage, SyncState
from .identity import CustomerIdentity
from .interaction import Interaction
from .security import LoginFailure, RateLimitHit
from . import search  # noqa: F401  # the search indexes, created with the tables
from .workflow import (ApprovalDecision, ApprovalPolicy, ApprovalRequest, ApprovalTask, ApprovalTier, WorkflowDefinition,
                       WorkflowState, WorkflowTransition)

__all__ = [
    "Address", "ApiToken", "AuditLog", "ChangeStamp", "Contact", "CustomField", "Customer", "CustomerIdentity", "ExternalRef",
    "Interaction", "JobExecution", "JobRun", "LoginFailure", "OutboxDestination", "OutboxMessage", "RateLimitHit", "Role", "SyncState", "Tag", "Team", "User",
    "customer_tags",
    "ApprovalDecision", "ApprovalPolicy", "ApprovalRequest", "ApprovalTask", "ApprovalTier", "WorkflowDefinition", "WorkflowState", "WorkflowTransition",
]
