"""Applying tag rules changes customers: it needs ``customer.write`` (the analyst, who changes
nothing, is refused everywhere), stays inside the actor's record scope, and leaves one audit entry
per customer whose tags changed."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from crmcore.models import AuditLog, Customer
from plugins.analysis.services import rfm, tags

AS_OF = dt.date(2026, 6, 30)
RULE = {"name": "Buyers", "tag": "buyer", "conditions": {"field": "frequency", "op": "gte", "value": 1}}


def _tagged(ctx: Any) -> set[int]:
    ctx.session.expire_all()
    return {c.id for c in ctx.session.scalars(select(Customer)) if "buyer" in [t.name for t in c.tags]}


def _people(ctx: Any, make_customer: Any, buy: Any, make_user: Any) -> tuple[Any, Any, list[Any], list[Any]]:
    """Two team-East customers, two of another team, each with one order; RFM run; one rule."""
    east_rep, _ = make_user("sales", team="East")
    west_rep, _ = make_user("sales", team="West")
    east = [make_customer(f"East {i}", owner=east_rep) for i in range(2)]
    west = [make_customer(f"West {i}", owner=west_rep) for i in range(2)]
    for k, c in enumerate(east + west):
        buy(c, 10 + k)
    east_ids, west_ids = [c.id for c in east], [c.id for c in west]
    rfm.run_rfm(ctx, AS_OF)
    tags.create_rule(ctx, RULE)
    return east_rep, west_rep, east_ids, west_ids


def test_analyst_cannot_apply_tag_rules(app: Any, ctx: Any, make_customer: Any, buy: Any, make_user: Any) -> None:
    _people(ctx, make_customer, buy, make_user)
    _, analyst = make_user("analyst")
    res = app.test_client().post("/api/v1/analysis/tag-rules/apply", headers=analyst)
    assert res.status_code == 403 and "customer.write" in res.json["message"]
    assert _tagged(ctx) == set()
    assert not ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "customer",
                                                          AuditLog.action == "updated")).all()


def test_manager_applies_within_team_and_each_customer_is_audited(app: Any, ctx: Any, make_customer: Any, buy: Any,
                                                                 make_user: Any, admin_headers: Any) -> None:
    _, _, east, west = _people(ctx, make_customer, buy, make_user)
    _, manager = make_user("manager", team="East")
    client = app.test_client()
    res = client.post("/api/v1/analysis/tag-rules/apply", headers=manager)
    assert res.status_code == 200, res.json
    assert _tagged(ctx) == set(east)  # the other team's customers are untouched
    entries = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "customer",
                                                         AuditLog.action == "updated")).all()
    tagged_entries = [e for e in entries if e.data.get("tag_rule") == "Buyers"]
    assert sorted(int(e.entity_id) for e in tagged_entries) == sorted(east)
    assert all(e.changes["tags"] == [[], ["buyer"]] and e.source == "api" for e in tagged_entries)

    # the whole-scope run (admin) tags the rest; tightening the rule removes it again, audited each time
    assert client.post("/api/v1/analysis/tag-rules/apply", headers=admin_headers).status_code == 200
    assert _tagged(ctx) == set(east + west)
    rule = tags.list_rules(ctx)[0]
    tags.update_rule(ctx, rule.id, {"conditions": {"field": "frequency", "op": "gte", "value": 5}})
    tags.apply_rules(ctx)
    assert _tagged(ctx) == set()
    removals = [e for e in ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "customer"))
                if e.data.get("tag_rule") == "Buyers" and e.changes["tags"] == [["buyer"], []]]
    assert sorted(int(e.entity_id) for e in removals) == sorted(east + west)
