"""Custom metrics: declarative conditions compiled to SQL over a whitelist (validated on save with
errors by path), count / sum / average, shared with roles or single users, values within record rules."""
from __future__ import annotations

import datetime as dt

import pytest

from plugins.sales.services import opportunities, stages
from crmcore.conditions import MAX_DEPTH, MAX_LIST, ConditionError, compile_sql
from plugins.sales.services.metric_entities import ENTITIES

UTC = dt.timezone.utc
WON_BIG = {"all": [{"field": "status", "op": "eq", "value": "won"},
                   {"any": [{"field": "amount", "op": "gte", "value": 1000},
                            {"field": "competitor", "op": "contains", "value": "Rival"}]},
                   {"not": {"field": "source_channel", "op": "in", "value": ["taobao"]}}]}


def compile_conditions(entity, conditions):
    return compile_sql(conditions, ENTITIES[entity].condition_fields())


@pytest.mark.parametrize("conditions, path", [
    ({"field": "password_hash", "op": "eq", "value": "x"}, "conditions.field"),
    ({"field": "amount", "op": "contains", "value": "1"}, "conditions.op"),
    ({"field": "amount", "op": "gt", "value": "lots"}, "conditions.value"),
    ({"field": "probability", "op": "in", "value": list(range(MAX_LIST + 1))}, "conditions.value"),
    ({"field": "probability", "op": "in", "value": [1, "x"]}, "conditions.value"),
    ({"field": "created_at", "op": "gt", "value": "2026-03-01T00:00:00"}, "conditions.value"),  # no time zone
    ({"all": [{"field": "status", "op": "eq", "value": "won"}, {"field": "x", "op": "eq", "value": 1}]},
     "conditions.all.1.field"),
    ({"any": []}, "conditions.any"),
    ({"all": [], "any": []}, "conditions"),
    ({"field": "status", "op": "eq", "value": "won", "sql": "1=1"}, "conditions"),
    ("__import__('os').system('true')", "conditions"),
])
def test_bad_conditions_are_refused_with_their_path(conditions, path):
    with pytest.raises(ConditionError) as err:
        compile_conditions("opportunity", conditions)
    assert path in err.value.errors


def test_conditions_nest_and_limit_depth():
    assert compile_conditions("opportunity", WON_BIG) is not None
    deep = {"field": "status", "op": "eq", "value": "won"}
    for _ in range(MAX_DEPTH + 1):
        deep = {"not": deep}
    with pytest.raises(ConditionError):
        compile_conditions("opportunity", deep)


def test_define_share_and_evaluate(client, ctx, admin_headers, make_user, make_customer):
    rep_a, ha = make_user("sales", team="East")
    rep_b, hb = make_user("sales", team="East")
    _, hm = make_user("manager", team="East")
    won, lost = (s for s in stages.list_stages(ctx) if s.is_won or s.is_lost)
    for owner, amount, competitor, stage in ((rep_a, "1500", None, won), (rep_a, "200", "Rival Ltd", won),
                                             (rep_a, "300", None, won), (rep_a, "5000", None, lost),
                                             (rep_b, "1000", None, won)):
        cust = make_customer(f"C{amount}", owner)
        opp = opportunities.create_opportunity(ctx, {"name": "x", "customer_id": cust.id, "owner_id": owner.id,
                                                     "amount": amount, "competitor": competitor,
                                                     "lost_reason": "price"}, at=dt.datetime(2026, 3, 2, tzinfo=UTC))
        opportunities.move_stage(ctx, opp.id, stage.id, at=dt.datetime(2026, 3, 5, tzinfo=UTC))

    body = {"name": "won_big", "label": "Big or contested wins", "entity": "opportunity", "conditions": WON_BIG,
            "aggregate": "sum", "field": "amount", "shares": [{"role": "manager"}, {"user_id": rep_a.id}]}
    assert client.post("/api/v1/sales/metrics", json=body, headers=ha).status_code == 403  # reps do not define
    r = client.post("/api/v1/sales/metrics", json=body, headers=admin_headers)
    assert r.status_code == 201, r.json
    metric = r.json
    assert sorted(s["user_id"] or 0 for s in metric["shares"]) == [0, rep_a.id]

    r = client.post("/api/v1/sales/metrics", json={**body, "name": "bad", "field": "status"}, headers=admin_headers)
    assert r.status_code == 422 and "field" in r.json["errors"]
    r = client.post("/api/v1/sales/metrics", json={**body, "name": "bad", "entity": "users"}, headers=admin_headers)
    assert r.status_code == 422 and "entity" in r.json["errors"]
    r = client.post("/api/v1/sales/metrics", json={**body, "name": "won_big"}, headers=admin_headers)
    assert r.status_code == 422 and "name" in r.json["errors"]
    r = client.post("/api/v1/sales/metrics", json={**body, "name": "bad", "shares": [{"role": "nobody"}]},
                    headers=admin_headers)
    assert r.status_code == 422

    # who sees it: A directly, the manager through the role; B not at all
    assert [m["name"] for m in client.get("/api/v1/sales/metrics", headers=ha).json] == ["won_big"]
    assert [m["name"] for m in client.get("/api/v1/sales/metrics", headers=hm).json] == ["won_big"]
    assert client.get("/api/v1/sales/metrics", headers=hb).json == []
    assert client.get(f"/api/v1/sales/metrics/{metric['id']}", headers=hb).status_code == 404

    def value(h: dict[str, str], q: str = "", period: str = "2026-03") -> object:
        return client.get(f"/api/v1/sales/metrics/{metric['id']}/value?period={period}{q}", headers=h)

    assert value(ha).json["value"] == "1700.00"  # A's own: 1500 + 200 (contested); 300 too small, 5000 lost
    assert value(hm).json["value"] == "2700.00"  # the team: + B's 1000
    assert value(hm, f"&rep_id={rep_b.id}").json["value"] == "1000.00"
    assert value(ha, f"&rep_id={rep_b.id}").status_code == 403
    assert value(ha, period="2026-04").json["value"] == "0.00"
    assert value(hb).status_code == 404

    # count and average; share changes take effect at once
    r = client.patch(f"/api/v1/sales/metrics/{metric['id']}", json={"aggregate": "avg", "shares": [{"role": "sales"}]},
                     headers=admin_headers)
    assert r.status_code == 200
    assert value(hb).json["value"] == "1000.00"
    assert value(ha).json["value"] == "850.00"  # (1500 + 200) / 2
    assert value(hm).status_code == 404
    r = client.patch(f"/api/v1/sales/metrics/{metric['id']}", json={"aggregate": "count", "conditions": None},
                     headers=admin_headers)
    assert r.json["field"] is None
    assert value(ha).json["value"] == 4
    assert client.delete(f"/api/v1/sales/metrics/{metric['id']}", headers=admin_headers).status_code == 204
