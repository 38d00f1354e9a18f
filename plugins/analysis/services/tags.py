"""Customer tags from declarative rules over the analysis metrics: conditions in the core's language
compiled to SQL over a whitelist of typed fields (never ``eval``), refreshed by a job. A rule owns its tag:
after a refresh exactly the customers meeting the conditions carry it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, false, func, insert, select

from crmcore.conditions import Field, compile_sql
from crmcore.errors import NotFound, ValidationError
from crmcore.events import audit, record_change
from crmcore.i18n import _
from crmcore.models import AuditLog, Customer, Tag
from crmcore.models.customer import customer_tags
from crmcore.db import utcnow
from crmcore.services.access import scope_customers
from crmcore.services.tags import ensure_tag
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import ChurnScore, ClvScore, RfmScore, TagRule
from ..schemas import TagRuleSchema

# field -> (type, source table, column)
FIELDS: dict[str, tuple[str, Any, str]] = {
    "recency_days": ("num", RfmScore, "recency_days"),
    "frequency": ("num", RfmScore, "frequency"),
    "monetary": ("num", RfmScore, "monetary"),
    "r_score": ("num", RfmScore, "r_score"),
    "f_score": ("num", RfmScore, "f_score"),
    "m_score": ("num", RfmScore, "m_score"),
    "segment": ("str", RfmScore, "segment"),
    "clv": ("num", ClvScore, "clv"),
    "p_alive": ("num", ClvScore, "p_alive"),
    "expected_purchases": ("num", ClvScore, "expected_purchases"),
    "churn_score": ("num", ChurnScore, "churn_score"),
    "purchase_probability": ("num", ChurnScore, "purchase_probability"),
}
RULE_FIELDS = ("name", "tag", "conditions", "active")
_SCHEMA = TagRuleSchema()


def metrics_select(ctx: ServiceContext) -> Any:
    """Subquery: each customer's metrics from the latest RFM, CLV and churn runs (missing ones NULL)."""
    from .rfm import latest_run

    stmt = select(Customer.id.label("customer_id")).select_from(Customer)
    for model in (RfmScore, ClvScore, ChurnScore):
        run = latest_run(ctx, model)
        on = and_(model.customer_id == Customer.id, model.run_date == run) if run else false()
        stmt = stmt.outerjoin(model, on)
    for name, (_type, model, column) in FIELDS.items():
        stmt = stmt.add_columns(getattr(model, column).label(name))
    for spec in plugin_fields(ctx):
        stmt = stmt.add_columns(spec.expr(ctx).label(spec.field))
    return stmt.where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)).subquery("metrics")


def plugin_fields(ctx: ServiceContext) -> list[Any]:
    """The customer fields plugins compute (``crm_register_computed_fields``: social value, ...) beyond the
    metrics above: a tag rule may name them too."""
    from crmcore.entities import computed

    from .computed import computed_fields

    own = {spec.field for spec in computed_fields()}  # the latest runs' metrics: the columns above already
    return [spec for spec in computed(ctx, "customer") if spec.field not in FIELDS and spec.field not in own]


def condition_fields(columns: Any, kinds: dict[str, str] | None = None) -> dict[str, Field]:
    """The fields a tag rule's conditions may name, over ``columns`` (the metrics subquery's ``.c``); ``kinds``:
    the computed fields of :func:`plugin_fields` by name."""
    fields = {name: Field(name, kind, columns[name]) for name, (kind, _model, _column) in FIELDS.items()}
    fields.update({name: Field(name, kind, columns[name]) for name, kind in (kinds or {}).items()})
    return fields


def compile_conditions(node: Any, columns: Any, path: str = "conditions", kinds: dict[str, str] | None = None) -> Any:
    """Validate ``node`` and return the SQL condition over ``columns`` (the core's condition language)."""
    return compile_sql(node, condition_fields(columns, kinds), path)


def plugin_kinds(ctx: ServiceContext) -> dict[str, str]:
    return {spec.field: spec.kind for spec in plugin_fields(ctx)}


def validate_rule(ctx: ServiceContext, data: dict[str, Any], existing: TagRule | None) -> dict[str, Any]:
    """A tag rule's input checked by ``TagRuleSchema`` (name and tag within the model's lengths, conditions an
    object; all of them for a new rule, those given for ``existing``), then its conditions by the core's
    condition language over the metrics and its name free: the one validation of the API and the admin.
    Raises ``ValidationError`` with ``{field: [messages]}`` (a condition's errors under its path)."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if "conditions" in values:
            try:
                compile_conditions(values["conditions"], metrics_select(ctx).c, kinds=plugin_kinds(ctx))
            except ValidationError as exc:
                errors.update(exc.errors or {"conditions": [exc.message]})
        if values.get("name"):
            other = ctx.session.scalar(select(TagRule.id).where(TagRule.name == values["name"]))
            if other is not None and (existing is None or other != existing.id):
                errors["name"] = [_("A tag rule named '%(name)s' exists already.", name=values["name"])]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The tag rule is not valid."), check=check)


def create_rule(ctx: ServiceContext, data: dict[str, Any]) -> TagRule:
    ctx.require("analysis.manage")
    data = validate_rule(ctx, data, None)
    with unit_of_work(ctx):
        rule = TagRule(active=True)
        changes = apply_changes(rule, data, RULE_FIELDS)
        ctx.session.add(rule)
        ctx.session.flush()
        record_change(ctx, "analysis_tag_rule", "created", rule.id, changes)
    return rule


def update_rule(ctx: ServiceContext, rule_id: int, data: dict[str, Any]) -> TagRule:
    ctx.require("analysis.manage")
    rule = get_rule(ctx, rule_id)
    data = validate_rule(ctx, data, rule)
    with unit_of_work(ctx):
        changes = apply_changes(rule, data, RULE_FIELDS)
        if changes:
            record_change(ctx, "analysis_tag_rule", "updated", rule.id, changes)
    return rule


def delete_rule(ctx: ServiceContext, rule_id: int) -> None:
    ctx.require("analysis.manage")
    rule = get_rule(ctx, rule_id)
    with unit_of_work(ctx):
        ctx.session.delete(rule)
        record_change(ctx, "analysis_tag_rule", "deleted", rule_id, {"name": [rule.name, None]})


def get_rule(ctx: ServiceContext, rule_id: int) -> TagRule:
    ctx.require("analysis.read")
    rule = ctx.session.get(TagRule, rule_id)
    if rule is None:
        raise NotFound(_("Tag rule %(id)s does not exist.", id=rule_id))
    return rule


def list_rules(ctx: ServiceContext) -> list[TagRule]:
    ctx.require("analysis.read")
    return list(ctx.session.scalars(select(TagRule).order_by(TagRule.name)))


def apply_rules(ctx: ServiceContext) -> dict[str, int]:
    """Refresh every active rule's tag on the customers the actor may change; return ``{rule name:
    customers tagged}``. Changing customers' tags needs ``customer.write`` besides ``analysis.run``;
    an actor whose record scope is not ``all`` refreshes the tag only on the customers in that scope.
    Each customer whose tags changed gets an audit entry (written in one bulk INSERT per rule)."""
    ctx.require("analysis.run")
    ctx.require("customer.write")
    out: dict[str, int] = {}
    metrics = metrics_select(ctx)
    kinds = plugin_kinds(ctx)
    in_scope = None if ctx.scope == "all" else scope_customers(ctx, select(Customer.id))
    for rule in list(ctx.session.scalars(select(TagRule).where(TagRule.active.is_(True)).order_by(TagRule.id))):
        cond = compile_conditions(rule.conditions, metrics.c, kinds=kinds)
        matching = select(metrics.c.customer_id).where(cond)
        with unit_of_work(ctx):
            tag = ensure_tag(ctx, rule.tag)  # a concurrent run or customer write may create it too
            holders = select(customer_tags.c.customer_id).where(customer_tags.c.tag_id == tag.id)
            losing = holders.where(customer_tags.c.customer_id.not_in(matching))
            gaining = select(metrics.c.customer_id).where(cond, metrics.c.customer_id.not_in(holders))
            if in_scope is not None:
                losing = losing.where(customer_tags.c.customer_id.in_(in_scope))
                gaining = gaining.where(metrics.c.customer_id.in_(in_scope))
            removed_ids = list(ctx.session.scalars(losing))
            added_ids = list(ctx.session.scalars(gaining))
            _audit_tag_changes(ctx, rule, tag.name, added_ids, removed_ids)
            for chunk in _chunks(removed_ids):
                ctx.session.execute(delete(customer_tags).where(customer_tags.c.tag_id == tag.id,
                                                                customer_tags.c.customer_id.in_(chunk)))
            if added_ids:
                ctx.session.execute(insert(customer_tags), [{"customer_id": i, "tag_id": tag.id} for i in added_ids])
            count = ctx.session.scalar(select(func.count()).select_from(customer_tags).where(customer_tags.c.tag_id == tag.id))
            rule.last_applied_at, rule.last_count = utcnow(), int(count or 0)
            audit(ctx, "applied", "analysis_tag_rule", rule.id, data={"tag": rule.tag, "added": len(added_ids),
                                                                      "removed": len(removed_ids), "count": count})
        ctx.session.expire_all()  # customers' tag collections changed underneath the ORM
        out[rule.name] = int(count or 0)
    return out


def _chunks(ids: list[int], size: int = 500) -> Any:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _audit_tag_changes(ctx: ServiceContext, rule: TagRule, tag: str, added: list[int], removed: list[int]) -> None:
    """One ``customer``/``updated`` audit entry per customer whose tags change, with the tags before
    and after (as a customer edit records them), in one bulk INSERT."""
    changed = sorted(set(added) | set(removed))
    if not changed:
        return
    before: dict[int, list[str]] = {i: [] for i in changed}
    for chunk in _chunks(changed):
        rows = ctx.session.execute(select(customer_tags.c.customer_id, Tag.name)
                                   .join(Tag, Tag.id == customer_tags.c.tag_id)
                                   .where(customer_tags.c.customer_id.in_(chunk)).order_by(Tag.name))
        for customer_id, name in rows:
            before[customer_id].append(name)
    gained = set(added)
    now = utcnow()
    actor_id = getattr(ctx.actor, "id", None)
    entries = []
    for customer_id in changed:
        after = (sorted(before[customer_id] + [tag]) if customer_id in gained
                 else [n for n in before[customer_id] if n != tag])
        entries.append({"at": now, "actor_id": actor_id, "actor_label": ctx.actor_label, "source": ctx.source,
                        "action": "updated", "entity": "customer", "entity_id": str(customer_id),
                        "changes": {"tags": [before[customer_id], after]},
                        "data": {"tag_rule": rule.name, "tag_rule_id": rule.id}, "event_id": None})
    ctx.session.execute(insert(AuditLog), entries)
