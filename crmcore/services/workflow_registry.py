"""What plugins registered for workflows (predicates, actions, entities), collected once per runtime."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from ..plugins import collected

if TYPE_CHECKING:
    from ..runtime import ServiceContext

__all__ = ["actions", "collected", "entities"]


def entities(ctx: ServiceContext) -> dict[str, Any]:
    """The entities workflows can drive (``crm_register_workflow_entities``)."""
    return collected(ctx, "crm_register_workflow_entities", "workflow entity")


def actions(ctx: ServiceContext) -> dict[str, Any]:
    """The named actions (``crm_register_workflow_actions``)."""
    return collected(ctx, "crm_register_workflow_actions", "workflow action")
