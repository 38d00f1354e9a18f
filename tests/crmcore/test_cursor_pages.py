"""Large lists: keyset pages (cursor / next_cursor) stable under inserts, bad cursors refused with 400,
totals estimated (and flagged) above COUNT_EXACT_MAX."""
from __future__ import annotations

import datetime as dt

import pytest
from itsdangerous import URLSafeSerializer



def walk(client, h, url, sort_query=""):
    """Every item of a list, page by page through next_cursor."""
    seen, body = [], client.get(f"{url}?page_size=2{sort_query}", headers=h).json
    while True:
        seen += body["items"]
        if not body["next_cursor"]:
            return seen
        body = client.get(f"{url}?page_size=2{sort_query}&cursor={body['next_cursor']}", headers=h).json


@pytest.mark.parametrize("sort", ["name", "-name", "level", "-level", "-created_at", "code", "id", "-completeness"])
def test_cursor_walk_equals_the_offset_pages(client, make_user, sort):
    _, h = make_user("sales")
    for i, (name, level) in enumerate([("b", "gold"), ("a", None), ("b", None), ("c", "silver"), ("a", "gold"),
                                       ("d", None), ("b", "bronze")]):
        r = client.post("/api/v1/customers", json={"name": name, "code": f"K{i}", "level": level,
                                                   "phone": "13800138000" if i % 2 else None}, headers=h)
        assert r.status_code == 201
    full = client.get(f"/api/v1/customers?page_size=100&sort={sort}", headers=h).json
    assert full["next_cursor"] is None and full["total"] == 7 and full["total_estimated"] is False
    walked = walk(client, h, "/api/v1/customers", f"&sort={sort}")
    assert [c["code"] for c in walked] == [c["code"] for c in full["items"]]


def test_cursor_pages_are_stable_under_inserts(client, make_user):
    _, h = make_user("sales")
    for name in ("a1", "a3", "a5", "a7"):
        client.post("/api/v1/customers", json={"name": name}, headers=h)
    first = client.get("/api/v1/customers?page_size=2", headers=h).json
    assert [c["name"] for c in first["items"]] == ["a1", "a3"]
    client.post("/api/v1/customers", json={"name": "a0"}, headers=h)  # before the page we are on
    client.post("/api/v1/customers", json={"name": "a4"}, headers=h)  # after it
    second = client.get(f"/api/v1/customers?page_size=2&cursor={first['next_cursor']}", headers=h).json
    assert [c["name"] for c in second["items"]] == ["a4", "a5"]  # nothing repeated, nothing skipped
    third = client.get(f"/api/v1/customers?page_size=2&cursor={second['next_cursor']}", headers=h).json
    assert [c["name"] for c in third["items"]] == ["a7"] and third["next_cursor"] is None


def test_bad_cursors_are_400_with_a_clear_message(client, make_user, app):
    _, h = make_user("sales")
    for name in ("a", "b", "c"):
        client.post("/api/v1/customers", json={"name": name}, headers=h)
    good = client.get("/api/v1/customers?page_size=1", headers=h).json["next_cursor"]
    forged = URLSafeSerializer("not the key", salt="crm.list-cursor").dumps({"l": "customers", "s": "name",
                                                                            "v": ["' OR 1=1 --", 1]})
    for cursor in ("garbage", good[:-3] + "xyz", forged, "' OR 1=1 --"):
        r = client.get(f"/api/v1/customers?cursor={cursor}", headers=h)
        assert r.status_code == 400, cursor
        assert r.json["status"] == "bad_request" and "cursor" in r.json["errors"]
        assert "not given out by this server" in r.json["message"]
    r = client.get(f"/api/v1/customers?sort=-name&cursor={good}", headers=h)
    assert r.status_code == 400 and "another sort order" in r.json["message"]
    r = client.get(f"/api/v1/contacts?cursor={good}", headers=h)
    assert r.status_code == 400 and "another list" in r.json["message"]
    r = client.get(f"/api/v1/customers?cursor={good}", headers={**h, "Accept-Language": "zh-CN"})
    assert r.status_code == 200
    r = client.get("/api/v1/customers?cursor=garbage", headers={**h, "Accept-Language": "zh-CN"})
    assert r.status_code == 400 and "游标" in r.json["message"]


def test_totals_above_the_threshold_are_estimated_and_flagged(make_app, make_user):
    _, h = make_user("sales")
    client = make_app(COUNT_EXACT_MAX=3).test_client()  # a second app on the same database
    for i in range(3):
        client.post("/api/v1/customers", json={"name": f"c{i}"}, headers=h)
    body = client.get("/api/v1/customers", headers=h).json
    assert body["total"] == 3 and body["total_estimated"] is False
    for i in range(3, 6):
        client.post("/api/v1/customers", json={"name": f"c{i}"}, headers=h)
    body = client.get("/api/v1/customers?page_size=2", headers=h).json
    assert body["total_estimated"] is True and body["total"] >= 4
    # the estimate rides in the cursor: later pages count nothing and say the same
    second = client.get(f"/api/v1/customers?page_size=2&cursor={body['next_cursor']}", headers=h).json
    assert second["total_estimated"] is True and second["total"] == body["total"]
    assert len(walk(client, h, "/api/v1/customers")) == 6
    assert client.get("/api/v1/customers?q=c1", headers=h).json["total_estimated"] is False  # a search: exact


def test_every_large_list_pages_by_cursor(client, make_user, ctx, make_customer):
    user, h = make_user("admin")
    customer = make_customer("Acme", user)
    for i in range(5):
        assert client.post("/api/v1/contacts", json={"customer_id": customer.id, "name": f"p{i}"},
                           headers=h).status_code == 201
        when = (dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i % 2)).isoformat()
        assert client.post("/api/v1/interactions", json={"customer_id": customer.id, "channel": "phone",
                                                         "subject": f"t{i}", "occurred_at": when},
                           headers=h).status_code == 201
    assert [c["name"] for c in walk(client, h, "/api/v1/contacts")] == [f"p{i}" for i in range(5)]
    assert [i["subject"] for i in walk(client, h, "/api/v1/interactions")] == ["t3", "t1", "t4", "t2", "t0"]


def test_openapi_documents_cursor_and_next_cursor(client, admin_headers):
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    for path, schema in (("/api/v1/customers", "CustomerPage"), ("/api/v1/contacts", "ContactPage"),
                         ("/api/v1/interactions", "InteractionPage")):
        params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert {"cursor", "page"} <= params
        props = spec["components"]["schemas"][schema]["properties"]
        assert {"next_cursor", "total_estimated"} <= set(props)



def test_a_large_lists_estimate_is_kept_for_its_time_to_live(ctx, make_customer, monkeypatch):
    """On either database the estimate of a large list is made once and kept for ``COUNT_CACHE_SECONDS``: the next
    reader sends no ``EXPLAIN`` or count; with no time to keep it, each reader makes it again."""
    from sqlalchemy import event, select

    from crmcore.models import Customer
    from crmcore.services import listing

    for i in range(4):
        make_customer(f"Estimated {i}")
    sent = []

    def note(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    engine = ctx.session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        stmt = select(Customer).where(Customer.name.like("Estimated%"))
        monkeypatch.setitem(ctx.settings, "COUNT_EXACT_MAX", 2)
        monkeypatch.setitem(ctx.settings, "COUNT_CACHE_SECONDS", 60)
        first = listing.count(ctx, stmt)
        made = len(sent)
        assert first[1] is True and first[0] >= 3 and made == 2  # the capped count, then the estimate
        assert listing.count(ctx, stmt) == first and len(sent) == made + 1  # the capped count alone
        monkeypatch.setitem(ctx.settings, "COUNT_CACHE_SECONDS", 0)
        assert listing.count(ctx, stmt)[1] is True and len(sent) == made + 3  # made again
    finally:
        event.remove(engine, "before_cursor_execute", note)
