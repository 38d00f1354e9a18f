"""/api/v1/workflows: workflow definitions, approval policies, condition checks, firing actions."""
from __future__ import annotations

from typing import Any

from flask import Response

from ..errors import ValidationError
from ..i18n import _, gettext

from ..schemas.workflow import ConditionCheckSchema, FireSchema, PolicySchema, WorkflowSchema
from ..services import approvals as approval_svc
from .. import conditions
from ..services import workflow as svc
from ..services.diagram import render_svg
from .blueprint import Blueprint
from .http import current_ctx, json_body

blp = Blueprint("workflows", __name__, url_prefix="/api/v1/workflows",
                description="Workflows: state machines as data, approval policies, conditions")


@blp.route("")
def list_workflows() -> Any:
    """List workflow definitions (needs workflow.read)"""
    return {"items": [svc.describe(wf) for wf in svc.list_workflows(current_ctx())]}, 200


@blp.route("", methods=["POST"])
@json_body(blp, WorkflowSchema)
def create_workflow(data: dict[str, Any]) -> Any:
    """Create a workflow with its states and transitions (needs workflow.manage)"""
    data.pop("version", None)
    return svc.describe(svc.create_workflow(current_ctx(), data)), 201


@blp.route("/<int:workflow_id>")
def get_workflow(workflow_id: int) -> Any:
    """Get a workflow"""
    return svc.describe(svc.get_workflow(current_ctx(), workflow_id)), 200


@blp.route("/<int:workflow_id>", methods=["PUT"])
@json_body(blp, WorkflowSchema)
def put_workflow(data: dict[str, Any], workflow_id: int) -> Any:
    """Replace a workflow's definition; send the ``version`` you read (409 when stale)"""
    version = data.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationError(_("The workflow is not valid; see the errors of each field."),
                              errors={"version": [gettext("Not a valid integer.")]})
    return svc.describe(svc.update_workflow(current_ctx(), workflow_id, data, expected_version=version)), 200


@blp.route("/<int:workflow_id>", methods=["DELETE"])
def delete_workflow(workflow_id: int) -> Any:
    """Delete a workflow"""
    svc.delete_workflow(current_ctx(), workflow_id)
    return "", 204


@blp.route("/<int:workflow_id>/diagram.svg")
def diagram(workflow_id: int) -> Any:
    """The state machine as an SVG picture"""
    wf = svc.get_workflow(current_ctx(), workflow_id)
    return Response(render_svg(wf), mimetype="image/svg+xml")


@blp.route("/policies")
def list_policies() -> Any:
    """List approval policies"""
    return {"items": [approval_svc.describe_policy(p) for p in approval_svc.list_policies(current_ctx())]}, 200


@blp.route("/policies", methods=["POST"])
@json_body(blp, PolicySchema)
def create_policy(data: dict[str, Any]) -> Any:
    """Create an approval policy with its tiers (needs workflow.manage)"""
    return approval_svc.describe_policy(approval_svc.create_policy(current_ctx(), data)), 201


@blp.route("/policies/<int:policy_id>")
def get_policy(policy_id: int) -> Any:
    """Get an approval policy"""
    return approval_svc.describe_policy(approval_svc.get_policy(current_ctx(), policy_id)), 200


@blp.route("/policies/<int:policy_id>", methods=["PATCH"])
@json_body(blp, PolicySchema(partial=True))
def patch_policy(data: dict[str, Any], policy_id: int) -> Any:
    """Change an approval policy; ``tiers``, when given, replace all"""
    return approval_svc.describe_policy(approval_svc.update_policy(current_ctx(), policy_id, data)), 200


@blp.route("/conditions/check", methods=["POST"])
@blp.arguments(ConditionCheckSchema)
def check_condition(data: dict[str, Any]) -> Any:
    """Validate a condition; with ``entity`` and ``record_id``, evaluate it against that record (workflow.manage)"""
    ctx = current_ctx()
    ctx.require("workflow.read")
    problems = conditions.validate(data["condition"], ctx)
    body: dict[str, Any] = {"valid": not problems, "errors": problems}
    if not problems and data.get("entity") and data.get("record_id"):
        # evaluating reads any field the path reaches (related records too) and shows it: the designer's
        # tool, not every reader's
        ctx.require("workflow.manage")
        record = svc.load_record(ctx, data["entity"], data["record_id"])
        body["result"] = conditions.evaluate(data["condition"], record, ctx)
        body["explain"] = [{"leaf": leaf, "value": conditions_value(v), "result": r}
                           for leaf, v, r in conditions.explain(data["condition"], record, ctx)]
    return body, 200


def conditions_value(value: Any) -> Any:
    from ..events import jsonable

    value = jsonable(value)
    return value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else str(value)


@blp.route("/records/<entity>/<int:record_id>")
def record_actions(entity: str, record_id: int) -> Any:
    """The record's workflow, state and the actions you may fire"""
    return svc.available_actions(current_ctx(), entity, record_id), 200


@blp.route("/records/<entity>/<int:record_id>/fire", methods=["POST"])
@blp.arguments(FireSchema)
def fire(data: dict[str, Any], entity: str, record_id: int) -> Any:
    """Fire an action: the transition happens, or an approval request opens (202)"""
    result = svc.fire(current_ctx(), entity, record_id, data["action"], comment=data.get("comment"))
    return result, 202 if result["status"] == "pending_approval" else 200
