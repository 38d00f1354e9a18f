"""The condition interpreter: operators, all/any/not, related records, named predicates, validation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmcore import hookimpl
from crmcore.contracts_workflow import Predicate
from crmcore.errors import ValidationError
from crmcore import conditions as cond
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc


@pytest.fixture
def acme(ctx):
    boss = user_svc.create_user(ctx, "boss", None, "manager", team="East")
    rep = user_svc.create_user(ctx, "rep", None, "sales", team="East")
    team = rep.team
    team.manager_id = boss.id
    ctx.session.commit()
    return customer_svc.create_customer(ctx, {"name": "Acme Ltd", "owner_id": rep.id, "stage": "prospect",
                                              "email": "buyer@acme.example"})


def test_leaf_operators(acme):
    assert cond.evaluate({"field": "name", "op": "eq", "value": "Acme Ltd"}, acme)
    assert cond.evaluate({"field": "name", "op": "startswith", "value": "acme"}, acme)
    assert cond.evaluate({"field": "name", "op": "contains", "value": "LTD"}, acme)
    assert cond.evaluate({"field": "stage", "op": "in", "value": ["lead", "prospect"]}, acme)
    assert not cond.evaluate({"field": "stage", "op": "not_in", "value": ["lead", "prospect"]}, acme)
    assert cond.evaluate({"field": "stage", "op": "ne", "value": "customer"}, acme)
    assert cond.evaluate({"field": "id", "op": "gte", "value": acme.id}, acme)
    assert not cond.evaluate({"field": "id", "op": "gt", "value": acme.id}, acme)


def test_numbers_compare_as_decimals_and_dates_as_dates():
    record = {"discount": Decimal("15.01"), "when": dt.date(2026, 3, 1), "flag": True, "n": 3}
    assert cond.evaluate({"field": "discount", "op": "gt", "value": 15}, record)
    assert not cond.evaluate({"field": "discount", "op": "gt", "value": "15.01"}, record)
    assert cond.evaluate({"field": "discount", "op": "lte", "value": 15.01}, record)
    assert cond.evaluate({"field": "when", "op": "lt", "value": "2026-03-02"}, record)
    assert cond.evaluate({"field": "flag", "op": "is_true"}, record)
    assert not cond.evaluate({"field": "n", "op": "eq", "value": "three"}, record)  # no crash, just false
    assert not cond.evaluate({"field": "flag", "op": "eq", "value": 1}, record)  # booleans are not numbers


def test_empty_values_fail_comparisons_except_negations():
    record = {"a": None}
    assert not cond.evaluate({"field": "a", "op": "gt", "value": 1}, record)
    assert not cond.evaluate({"field": "a", "op": "eq", "value": 1}, record)
    assert cond.evaluate({"field": "a", "op": "ne", "value": 1}, record)
    assert cond.evaluate({"field": "a", "op": "is_null"}, record)
    assert cond.evaluate({"field": "missing.deeper", "op": "is_null"}, record)


def test_all_any_not(acme):
    c = {"all": [{"field": "stage", "value": "prospect"},
                 {"any": [{"field": "name", "op": "eq", "value": "x"}, {"not": {"field": "email", "op": "is_null"}}]}]}
    assert cond.evaluate(c, acme)
    assert not cond.evaluate({"not": c}, acme)


def test_fields_of_related_records(acme):
    assert cond.evaluate({"field": "owner.username", "op": "eq", "value": "rep"}, acme)
    assert cond.evaluate({"field": "owner.team.manager.username", "op": "eq", "value": "boss"}, acme)
    assert cond.evaluate({"field": "owner.role.name", "op": "eq", "value": "sales"}, acme)
    # only mapped attributes are followed: properties and methods are not
    assert cond.resolve(acme, "owner.is_authenticated") is None
    assert cond.resolve(acme, "owner.get_id") is None


def test_changed_looks_at_the_write(acme):
    c = {"field": "stage", "op": "changed"}
    assert cond.evaluate(c, acme, changes={"stage": ["lead", "prospect"]})
    assert not cond.evaluate(c, acme, changes={"name": ["a", "b"]})


def test_validation_names_every_problem_by_path():
    problems = cond.validate({"all": [{"field": "total", "op": "bigger", "value": 1},
                                      {"field": "owner.password_hash", "op": "eq", "value": "x"},
                                      {"field": "stage", "op": "in", "value": "lead"},
                                      {"field": "__class__", "op": "eq", "value": 1},
                                      {"any": []},
                                      {"field": "x", "op": "gt"},
                                      "total > 5",
                                      {"predicate": "nope"}]})
    text = "\n".join(problems)
    assert "condition.all.0.op: unknown operator 'bigger'" in text
    assert "condition.all.1.field: 'password_hash' cannot be used" in text
    assert "condition.all.2.value: 'in' needs a list" in text
    assert "condition.all.3.field: '__class__' is not a field name" in text
    assert "condition.all.4.any: give a non-empty list" in text
    assert "condition.all.5.value: 'gt' needs a value" in text
    assert "condition.all.6: a condition is an object" in text
    assert "condition.all.7.predicate: unknown predicate 'nope'" in text
    assert len(problems) == 8


def test_resolve_never_reads_a_secret_even_unvalidated(acme):
    """Validation refuses secret-looking fields; ``resolve`` refuses them too (defence in depth)."""
    acme.owner.password_hash = "pbkdf2:sha256:the-hash"
    assert cond.resolve(acme, "owner.username") == "rep"
    assert cond.resolve(acme, "owner.password_hash") is None


def test_text_is_never_evaluated():
    record = {"total": 10}
    with pytest.raises(ValidationError) as err:
        cond.evaluate("__import__('os').system('echo hacked')", record)
    assert "condition" in err.value.errors
    with pytest.raises(ValidationError):
        cond.check({"field": "total", "op": "gt", "value": 5, "code": "1/0"})


def test_limits_on_size_and_depth():
    deep: dict = {"field": "a", "value": 1}
    for _ in range(cond.MAX_DEPTH + 2):
        deep = {"not": deep}
    assert any("nested too deep" in p for p in cond.validate(deep))
    wide = {"any": [{"field": "a", "value": i} for i in range(cond.MAX_NODES + 5)]}
    assert any("too many conditions" in p for p in cond.validate(wide))


def test_named_predicates_from_plugins(make_app):
    calls = []

    def big(ctx, record, args):
        calls.append(args)
        return record["total"] >= args["at_least"]

    def check_args(args):
        return [] if isinstance(args.get("at_least"), int) else ["give 'at_least' as a whole number"]

    class Plugin:
        @hookimpl
        def crm_register_condition_predicates(self):
            return [Predicate("test.big", big, "A big deal", check_args)]

    ctx = make_app(plugins=[("condtest", Plugin())]).extensions["crm"].context()
    c = {"all": [{"predicate": "test.big", "args": {"at_least": 100}}, {"field": "total", "op": "lt", "value": 1000}]}
    assert cond.validate(c, ctx) == []
    assert cond.evaluate(c, {"total": 150}, ctx) and not cond.evaluate(c, {"total": 50}, ctx)
    assert calls == [{"at_least": 100}, {"at_least": 100}]
    assert cond.validate({"predicate": "test.big", "args": {"at_least": "lots"}}, ctx) == [
        "condition.args: give 'at_least' as a whole number"]


def test_explain_shows_each_leaf_with_the_record_value(acme):
    rows = cond.explain({"all": [{"field": "stage", "value": "prospect"},
                                 {"field": "owner.username", "op": "eq", "value": "nobody"}]}, acme)
    assert rows == [("condition.all.0 stage eq prospect", "prospect", True),
                    ("condition.all.1 owner.username eq nobody", "rep", False)]


def test_fields_are_checked_against_the_model_with_near_names():
    from crmcore.models import Customer

    assert cond.validate({"field": "owner.team.name", "value": "East"}, model=Customer) == []
    assert cond.validate({"field": "attributes.region", "value": "north"}, model=Customer) == []
    problems = cond.validate({"field": "stgae", "value": "lead"}, model=Customer)
    assert len(problems) == 1 and problems[0].startswith("condition.field:") and "stage" in problems[0]
    assert "owner" in cond.validate({"field": "ownr.username", "value": "x"}, model=Customer)[0]
    assert "related record" in cond.validate({"field": "name.first", "value": "x"}, model=Customer)[0]


def test_a_workflow_with_a_misspelt_field_is_refused_naming_the_near_one(ctx):
    from crmcore.errors import ValidationError
    from crmcore.services import workflow

    with pytest.raises(ValidationError) as err:
        workflow.create_workflow(ctx, {
            "name": "typo", "entity": "customer", "state_field": "stage", "condition": {"field": "levle", "value": "A"},
            "states": [{"name": "lead", "initial": True}, {"name": "customer"}],
            "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer",
                             "guard": {"field": "owner.usernme", "value": "x"}}]})
    assert "level" in err.value.errors["condition"][0]
    assert "username" in err.value.errors["transitions.0.guard"][0]
