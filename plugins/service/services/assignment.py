"""Assignment rules: who gets a new ticket, by category, round robin or least loaded."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import User
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import AssignmentRule, Category, Ticket
from ..schemas import AssignmentRuleSchema
from .states import keys_in_phase

def _members(ctx: ServiceContext, rule: AssignmentRule) -> list[int]:
    ids = [int(i) for i in rule.member_ids or []]
    active = set(ctx.session.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True)))) if ids else set()
    return [i for i in ids if i in active]


def open_load(ctx: ServiceContext, user_ids: list[int]) -> dict[int, int]:
    """Open (not resolved or closed) tickets per user."""
    done = keys_in_phase(ctx, "done")
    rows = ctx.session.execute(select(Ticket.assignee_id, func.count(Ticket.id)).where(
        Ticket.assignee_id.in_(user_ids), Ticket.state.not_in(done)).group_by(Ticket.assignee_id))
    load = {uid: 0 for uid in user_ids}
    load.update({uid: n for uid, n in rows})
    return load


def choose_assignee(ctx: ServiceContext, ticket: Ticket) -> int | None:
    """Apply the first matching active rule (category rules before catch-all ones, then by position);
    return the chosen user id or None. Round robin remembers its last pick on the rule."""
    rules = ctx.session.scalars(select(AssignmentRule).where(
        AssignmentRule.active.is_(True),
        or_(AssignmentRule.category_id.is_(None), AssignmentRule.category_id == ticket.category_id))
        .order_by(AssignmentRule.category_id.is_(None), AssignmentRule.position, AssignmentRule.id))
    for rule in rules:
        members = _members(ctx, rule)
        if not members:
            continue
        if rule.strategy == "least_loaded":
            load = open_load(ctx, members)
            chosen = min(members, key=lambda uid: (load[uid], members.index(uid)))
        elif rule.strategy == "round_robin":
            after = members.index(rule.last_user_id) + 1 if rule.last_user_id in members else 0
            chosen = members[after % len(members)]
            rule.last_user_id = chosen
        else:
            chosen = members[0]
        return chosen
    return None


FIELDS = ("name", "category_id", "strategy", "member_ids", "position", "active")
_SCHEMA = AssignmentRuleSchema()


def validate_rule(ctx: ServiceContext, data: dict[str, Any], existing: AssignmentRule | None) -> dict[str, Any]:
    """An assignment rule's input checked by ``AssignmentRuleSchema`` (the name's length and the strategies
    from the model, at least one member) and the records it names (users, a category) that exist: the one
    validation of the API and the admin. Raises ``ValidationError`` with ``{field: [messages]}``."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        members = values.get("member_ids") or []
        if members and len(set(ctx.session.scalars(select(User.id).where(User.id.in_(members))))) < len(set(members)):
            errors["member_ids"] = [_("Give the ids of existing users.")]
        if values.get("category_id") is not None and ctx.session.get(Category, values["category_id"]) is None:
            errors["category_id"] = [_("No such category.")]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The assignment rule is not valid."),
                check=check)


def save_rule(ctx: ServiceContext, data: dict[str, Any], rule_id: int | None = None) -> AssignmentRule:
    """Create or change an assignment rule."""
    ctx.require("service.config.manage")
    rule = ctx.session.get(AssignmentRule, rule_id) if rule_id else AssignmentRule(active=True, position=100)
    if rule is None:
        raise NotFound(_("No such assignment rule."))
    data = validate_rule(ctx, data, rule if rule_id else None)
    with unit_of_work(ctx):
        changes = {}
        for key in FIELDS:
            if key in data and getattr(rule, key) != data[key]:
                changes[key] = [getattr(rule, key), data[key]]
                setattr(rule, key, data[key])
        if rule_id is None:
            ctx.session.add(rule)
        ctx.session.flush()
        record_change(ctx, "service_assignment_rule", "updated" if rule_id else "created", rule.id, changes)
    return rule
