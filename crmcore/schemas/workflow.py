"""Schemas of workflows, approval policies, condition checks and approvals (the API's bodies).

Nested definitions (states, transitions, tiers, conditions) are checked by the services, which
name each problem by path; the schemas check the shapes.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from .common import Id, PageArgs, page_of

NAME = validate.Length(min=1, max=64)


class StateSchema(Schema):
    name = fields.Str(required=True, validate=NAME)
    label = fields.Str(allow_none=True)
    initial = fields.Bool(load_default=False)
    final = fields.Bool(load_default=False)
    on_enter = fields.Dict(keys=fields.Str(), load_default=dict)
    actions = fields.List(fields.Raw(), load_default=list)


class TransitionSchema(Schema):
    action = fields.Str(required=True, validate=NAME)
    label = fields.Str(allow_none=True)
    from_state = fields.Str(required=True, validate=NAME)
    to_state = fields.Str(required=True, validate=NAME)
    roles = fields.List(fields.Str(), load_default=list)
    guard = fields.Dict(allow_none=True)
    allow_self_approval = fields.Bool(load_default=False)
    policy = fields.Str(allow_none=True)


class WorkflowSchema(Schema):
    id = fields.Int(dump_only=True)
    version = fields.Int(load_default=None)
    name = fields.Str(required=True, validate=NAME)
    entity = fields.Str(required=True, validate=NAME)
    state_field = fields.Str(load_default="status", validate=NAME)
    description = fields.Str(allow_none=True)
    priority = fields.Int(load_default=100)
    condition = fields.Dict(allow_none=True)
    active = fields.Bool(load_default=True)
    states = fields.List(fields.Nested(StateSchema), required=True)
    transitions = fields.List(fields.Nested(TransitionSchema), load_default=list)




class TierSchema(Schema):
    step = fields.Int(validate=validate.Range(min=1, max=1000))
    name = fields.Str(allow_none=True)
    condition = fields.Dict(allow_none=True)
    reviewers = fields.List(fields.Dict(), required=True)
    quorum = fields.Int(load_default=1, validate=validate.Range(min=0, max=1000))
    mode = fields.Str(load_default="parallel", validate=validate.OneOf(["parallel", "sequential"]))
    comment_required_on_reject = fields.Bool(load_default=True)
    remind_after = fields.Int(allow_none=True, validate=validate.Range(min=1))
    timeout_after = fields.Int(allow_none=True, validate=validate.Range(min=1))
    escalate_to = fields.Dict(allow_none=True)


class PolicySchema(Schema):
    id = fields.Int(dump_only=True)
    name = fields.Str(required=True, validate=NAME)
    entity = fields.Str(required=True, validate=NAME)
    action = fields.Str(allow_none=True)
    provider = fields.Str(load_default="internal")
    template = fields.Str(allow_none=True)
    field_mapping = fields.Dict(keys=fields.Str(), values=fields.Str(), load_default=dict)
    key_fields = fields.List(fields.Str(), load_default=list)
    allow_self_approval = fields.Bool(load_default=False)
    compensation = fields.Str(allow_none=True)
    active = fields.Bool(load_default=True)
    tiers = fields.List(fields.Nested(TierSchema), required=True)


class ConditionCheckSchema(Schema):
    condition = fields.Raw(required=True)
    entity = fields.Str()
    record_id = Id()


class FireSchema(Schema):
    action = fields.Str(required=True, validate=NAME)
    comment = fields.Str(allow_none=True)


class ApprovalCommentSchema(Schema):
    comment = fields.Str(allow_none=True, validate=validate.Length(max=4000))


class ApprovalDecisionSchema(Schema):
    step = fields.Int(allow_none=True)
    decision = fields.Str()
    actor_id = fields.Int(allow_none=True)
    actor_label = fields.Str()
    comment = fields.Str(allow_none=True)
    source = fields.Str()
    at = fields.DateTime()


class ApprovalTaskSchema(Schema):
    id = fields.Int()
    request_id = fields.Int()
    step = fields.Int()
    approver_id = fields.Int()
    status = fields.Str()
    opened_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class ApprovalRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Int()
    policy = fields.Function(lambda r: r.policy.name)
    entity = fields.Str()
    entity_id = fields.Int()
    action = fields.Str()
    to_state = fields.Str(allow_none=True)
    provider = fields.Str()
    status = fields.Str()
    current_step = fields.Int(allow_none=True)
    steps = fields.List(fields.Int())
    requester_id = fields.Int(allow_none=True)
    external_id = fields.Str(allow_none=True)
    comment = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    tasks = fields.List(fields.Nested(ApprovalTaskSchema))
    decisions = fields.List(fields.Nested(ApprovalDecisionSchema))


class InboxItemSchema(ApprovalTaskSchema):
    request = fields.Nested(ApprovalRequestSchema(exclude=("tasks", "decisions")))


class ApprovalListArgs(PageArgs):
    status = fields.Str()
    entity = fields.Str()
    entity_id = Id()


ApprovalPage = page_of(ApprovalRequestSchema(exclude=("tasks", "decisions")), "ApprovalPage")
