"""/api/v1/reports: definitions CRUD with ETag/If-Match and 422 per field, run, export; permissions and sharing."""
from __future__ import annotations

import io

REVENUE = {"name": "Revenue by month and province", "entity": "order",
           "measures": [{"agg": "sum", "field": "total"}],
           "group_by": [{"field": "order_date", "bucket": "month"}, {"field": "customer.province"}],
           "filters": {"field": "customer.level", "op": "eq", "value": "VIP"}, "display": "stacked_bar"}


def test_crud_run_and_export(client, admin_headers, shop):
    created = client.post("/api/v1/reports", json={**REVENUE, "shares": [{"role": "sales"}]}, headers=admin_headers)
    assert created.status_code == 201, created.json
    rid, etag = created.json["id"], created.headers["ETag"]
    assert created.json["shares"] == [{"role": "sales"}]
    run = client.get(f"/api/v1/reports/{rid}/run", headers=admin_headers)
    assert run.status_code == 200
    assert [(r["cells"], r["values"]) for r in run.json["rows"]] == [
        (["2026-01", "浙江省"], ["100.00"]), (["2026-02", "广东省"], ["70.00"]), (["2026-02", "浙江省"], ["50.00"])]
    assert [c["label"] for c in run.json["columns"]] == ["Date (month)", "Customer · Province", "Sum of Total"]
    csv = client.get(f"/api/v1/reports/{rid}/export?format=csv", headers=admin_headers)
    assert csv.status_code == 200 and "浙江省" in csv.get_data(as_text=True)
    xlsx = client.get(f"/api/v1/reports/{rid}/export?format=xlsx", headers=admin_headers)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    import zipfile

    sheet = zipfile.ZipFile(io.BytesIO(xlsx.data)).read("xl/sharedStrings.xml").decode()
    assert "广东省" in sheet
    stale = client.patch(f"/api/v1/reports/{rid}", json={"row_limit": 10}, headers={**admin_headers, "If-Match": etag})
    assert stale.status_code == 200
    again = client.patch(f"/api/v1/reports/{rid}", json={"row_limit": 20}, headers={**admin_headers, "If-Match": etag})
    assert again.status_code == 412
    assert client.delete(f"/api/v1/reports/{rid}", headers=admin_headers).status_code == 204
    assert client.get(f"/api/v1/reports/{rid}", headers=admin_headers).status_code == 404


def test_422_names_each_field(client, admin_headers, shop):
    bad = client.post("/api/v1/reports", json={**REVENUE, "measures": [{"agg": "sum", "field": "nme"}],
                                               "group_by": [{"field": "order_date"}]}, headers=admin_headers)
    assert bad.status_code == 422
    assert set(bad.json["errors"]) >= {"measures.0.field", "group_by.0.bucket"}
    unsaved = client.post("/api/v1/reports/run", json={"entity": "order", "measures": [{"agg": "count"}]},
                          headers=admin_headers)
    assert unsaved.status_code == 200 and unsaved.json["rows"][0]["values"] == [4]


def test_shared_reports_run_under_the_readers_rules(client, make_user, admin_headers, shop, ctx):
    from crmcore.services import users as user_svc

    created = client.post("/api/v1/reports", json={**REVENUE, "filters": None, "name": "All revenue",
                                                   "shares": [{"role": "sales"}]}, headers=admin_headers)
    private = client.post("/api/v1/reports", json={**REVENUE, "name": "Private"}, headers=admin_headers)
    _, token = user_svc.create_token(ctx, shop["bob"])
    bob = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/reports", headers=bob)
    assert [r["name"] for r in listed.json["items"]] == ["All revenue"]
    assert client.get(f"/api/v1/reports/{private.json['id']}/run", headers=bob).status_code == 404
    run = client.get(f"/api/v1/reports/{created.json['id']}/run", headers=bob)
    assert [(r["cells"], r["values"]) for r in run.json["rows"]] == [(["2026-02", "广东省"], ["70.00"])]
    assert client.post("/api/v1/reports", json={**REVENUE, "name": "Mine"}, headers=bob).status_code == 403
    assert client.get("/api/v1/reports").status_code == 401
