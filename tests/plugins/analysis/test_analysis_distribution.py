"""Customer distribution: addresses in Chinese, pinyin or English matched to China's provinces and cities
(the division list of the cpca package), customers and revenue with growth by place, channel, segment and
owner under record scope; the API, the page in zh_CN and the CLI."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crmcore.services.contacts import add_address
from crmcore.testing.admin import admin_login
from plugins.analysis.services import regions
from plugins.analysis.services.distribution import distribution

AS_OF = dt.date(2026, 6, 30)


@pytest.mark.parametrize(("region", "city", "province", "place"), [
    ("广东省", "广州市", "广东省", "广州市"),
    ("广东", "深圳", "广东省", "深圳市"),
    ("Guangdong", "Shenzhen", "广东省", "深圳市"),
    ("Zhejiang Province", "Hangzhou City", "浙江省", "杭州市"),
    ("Shaanxi", "Xi'an", "陕西省", "西安市"),  # not 山西: the English spelling tells them apart
    ("山西", "太原", "山西省", "太原市"),
    (None, "杭州", "浙江省", "杭州市"),  # the province from the city
    ("上海市", "浦东新区", "上海市", "上海市"),  # a municipality is its own city
    (None, "Beijing", "北京市", "北京市"),
    ("浙江", "Nowhere", "浙江省", None),
    ("Atlantis", None, None, None),
])
def test_places_are_matched(region: str | None, city: str | None, province: str | None, place: str | None) -> None:
    provinces, cities = regions.divisions()
    assert len(provinces) == 34 and len(cities) > 330
    p, c = regions.locate(region, city)
    assert (provinces[p].name if p else None, cities[c].name if c else None) == (province, place)


@pytest.fixture
def spread(ctx: Any, make_customer: Any, buy: Any, make_user: Any) -> dict[str, Any]:
    rep, _ = make_user("sales", username="rep")
    a = make_customer("Canton A", rep, source_channel="wechat")
    b = make_customer("Canton B", source_channel="web")
    c = make_customer("Hangzhou C", source_channel="web")
    d = make_customer("Nowhere D")
    add_address(ctx, a.id, {"line1": "1 Road", "region": "广东省", "city": "广州市", "is_primary": True})
    add_address(ctx, a.id, {"line1": "Branch", "region": "浙江", "city": "杭州"})  # not the main one
    add_address(ctx, b.id, {"line1": "2 Road", "region": "Guangdong", "city": "Shenzhen"})
    add_address(ctx, c.id, {"line1": "3 Road", "region": "", "city": "杭州市"})
    buy(a, 10, "300.00")   # this year
    buy(a, 400, "100.00")  # the year before
    buy(b, 20, "50.00")
    buy(c, 500, "80.00")   # only the year before
    buy(d, 30, "20.00")
    return {"rep": rep, "a": a}


def test_by_province_and_city(ctx: Any, spread: dict[str, Any]) -> None:
    prov = distribution(ctx, "province", as_of=AS_OF)
    rows = {r["label"]: r for r in prov["rows"]}
    assert list(rows) == ["广东省", "浙江省"]
    gd = rows["广东省"]
    assert (gd["customers"], gd["buyers"], gd["revenue"], gd["previous"]) == (2, 2, pytest.approx(350),
                                                                             pytest.approx(100))
    assert gd["growth"] == pytest.approx(2.5) and gd["lon"] == pytest.approx(113.26641)
    zj = rows["浙江省"]
    assert (zj["customers"], zj["buyers"], zj["revenue"], zj["previous"], zj["growth"]) == (1, 0, 0, 80, -1.0)
    assert prov["unplaced"]["customers"] == 1 and prov["unplaced"]["revenue"] == pytest.approx(20)
    assert prov["total"]["customers"] == 4 and prov["total"]["revenue"] == pytest.approx(370)
    city = {r["label"]: r["customers"] for r in distribution(ctx, "city", as_of=AS_OF)["rows"]}
    assert city == {"广州市": 1, "深圳市": 1, "杭州市": 1}
    six = distribution(ctx, "province", as_of=AS_OF, months=6)
    assert {r["label"]: r["previous"] for r in six["rows"]}["广东省"] == 0  # 400 days ago is outside 6+6 months


def test_by_channel_owner_and_scope(rt: Any, ctx: Any, spread: dict[str, Any]) -> None:
    channels = {r["label"]: r["customers"] for r in distribution(ctx, "channel", as_of=AS_OF)["rows"]}
    assert channels == {"web": 2, "wechat": 1}
    owners = {r["label"]: r["customers"] for r in distribution(ctx, "owner", as_of=AS_OF)["rows"]}
    assert owners == {"rep": 1}
    mine = distribution(rt.context(actor=spread["rep"], source="test"), "province", as_of=AS_OF)
    assert [(r["label"], r["customers"]) for r in mine["rows"]] == [("广东省", 1)]
    assert mine["total"]["customers"] == 1


def test_api_page_and_cli(app: Any, client: Any, spread: dict[str, Any], admin_headers: dict[str, str],
                         crm_cli: Any) -> None:
    got = client.get("/api/v1/analysis/distribution?by=city&as_of=2026-06-30", headers=admin_headers)
    assert got.status_code == 200 and {r["label"] for r in got.json["rows"]} == {"广州市", "深圳市", "杭州市"}
    bad = client.get("/api/v1/analysis/distribution?by=planet", headers=admin_headers)
    assert bad.status_code == 422 and "by" in bad.json["errors"]
    assert client.get("/api/v1/analysis/distribution?months=0", headers=admin_headers).status_code == 422
    assert client.get("/api/v1/analysis/distribution").status_code == 401
    web = admin_login(app.test_client(), "root", lang="zh_CN")
    page = web.get("/admin/analysis/distribution/?by=province").text
    assert "客户分布" in page and "crm-bubble-map" in page and "广东省" in page and "未知" in page
    channel = web.get("/admin/analysis/distribution/?by=channel").text
    assert "微信" in channel and ">wechat<" not in channel  # the channel's word, not its code
    out = crm_cli(["analyze", "distribution", "--by", "province", "--as-of", "2026-06-30"])
    assert out.exit_code == 0, out.output
    assert "广东省" in out.output
