"""Stored conditions of the old forms mean the same after the data migrations: each old rule, run by
the old compiler or interpreter it was written for, selects the same rows as its rewrite in the one
language (SQLite, or PostgreSQL from CRM_TEST_DATABASE_URL); and the migrations rewrite the stored rows."""
from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import and_, not_, or_, select

from crmcore import conditions as cond
from crmcore.conditions.evaluate import _eval
from crmcore.conditions.upgrade import upgrade_compiled, upgrade_evaluated

from test_conditions_backends import FIELDS, Thing, session  # noqa: F401 - the fixture

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEXT = ("name",)


def old_analysis_sql(node: dict[str, Any]) -> Any:
    """The deleted ``plugins/analysis/services/tags.py`` compiler (three-valued: no guard on NULL)."""
    for key, combine in (("all", and_), ("any", or_)):
        if key in node:
            return combine(*[old_analysis_sql(n) for n in node[key]])
    if "not" in node:
        return not_(old_analysis_sql(node["not"]))
    col, op, value = FIELDS[node["field"]].expr, node["op"], node.get("value")
    if op == "is_null":
        return col.is_(None) if value in (True, None) else col.is_not(None)
    return {"eq": lambda: col == value, "ne": lambda: or_(col != value, col.is_(None)), "lt": lambda: col < value,
            "lte": lambda: col <= value, "gt": lambda: col > value, "gte": lambda: col >= value,
            "in": lambda: col.in_(value), "not_in": lambda: or_(col.not_in(value), col.is_(None))}[op]()


def old_sales_sql(node: dict[str, Any]) -> Any:
    """The deleted ``plugins/sales/services/conditions.py`` compiler (is_null finds only NULL)."""
    for key, combine in (("all", and_), ("any", or_)):
        if key in node:
            return combine(*[old_sales_sql(n) for n in node[key]])
    if "not" in node:
        return not_(old_sales_sql(node["not"]))
    col, op, value = FIELDS[node["field"]].expr, node["op"], node.get("value")
    if op == "is_null":
        return col.is_(None) if value else col.is_not(None)
    if op == "ne":
        return or_(col.is_(None), col != value)
    if op == "not_in":
        return or_(col.is_(None), col.not_in(value))
    return and_(col.is_not(None), {"eq": col.__eq__, "lt": col.__lt__, "lte": col.__le__, "gt": col.__gt__,
                                   "gte": col.__ge__, "in": col.in_, "contains": col.contains,
                                   "startswith": col.startswith}[op](value))


ANALYSIS_RULES: list[dict[str, Any]] = [
    {"not": {"field": "count", "op": "gt", "value": 0}},
    {"not": {"field": "name", "op": "eq", "value": "acme"}},
    {"not": {"field": "name", "op": "in", "value": ["acme", "Acme Ltd"]}},
    {"not": {"field": "name", "op": "in", "value": []}},
    {"not": {"not": {"field": "score", "op": "lte", "value": 15.5}}},
    {"not": {"all": [{"field": "count", "op": "gte", "value": 0}, {"not": {"field": "total", "op": "lt", "value": 100}}]}},
    {"not": {"any": [{"field": "score", "op": "eq", "value": 0}, {"field": "name", "op": "ne", "value": "acme"}]}},
    {"field": "name", "op": "is_null", "value": None},
    {"field": "name", "op": "is_null", "value": 0},
    {"not": {"field": "count", "op": "is_null", "value": 1}},
    {"all": [{"field": "count", "op": "gte", "value": 3}, {"not": {"field": "name", "op": "eq", "value": "lost"}}]},
    {"not": {"field": "name", "op": "not_in", "value": ["acme"]}},
]
SALES_RULES: list[dict[str, Any]] = [
    {"field": "name", "op": "is_null", "value": True},
    {"field": "name", "op": "is_null", "value": False},
    {"not": {"field": "name", "op": "is_null", "value": True}},
    {"not": {"field": "count", "op": "gt", "value": 0}},
    {"all": [{"field": "name", "op": "startswith", "value": "Acme"}, {"not": {"field": "total", "op": "lt", "value": 100}}]},
    {"any": [{"field": "count", "op": "is_null", "value": True}, {"field": "name", "op": "in", "value": ["", "acme"]}]},
]
WORKFLOW_RULES: list[dict[str, Any]] = [
    {"field": "name", "op": "is_null", "value": "yes"},
    {"not": {"field": "count", "op": "is_null", "value": 0}},
    {"field": "count", "op": "in", "value": [[5], 0, {"a": 1}]},
    {"field": "count", "op": "in", "value": list(range(-200, 1))},
    {"field": "count", "op": "not_in", "value": list(range(-3, 250))},
]


def _ids(db: Any, expr: Any) -> set[int]:
    return set(db.scalars(select(Thing.id).where(expr)))


def test_old_analysis_tag_rules_select_the_same_rows(session: Any) -> None:  # noqa: F811
    for rule in ANALYSIS_RULES:
        new = upgrade_compiled(rule, TEXT, three_valued=True)
        assert _ids(session, old_analysis_sql(rule)) == _ids(session, cond.compile_sql(new, FIELDS)), rule


def test_old_sales_metric_conditions_select_the_same_rows(session: Any) -> None:  # noqa: F811
    for rule in SALES_RULES:
        new = upgrade_compiled(rule, TEXT, three_valued=False)
        assert _ids(session, old_sales_sql(rule)) == _ids(session, cond.compile_sql(new, FIELDS)), rule
        assert old_sales_sql(new) is not None  # still readable by the old compiler (downgrade)


def test_old_workflow_conditions_answer_the_same(session: Any) -> None:  # noqa: F811
    records = list(session.scalars(select(Thing)))
    for rule in WORKFLOW_RULES:
        new = upgrade_evaluated(rule)
        assert cond.validate(new) == [], rule
        for record in records:
            assert _eval(rule, record, None, {}, {}) == cond.evaluate(new, record), (rule, record.id)
    assert upgrade_evaluated(WORKFLOW_RULES[1]) == {"not": {"field": "count", "op": "is_null", "value": False}}


def _run_migration(database: Any, path: str) -> None:
    spec = importlib.util.spec_from_file_location("migration_under_test", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with database.engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            module.upgrade()


def test_the_migrations_rewrite_stored_rules(database: Any) -> None:
    from crmcore.models import ApprovalPolicy, ApprovalTier
    from plugins.analysis.models import TagRule
    from plugins.sales.models import Metric

    for model in (TagRule, Metric):
        model.__table__.create(database.engine, checkfirst=True)
    s = database.session
    old_tag = {"not": {"field": "churn_score", "op": "gt", "value": 0.8}}
    old_metric = {"field": "lost_reason", "op": "is_null", "value": True}
    old_tier = {"field": "total", "op": "is_null", "value": "yes"}
    policy = ApprovalPolicy(name="p", entity="quote")
    s.add_all([TagRule(name="r", tag="t", conditions=old_tag), Metric(name="m", label="M", entity="opportunity",
                                                                    conditions=old_metric),
               ApprovalTier(policy=policy, step=1, condition=old_tier)])
    s.commit()
    for path in ("crmcore/migrations/versions/0004_core_conditions.py",
                 "plugins/sales/migrations/0002_sales_metric_conditions.py",
                 "plugins/analysis/migrations/0003_analysis_tag_rule_conditions.py"):
        _run_migration(database, path)
    s.expire_all()
    assert s.scalar(select(TagRule.conditions)) == {"not": {"any": [
        {"field": "churn_score", "op": "is_null", "value": True}, {"field": "churn_score", "op": "gt", "value": 0.8}]}}
    assert s.scalar(select(Metric.conditions)) == {"all": [{"field": "lost_reason", "op": "is_null", "value": True},
                                                          {"field": "lost_reason", "op": "ne", "value": ""}]}
    assert s.scalar(select(ApprovalTier.condition)) == {"field": "total", "op": "is_null", "value": True}
