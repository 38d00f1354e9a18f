"""What plugins registered for workflows (predicates, actions, entities), collected once per runtime."""
from __future__ import annotations

from typing import Any

from ..plugins import _collect

_CACHE = "_crm_workflow_registry"


def collected(ctx: Any, hook_name: str, kind: str) -> dict[str, Any]:
    """``{name: item}`` from a ``crm_register_*`` collector; duplicate names are a ``PluginError``."""
    runtime = ctx.runtime
    cache = runtime.__dict__.setdefault(_CACHE, {})
    if hook_name not in cache:
        cache[hook_name] = _collect(runtime.pm, hook_name, kind)
    return cache[hook_name]


def entities(ctx: Any) -> dict[str, Any]:
    """The entities workflows can drive (``crm_register_workflow_entities``)."""
    return collected(ctx, "crm_register_workflow_entities", "workflow entity")


def actions(ctx: Any) -> dict[str, Any]:
    """The named actions (``crm_register_workflow_actions``)."""
    return collected(ctx, "crm_register_workflow_actions", "workflow action")
