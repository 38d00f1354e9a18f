"""The analysis pages a manager reads: the 7P profile picked by name within the user's scope, with
labelled keys; CLV band labels that never overlap; the churn model's quality and caveats in words."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import insert

from crmcore.testing import admin_login
from plugins.analysis.admin.pages import _band_labels
from plugins.analysis.models import ClvScore
from plugins.analysis.services import churn, clv, rfm

AS_OF = dt.date(2026, 6, 30)


def _band(lo: str, hi: str, n: int = 1) -> dict[str, Any]:
    return {"customers": n, "min": Decimal(lo), "max": Decimal(hi), "total": Decimal(hi) * n}


def test_profile_picks_a_customer_by_name_within_the_scope(app: Any, ctx: Any, make_customer: Any,
                                                           make_user: Any, buy: Any) -> None:
    rep = make_user("sales", username="rep")[0]
    other = make_user("sales", username="other")[0]
    mine = [make_customer("Harbour Tea", rep), make_customer("Harbour Cups", rep)]
    make_customer("Harbour Secret", other)
    buy(mine[0], 10)
    client = admin_login(app.test_client(), "rep", lang="en")
    page = client.get("/admin/analysis/profile/")
    assert page.status_code == 200 and 'name="q"' in page.text and 'name="customer_id"' not in page.text
    found = client.get("/admin/analysis/profile/?q=Harbour")
    assert "Harbour Tea" in found.text and "Harbour Cups" in found.text
    assert "Harbour Secret" not in found.text  # another rep's customer is never offered
    assert f"customer_id={mine[0].id}" in found.text and "Persistency" not in found.text
    one = client.get("/admin/analysis/profile/?q=Harbour+Tea")  # a single match opens its profile
    assert "Persistency" in one.text and "<h2" in one.text and "Harbour Tea" in one.text
    none = client.get("/admin/analysis/profile/?q=Nobody")
    assert "No customer you may see matches this search." in none.text


def test_profile_keys_are_labels_in_the_readers_language(app: Any, ctx: Any, make_customer: Any,
                                                         make_user: Any, buy: Any) -> None:
    rep = make_user("sales", username="rep")[0]
    rep.full_name = "李四"
    ctx.session.commit()
    c = make_customer("茶馆", rep, industry="Retail")
    buy(c, 40)
    buy(c, 10)
    rfm.run_rfm(ctx, AS_OF)
    page = admin_login(app.test_client(), "rep", lang="zh-CN").get(f"/admin/analysis/profile/?customer_id={c.id}")
    assert page.status_code == 200
    for label in ("阶段", "负责人", "首次下单", "平均下单间隔（天）", "毛利率", "分群"):
        assert label in page.text
    for key in ("source_channel", "owner_id", "mean_days_between_orders", "margin_rate", "run_date", "segment"):
        assert f">{key}<" not in page.text
    assert "李四" in page.text  # the owner by name, not by id


def test_clv_band_labels_never_share_a_number() -> None:
    # 0.4-0.6 and 0.7-1.2 both read "1" in whole units: more decimals until neighbours differ
    labels = _band_labels([_band("0.4", "0.6"), _band("0.7", "1.2"), _band("5", "9")])
    assert labels == ["0.4–0.6", "0.7–1.2", "5.0–9.0"]
    assert _band_labels([]) == []
    assert _band_labels([_band("0", "0", 50)]) == ["0"]  # all equal: one band, one number
    assert _band_labels([_band("0", "120"), _band("130", "900")]) == ["0–120", "130–900"]


def test_churn_caveat_when_the_model_is_weak() -> None:
    assert [w["code"] for w in churn.caveats(0.65, 400, 150)] == ["auc_weak"]
    assert "0.65" in churn.caveats(0.65, 400, 150)[0]["message"]
    assert churn.caveats(0.8, 400, 150) == []
    assert [w["code"] for w in churn.caveats(0.8, 40, 5)] == ["small_data"]
    assert [w["code"] for w in churn.caveats(0.55, 400, 150)] == ["auc_near_chance"]


@pytest.mark.parametrize("values", [
    [],  # no run
    ["42.00"],  # one customer
    ["30.00"] * 12,  # all equal
    ["-50.00", "-0.01", "0.00", "5.00", "5.00", "7.50"],  # negative values (clamped to 0, one band)
    ["1.00", "2.00", "3.00", "4.00", "5.00", "6.00", "7.00", "8.00", "9.00", "10.00", "11.00", "250000.00"],  # an outlier
    ["0.40", "0.60", "0.70", "1.20", "1.30", "1.45", "2.00", "2.49", "2.51", "3.00"],  # close values
])
def test_clv_histogram_for_every_kind_of_data(ctx: Any, make_customer: Any, values: list[str]) -> None:
    """Whatever the values, the bands count every customer once, never go below 0, never overlap, and
    no two neighbouring labels share a number."""
    run = dt.date(2026, 7, 1)
    people = [make_customer(f"Band {i:02d}") for i in range(len(values))]
    if values:
        ctx.session.execute(insert(ClvScore), [
            {"run_date": run, "customer_id": c.id, "repeat_purchases": 0, "t_x_days": 0, "age_days": 1,
             "average_spend": 0, "expected_purchases": 0.0, "p_alive": None, "expected_spend": 0, "clv": Decimal(v),
             "currency": "CNY"} for c, v in zip(people, values, strict=True)])
        ctx.session.commit()
    bands = clv.clv_distribution(ctx)
    assert sum(b["customers"] for b in bands) == len(values)
    assert all(0 <= b["min"] <= b["max"] for b in bands)
    assert all(x["max"] < y["min"] for x, y in pairwise(bands))
    labels = _band_labels(bands)
    assert len(labels) == len(bands) and not any(label.startswith(("-", "−")) for label in labels)
    ends = [(label.split("–")[0], label.split("–")[-1]) for label in labels]
    assert all(x[1] != y[0] for x, y in pairwise(ends))
    if len(set(values)) == 1:
        assert len(bands) == 1 and labels == [values[0].split(".")[0]]


def test_dashboard_shows_model_quality_in_words(app: Any, ctx: Any, make_user: Any) -> None:
    """A manager reads the churn model's AUC and sample size with the weak-model caveat, the CLV fit's
    trouble in plain words (model names and the penalizer only under "Technical details"), and the CSV
    downloads by what they hold."""
    from plugins.analysis.models import ModelFit

    make_user("manager", username="mia")
    run = dt.date(2026, 7, 1)
    ctx.session.add_all([
        ModelFit(kind="churn", run_date=run, params={}, metrics={"auc": 0.65, "test_customers": 200,
                                                                 "test_buy_rate": 0.4}),
        ModelFit(kind="bgnbd", run_date=run, params={}, metrics={"warnings": [
            {"code": "penalized_fallback", "model": "BG/NBD", "penalizer": 0.001}]}),
    ])
    ctx.session.commit()
    page = admin_login(app.test_client(), "mia", lang="zh-CN").get("/admin/analysis/dashboard/").text
    churn_part = page.split('id="churn"')[1].split("</section>")[0]
    assert "基于 200 个客户检验，其中 80 个再次购买" in churn_part and "流失模型在留出期上较弱" in churn_part
    clv_part = page.split('id="clv"')[1].split("</section>")[0]
    assert "客户生命周期价值模型在这些数据上未能得到稳定的拟合结果" in clv_part
    outside = clv_part.split("<details")[0] + clv_part.split("</details>")[-1]
    assert "BG/NBD" not in outside and "penalizer" not in outside and "BG/NBD" in clv_part
    exports = page.split('id="exports"')[1].split("</section>")[0]
    assert "按首购月份的留存" in exports and ">cohorts<" not in exports and ">rfm<" not in exports


@pytest.mark.parametrize(("auc", "weak"), [(0.65, True), (0.82, False)])
def test_customer_panel_shows_the_churn_models_quality(app: Any, ctx: Any, make_customer: Any, make_user: Any,
                                                       auc: float, weak: bool) -> None:
    """Beside a churn score the customer 360 panel gives the model's AUC and sample size, and says in
    words when the model is weak."""
    from plugins.analysis.models import ChurnScore, ModelFit

    rep, headers = make_user("sales")
    c = make_customer("Panel Tea", rep)
    run = dt.date(2026, 7, 1)
    ctx.session.add_all([
        ModelFit(kind="churn", run_date=run, params={}, metrics={"auc": auc, "test_customers": 200, "test_buy_rate": 0.4}),
        ChurnScore(run_date=run, customer_id=c.id, purchase_probability=0.3, churn_score=0.7),
    ])
    ctx.session.commit()
    panels = app.test_client().get(f"/api/v1/customers/{c.id}/panels", headers=headers).json
    rows = dict(next(p for p in panels if p["key"] == "analysis")["rows"])
    assert rows["Churn risk"] == "70%"
    assert rows["Churn model"].startswith(f"AUC {auc:.2f} on the held-out period, tested on 200 customers.")
    assert ("The churn model is weak" in rows["Churn model"]) is weak
