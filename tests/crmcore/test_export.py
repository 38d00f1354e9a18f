"""CSV export of customers: the importer's columns, UTF-8 with/without BOM and GB18030, record
rules, formula-injection guard, and a round trip through `crm import customers`."""
from __future__ import annotations

import csv
import io

import crmcore.cli
from crmcore.services import customers as customer_svc
from crmcore.services import exporter


def _rows(data: bytes, encoding: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding))))


def _get(client, url, **kw):
    """GET a streamed export and close it, as a WSGI server does: closing the response ends the
    request and releases its database session (on PostgreSQL an open one blocks the next wipe)."""
    res = client.get(url, **kw)
    res.get_data()
    res.close()
    return res


def test_api_export_utf8_bom_gb18030_and_record_rules(client, make_user, ctx):
    rep, h = make_user("sales", username="rep1")
    other, _ = make_user("sales", username="rep2")
    customer_svc.create_customer(ctx, {"name": "张三商贸有限公司", "code": "C-ZS", "owner_id": rep.id,
                                       "phone": "+86 138 0013 8000", "tags": ["VIP", "华东"]})
    customer_svc.create_customer(ctx, {"name": "Other Co", "code": "C-OT", "owner_id": other.id})

    res = _get(client, "/api/v1/customers/export", headers=h)
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("text/csv; charset=utf-8")
    assert res.data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    rows = _rows(res.data, "utf-8-sig")
    assert [r["code"] for r in rows] == ["C-ZS"]  # a rep sees only own customers
    assert rows[0]["name"] == "张三商贸有限公司" and rows[0]["tags"] == "VIP;华东"
    assert rows[0]["phone"] == "+86 138 0013 8000"  # a phone number is not treated as a formula

    plain = _get(client, "/api/v1/customers/export?encoding=utf-8", headers=h)
    assert not plain.data.startswith(b"\xef\xbb\xbf") and _rows(plain.data, "utf-8")[0]["name"] == "张三商贸有限公司"
    gb = _get(client, "/api/v1/customers/export?encoding=gb18030", headers=h)
    assert gb.headers["Content-Type"].endswith("charset=gb18030")
    assert "张三商贸有限公司".encode("gb18030") in gb.data and _rows(gb.data, "gb18030")[0]["code"] == "C-ZS"

    bad = _get(client, "/api/v1/customers/export?encoding=latin-9", headers=h)
    assert bad.status_code == 422 and "encoding" in bad.json["errors"], bad.json
    assert _get(client, "/api/v1/customers/export").status_code == 401


def test_formula_cells_are_neutralised():
    assert exporter.safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert exporter.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert exporter.safe_cell("-12.5") == "-12.5" and exporter.safe_cell("+86-138-0013-8000") == "+86-138-0013-8000"
    assert exporter.safe_cell("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert exporter.safe_cell(None) == ""


def test_cli_export_round_trips_through_import(runner, ctx, tmp_path):
    for i in range(3):
        customer_svc.create_customer(ctx, {"name": f"深圳客户{i}", "code": f"SZ-{i}", "industry": "零售"})
    out = tmp_path / "customers.csv"
    res = runner.invoke(crmcore.cli.cli, ["export", "customers", "-o", str(out), "--encoding", "gb18030"])
    assert res.exit_code == 0, res.output
    rows = _rows(out.read_bytes(), "gb18030")
    assert [r["code"] for r in rows] == ["SZ-0", "SZ-1", "SZ-2"]
    # edit one row in the file, import it back: the import detects GB18030 and updates by code
    text = out.read_bytes().decode("gb18030").replace("深圳客户1", "深圳客户一")
    out.write_bytes(text.encode("gb18030"))
    res = runner.invoke(crmcore.cli.cli, ["import", "customers", str(out)])
    assert res.exit_code == 0, res.output
    assert "gb18030" in res.output and "updated 1" in res.output and "unchanged 2" in res.output
    fresh = ctx.fresh()
    try:
        assert customer_svc.get_by_code(fresh, "SZ-1").name == "深圳客户一"
    finally:
        fresh.session.close()


def test_admin_list_offers_export_and_streams_visible_customers(client, make_user, ctx):
    import re

    rep, _ = make_user("sales", username="rep1")
    customer_svc.create_customer(ctx, {"name": "张三商贸有限公司", "code": "C-ZS", "owner_id": rep.id})
    customer_svc.create_customer(ctx, {"name": "Hidden Co", "code": "C-HI"})
    assert _get(client, "/admin/customer/export.csv").status_code == 302  # login first
    page = client.get("/admin/auth/login")
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text).group(1)
    client.post("/admin/auth/login", data={"csrf_token": token, "username": "rep1", "password": "password123"})
    listing = client.get("/admin/customer/", headers={"Accept-Language": "en"})
    assert "export.csv?encoding=gb18030" in listing.text
    res = _get(client, "/admin/customer/export.csv?encoding=gb18030&q=zssm")  # pinyin initials search
    assert res.status_code == 200 and res.headers["Content-Type"] == "text/csv; charset=gb18030"
    assert [r["code"] for r in _rows(res.data, "gb18030")] == ["C-ZS"]
    bad = _get(client, "/admin/customer/export.csv?encoding=ebcdic")
    assert bad.status_code == 302
