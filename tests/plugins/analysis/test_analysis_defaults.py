"""What a data scientist gets from the analyses through the user's paths (``crm analyze``, the API,
the admin): the published CDNOW parameters with the default settings, the penalizer as an option
and its fallback said aloud, orders without an exchange rate and stale history warned about, JSON
output that is JSON, CLV inputs named apart from RFM's, no P(alive) for one-time buyers, only
rules with lift above 1 as the strongest, CLV bands that neither overlap nor go negative, and a
caveat wherever a churn model near chance is shown."""
from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import json
import re
from decimal import Decimal
from itertools import pairwise
from typing import Any, Callable

import pytest
from sqlalchemy import insert, select

from crmcore.plugins import register_commands
from crmcore.models import Customer
from plugins.analysis.models import ChurnScore, ClvScore, ModelFit, RfmScore
from plugins.analysis.services import clv
from plugins.sales.models import Order

AS_OF = dt.date(2026, 6, 30)  # the conftest builders date orders back from this day
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def analyze(app: Any) -> Callable[..., Any]:
    """``analyze("clv", "--json")`` runs ``crm analyze clv --json`` with click's runner."""
    from crmcore.cli import cli

    register_commands(app.extensions["crm"].pm, cli)
    runner = app.test_cli_runner()
    yield lambda *args: runner.invoke(cli, ["analyze", *args])
    cli.commands.pop("analyze", None)


@pytest.fixture
def shop(make_customer: Any, buy: Any) -> list[Any]:
    """Twelve customers: i buys i % 4 + 1 times, 25 days apart, the last 8*i days ago."""
    people = []
    for i in range(12):
        c = make_customer(f"Client {i:02d}")
        for k in range(i % 4 + 1):
            buy(c, 8 * i + 25 * k, f"{20 + 15 * i}.00")
        people.append(c)
    return people


def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/admin/auth/login")
    token = CSRF.search(page.text).group(1)
    assert client.post("/admin/auth/login", data={"csrf_token": token, "username": username,
                                                  "password": "password123"}).status_code == 302
    return client


# -- 1. the CLV fit: plain maximum likelihood by default, penalizer as an option ----------------------------

CDNOW_END = dt.date(1997, 9, 30)  # end of FHL's 39-week calibration period (T = 38.86 weeks = 272 days)


@pytest.fixture
def cdnow_orders(ctx: Any) -> int:
    """The CDNOW sample (2,357 customers, lifetimes' ``datasets/`` CSV read as a file) as sold orders:
    each customer's first order T weeks before the end of the calibration period, x repeat orders on
    distinct days up to t_x weeks after it, each worth zbar (the first order's amount does not count)."""
    path = importlib.metadata.distribution("lifetimes").locate_file(
        "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    customers = [{"name": f"CDNOW {i + 1}", "code": f"CDNOW-{i + 1:05d}", "kind": "person", "stage": "customer"}
                 for i in range(len(rows))]
    ids = list(ctx.session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), customers))
    orders = []
    for i, r in enumerate(rows):
        x, t_x, T, zbar = int(float(r["x"])), round(float(r["t_x"]) * 7), round(float(r["T"]) * 7), float(r["zbar"])
        assert x <= t_x or x == 0
        first = CDNOW_END - dt.timedelta(days=T)
        # repeat purchase days: the last on t_x, the others on distinct days 1..x-1 after the first
        days = [k for k in range(1, x)] + ([t_x] if x else [])
        amount = Decimal(str(round(zbar, 2)))
        for k, day in enumerate([0, *days]):
            orders.append({"number": f"CD{i:05d}-{k:03d}", "customer_id": ids[i],
                           "order_date": first + dt.timedelta(days=day), "currency": "CNY", "status": "confirmed",
                           "total": amount if day else Decimal("10.00"), "source": "erp", "version": 1})
    ctx.session.execute(insert(Order), orders)
    ctx.session.commit()
    return len(rows)


def test_cdnow_published_parameters_with_the_documented_command(analyze: Any, cdnow_orders: int) -> None:
    """`crm analyze clv --as-of 1997-09-30 --json` with nothing else gives FHL 2005's BG/NBD and
    Fader & Hardie 2013's Gamma-Gamma parameters and the true (unpenalised) log-likelihood."""
    out = analyze("clv", "--as-of", CDNOW_END.isoformat(), "--json")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["customers"] == cdnow_orders == 2357 and result["penalizer"] == 0
    bg, gg = result["bgnbd"], result["gamma_gamma"]
    assert bg["penalizer"] == 0 and bg["converged"] and gg["penalizer"] == 0 and gg["converged"]
    # published to 3 decimals: half a unit in the last digit plus 0.1 % (the CSV's weeks have 2 decimals)
    assert bg["r"] == pytest.approx(0.243, abs=0.0015)
    assert bg["alpha"] == pytest.approx(4.414, abs=0.01)
    assert bg["a"] == pytest.approx(0.793, abs=0.0015)
    assert bg["b"] == pytest.approx(2.426, abs=0.004)
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.5)
    assert gg["p"] == pytest.approx(6.25, abs=0.01)
    assert gg["q"] == pytest.approx(3.74, abs=0.01)
    assert gg["gamma"] == pytest.approx(15.44, abs=0.02)
    assert [w["code"] for w in result["warnings"]] == []


def test_penalizer_from_cli_and_api(app: Any, analyze: Any, shop: list[Any], make_user: Any) -> None:
    headers = make_user("analyst")[1]
    client = app.test_client()
    plain = client.post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat()}).json
    assert plain["penalizer"] == 0
    shrunk = client.post("/api/v1/analysis/clv/run", headers=headers,
                         json={"as_of": AS_OF.isoformat(), "penalizer": 0.5}).json
    assert shrunk["penalizer"] == 0.5 and shrunk["bgnbd"]["penalizer"] == 0.5
    assert shrunk["bgnbd"]["r"] != pytest.approx(plain["bgnbd"]["r"], rel=1e-3)
    # the reported log-likelihood is the model's own: a penalised fit can only be worse on it
    assert shrunk["bgnbd"]["log_likelihood"] <= plain["bgnbd"]["log_likelihood"] + 1e-6
    fit = app.extensions["crm"].context().session.scalar(select(ModelFit).where(ModelFit.kind == "bgnbd"))
    assert fit.params["penalizer"] == 0.5
    for bad in ("much", -1, True):
        res = client.post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat(), "penalizer": bad})
        assert res.status_code == 422 and "penalizer" in res.json["errors"], bad
    res = client.post("/api/v1/analysis/clv/run", headers=headers, json={"horizon_days": "soon"})
    assert res.status_code == 422 and "horizon_days" in res.json["errors"]
    out = analyze("clv", "--as-of", AS_OF.isoformat(), "--penalizer", "0.5", "--horizon-days", "30", "--json")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["bgnbd"]["penalizer"] == 0.5 and result["horizon_days"] == 30


def test_no_finite_maximum_falls_back_and_says_so(app: Any, analyze: Any, make_customer: Any, buy: Any,
                                                   make_user: Any) -> None:
    """Eight customers, every repeat purchase worth the same: the Gamma-Gamma likelihood grows without
    bound (no spread in spend) and so does BG/NBD's on so little data; the plain fits cannot converge,
    the run refits them with a small penalizer and says so in the API, the CLI and the admin."""
    for i in range(8):
        c = make_customer(f"Same {i}")
        for k in range(i % 3 + 1):
            buy(c, 5 * i + 20 * k, "50.00")
    headers = make_user("analyst", username="ana")[1]
    res = app.test_client().post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat()})
    assert res.status_code == 201, res.json
    notes = [w for w in res.json["warnings"] if w["code"] == "penalized_fallback"]
    assert [w["model"] for w in notes] == ["BG/NBD", "Gamma-Gamma"]
    assert res.json["bgnbd"]["converged"] and res.json["bgnbd"]["r"] < 100  # not running off to infinity
    assert res.json["gamma_gamma"]["penalizer"] == clv.FALLBACK_PENALIZER and res.json["penalizer"] == 0
    assert "penalizer 0.001" in notes[0]["message"]
    out = analyze("clv", "--as-of", AS_OF.isoformat())
    assert out.exit_code == 0 and "Warning: The Gamma-Gamma fit has no finite" in out.stderr
    admin = _login(app, "ana")
    assert "The Gamma-Gamma fit has no finite" in admin.get("/admin/analysis/dashboard/").text
    # stored with the fit, shown in the reader's language
    page = admin.get("/admin/analysis/dashboard/", headers={"Accept-Language": "zh-CN"})
    assert "Gamma-Gamma 在此数据上没有有限的最大似然解" in page.text


# -- 2. orders in a currency without a rate are left out loudly ---------------------------------------------

@pytest.fixture
def euro_buyer(ctx: Any, shop: list[Any], make_customer: Any, make_user: Any) -> Any:
    from plugins.sales.services.orders import record_order

    rep = make_user("sales", username="rep")[0]
    c = make_customer("Euro Buyer", rep)
    for n in range(2):
        record_order(ctx, {"number": f"EU{n}", "customer_id": c.id, "status": "confirmed", "currency": "EUR",
                           "order_date": (AS_OF - dt.timedelta(days=3 + 30 * n)).isoformat(),
                           "lines": [{"description": "goods", "quantity": 1, "unit_price": "500.00"}]})
    buy = record_order(ctx, {"number": "EU-CNY", "customer_id": c.id, "status": "confirmed",
                             "order_date": (AS_OF - dt.timedelta(days=60)).isoformat(),
                             "lines": [{"description": "goods", "quantity": 1, "unit_price": "70.00"}]})
    assert buy.currency == "CNY"
    return c


def test_missing_rate_is_warned_in_every_money_analysis(app: Any, ctx: Any, analyze: Any, euro_buyer: Any,
                                                          make_user: Any) -> None:
    headers = make_user("analyst", username="ana")[1]
    client = app.test_client()

    def missing(result: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [(w["source"], w["target"], w["orders"]) for w in result["warnings"] if w["code"] == "missing_rate"]

    res = client.post("/api/v1/analysis/rfm/run", headers=headers, json={"as_of": AS_OF.isoformat()})
    assert res.status_code == 201 and missing(res.json) == [("EUR", "CNY", 2)]
    assert "2 orders in EUR are left out" in res.json["warnings"][0]["message"]
    row = ctx.session.scalar(select(RfmScore).where(RfmScore.customer_id == euro_buyer.id))
    assert (row.frequency, row.monetary) == (1, Decimal("70.00"))  # the EUR orders are out, not worth 0
    res = client.post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat()})
    assert res.status_code == 201 and missing(res.json) == [("EUR", "CNY", 2)]
    row = ctx.session.scalar(select(ClvScore).where(ClvScore.customer_id == euro_buyer.id))
    assert row.repeat_purchases == 0  # one CNY order counted; the EUR ones neither repeat nor spend 0
    # a report in USD: the CNY orders need a CNY -> USD rate too (there is none)
    from plugins.sales.services import money

    money.set_rate(ctx, "USD", "7")
    res = client.post("/api/v1/analysis/rfm/run", headers=headers, json={"as_of": AS_OF.isoformat(), "currency": "USD"})
    assert missing(res.json) == [("EUR", "USD", 2)]
    out = analyze("rfm", "--as-of", AS_OF.isoformat())
    assert out.exit_code == 0 and "Warning: 2 orders in EUR are left out" in out.stderr
    out = analyze("clv", "--as-of", AS_OF.isoformat(), "--json")
    assert out.exit_code == 0 and missing(json.loads(out.stdout)) == [("EUR", "CNY", 2)]

    # the 360 panel's lifetime value and the 7P profile say which orders they could not count
    rep_headers = make_user("sales")[1]
    panels = client.get(f"/api/v1/customers/{euro_buyer.id}/panels", headers=headers).json
    rows = dict(next(p for p in panels if p["key"] == "analysis")["rows"])
    assert "2 orders in EUR are left out" in rows["Warning"]
    data = client.get(f"/api/v1/analysis/customers/{euro_buyer.id}/profile", headers=headers).json
    assert data["profitability"]["revenue"] == "70.00" and missing(data) == [("EUR", "CNY", 2)]
    assert client.get(f"/api/v1/analysis/customers/{euro_buyer.id}/profile", headers=rep_headers).status_code == 403
    admin = _login(app, "ana")
    assert "2 orders in EUR are left out" in admin.get(f"/admin/analysis/profile/?customer_id={euro_buyer.id}").text
    page = admin.get("/admin/analysis/dashboard/")
    assert "2 orders in EUR are left out" in page.text
    token = CSRF.search(page.text).group(1)
    done = admin.post("/admin/analysis/dashboard/run", data={"csrf_token": token, "kind": "rfm"}, follow_redirects=True)
    assert "RFM: 13 customers scored" in done.text and "2 orders in EUR are left out" in done.text
    make_user("sales", username="other")
    assert "orders in EUR" not in _login(app, "other").get("/admin/analysis/dashboard/").text  # not in their scope
    assert "2 orders in EUR are left out" in _login(app, "rep").get("/admin/analysis/dashboard/").text


# -- 3. history that ended long before the run date ---------------------------------------------------------

def test_stale_history_is_warned(app: Any, analyze: Any, make_customer: Any, buy: Any, make_user: Any) -> None:
    old_end = dt.date(2019, 12, 31)
    for i in range(6):
        c = make_customer(f"Old {i}")
        for k in range(i % 3 + 1):
            buy(c, 40 * k + 3 * i, f"{30 + 7 * i}.00", as_of=old_end)
    out = analyze("rfm", "--json")  # as of today: years after the last order
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    stale = [w for w in result["warnings"] if w["code"] == "stale_history"]
    assert stale and stale[0]["last_order"] == "2019-12-31" and stale[0]["days"] > 365
    assert "--as-of 2019-12-31" in out.stderr
    out = analyze("rfm", "--as-of", "2019-12-31", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["warnings"] == [] and "Warning" not in out.stderr
    out = analyze("cohorts")
    assert "--as-of 2019-12-31" in out.stderr
    headers = make_user("analyst")[1]
    res = app.test_client().post("/api/v1/analysis/basket/run", headers=headers, json={})
    assert res.status_code == 201 and [w["code"] for w in res.json["warnings"]] == ["stale_history"]
    res = app.test_client().get("/api/v1/analysis/cohorts", headers=headers)
    assert [w["last_order"] for w in res.json["warnings"]] == ["2019-12-31"]
    rep = make_user("sales")[1]  # a rep with no customers of their own: nothing to warn about
    assert app.test_client().get("/api/v1/analysis/cohorts", headers=rep).json["warnings"] == []
    assert analyze("rfm", "--as-of", "31/12/2019").exit_code == 2  # a usage error, not a traceback


# -- 4. JSON output, cohort headers, CLV names ---------------------------------------------------------------

def test_json_output_is_json_and_cohorts_have_headers(analyze: Any, shop: list[Any]) -> None:
    for args in (("rfm",), ("clv",), ("cohorts", "--months", "4"), ("basket",), ("churn", "--window", "7")):
        out = analyze(*args, "--as-of", AS_OF.isoformat(), "--json")
        if args[0] == "churn":  # 12 customers are too few to train: an error, and no JSON claimed
            assert out.exit_code != 0 and "Not enough history" in out.output
            continue
        assert out.exit_code == 0, out.output
        assert isinstance(json.loads(out.stdout), dict), args
    out = analyze("tags", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout) == {"applied": {}}
    out = analyze("cohorts", "--as-of", AS_OF.isoformat(), "--months", "4")
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "Cohort" in line)
    assert re.search(r"Cohort\s+Customers\s+M0\s+M1\s+M2\s+M3", lines[header])
    assert re.match(r"\s+2026-03\s+\d+\s+100\.0", lines[header + 1])
    assert "Retention" in out.stdout and "repeat_purchase_rate" in out.stdout


def test_clv_columns_are_named_apart_from_rfm(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    headers = make_user("analyst", username="ana")[1]
    client = app.test_client()
    assert client.post("/api/v1/analysis/clv/run", headers=headers, json={"as_of": AS_OF.isoformat()}).status_code == 201
    items = {i["customer"]: i for i in client.get("/api/v1/analysis/clv/customers?page_size=50", headers=headers).json["items"]}
    four = items["Client 03"]  # 4 orders 25 days apart, the last 24 days ago
    assert (four["repeat_purchases"], four["t_x_days"], four["age_days"]) == (3, 75, 99)
    assert "frequency" not in four and "recency_days" not in four
    csv_text = client.get("/api/v1/analysis/export/clv.csv", headers=headers).text
    assert csv_text.splitlines()[0].startswith("run_date,customer,customer_id,repeat_purchases,t_x_days,age_days,")
    # 5. P(alive) is not given for one-time buyers (BG/NBD says 1 for all of them)
    one = items["Client 00"]
    assert one["repeat_purchases"] == 0 and one["p_alive"] is None and 0 < four["p_alive"] <= 1
    panels = client.get(f"/api/v1/customers/{shop[0].id}/panels", headers=headers).json
    rows = dict(next(p for p in panels if p["key"] == "analysis")["rows"])
    assert "Lifetime value" in rows and not any("alive" in k for k in rows)
    rows = dict(next(p for p in client.get(f"/api/v1/customers/{shop[3].id}/panels", headers=headers).json
                     if p["key"] == "analysis")["rows"])
    assert "P(alive), repeat buyers only" in rows
    assert client.get(f"/api/v1/analysis/customers/{shop[0].id}/profile", headers=headers).json["prospecting"]["p_alive"] is None


def test_migration_renames_stored_clv_columns(tmp_path: Any) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from crmcore import migrate
    from crmcore.runtime import build_runtime

    rt = build_runtime({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.analysis"],
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path)})
    try:
        cfg = migrate.alembic_config(rt)
        command.upgrade(cfg, "heads")
        command.downgrade(cfg, "0001_analysis")
        with rt.db.engine.begin() as conn:
            conn.execute(text("INSERT INTO customers (id, code, name, kind, stage, currency, attributes, completeness, "
                              "created_at, updated_at, version) VALUES (1, 'C1', 'A', 'person', 'customer', 'CNY', "
                              "'{}', 0, '2026-01-01', '2026-01-01', 1)"))
            for cid_x in (0, 2):
                conn.execute(text(
                    "INSERT INTO analysis_clv_scores (run_date, customer_id, frequency, recency_days, age_days, "
                    "average_spend, expected_purchases, p_alive, expected_spend, clv, currency) "
                    "VALUES (:run_date, 1, :frequency, 10, 20, 5, 0.5, :p_alive, 5, 9, 'CNY')"),
                    {"run_date": f"2026-0{cid_x + 1}-01", "frequency": cid_x, "p_alive": 1.0 if cid_x == 0 else 0.7})
        command.upgrade(cfg, "heads")
        columns = {c["name"] for c in inspect(rt.db.engine).get_columns("analysis_clv_scores")}
        assert {"repeat_purchases", "t_x_days", "age_days"} <= columns and not {"frequency", "recency_days"} & columns
        with rt.db.engine.connect() as conn:
            rows = conn.execute(text("SELECT repeat_purchases, t_x_days, p_alive FROM analysis_clv_scores "
                                     "ORDER BY run_date")).all()
        assert [tuple(r) for r in rows] == [(0, 10, None), (2, 10, 0.7)]
    finally:
        rt.db.dispose()


# -- 5. lift, CLV bands, churn caveats ----------------------------------------------------------------------

def test_strongest_rules_have_lift_above_one(app: Any, ctx: Any, make_customer: Any, make_product: Any, buy: Any,
                                             make_user: Any) -> None:
    a, b, c, d = (make_product(n) for n in ("Apple", "Bread", "Cheese", "Dates"))
    who = make_customer("Basket")
    baskets = [[a, b]] * 2 + [[a]] * 2 + [[b]] * 4 + [[c, d]] * 2  # A->B: confidence .5, lift .5/.6 < 1
    for n, items in enumerate(baskets):
        buy(who, n, products=items)
    make_user("analyst", username="ana")
    headers = make_user("analyst")[1]
    client = app.test_client()
    run = client.post("/api/v1/analysis/basket/run", headers=headers, json={"as_of": AS_OF.isoformat()}).json
    assert run["rules"] == 4 and run["rules_lift_above_1"] == 2
    rules = client.get("/api/v1/analysis/basket/rules", headers=headers).json["items"]
    assert {(r["antecedent"], r["consequent"]) for r in rules} == {("Cheese", "Dates"), ("Dates", "Cheese")}
    assert all(r["lift"] > 1 for r in rules)
    page = _login(app, "ana").get("/admin/analysis/dashboard/").text
    section = page.split('id="rules"')[1].split("</section>")[0]
    assert "lift above 1" in section and "Cheese" in section and "Apple" not in section
    exported = client.get("/api/v1/analysis/export/rules.csv", headers=headers).text
    assert "Apple" in exported  # the export is the data: every rule, lift in its column
    # a later run where only the weak pair is left: rules exist, none is among the strongest
    later = AS_OF + dt.timedelta(days=20)
    for _ in range(2):
        buy(who, -20, products=[a, b])
    run = client.post("/api/v1/analysis/basket/run", headers=headers, json={"as_of": later.isoformat(), "days": 21}).json
    assert run["rules_lift_above_1"] == 0 and client.get("/api/v1/analysis/basket/rules", headers=headers).json == {"items": []}
    section = _login(app, "ana").get("/admin/analysis/dashboard/").text.split('id="rules"')[1].split("</section>")[0]
    assert "none with lift above 1" in section and "Apple" not in section


def test_clv_bands_do_not_overlap_or_go_negative(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    make_user("analyst", username="ana")
    clv.run_clv(ctx, AS_OF)
    run = dt.date(2026, 7, 1)  # a later run where most customers are worth (a rounded) nothing
    values = ["-0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "12.40", "30.00", "30.00", "81.00"]
    ctx.session.execute(insert(ClvScore), [
        {"run_date": run, "customer_id": c.id, "repeat_purchases": 0, "t_x_days": 0, "age_days": 1,
         "average_spend": 0, "expected_purchases": 0.0, "p_alive": None, "expected_spend": 0, "clv": Decimal(v),
         "currency": "CNY"} for c, v in zip(shop, values, strict=True)])
    ctx.session.commit()
    bands = clv.clv_distribution(ctx)
    assert sum(b["customers"] for b in bands) == 12
    assert all(b["min"] >= 0 for b in bands)
    assert all(x["max"] < y["min"] for x, y in pairwise(bands))
    assert bands[0]["customers"] == 8 and bands[0]["max"] == 0
    svg = _login(app, "ana").get("/admin/analysis/dashboard/").text.split('id="clv"')[1].split("</section>")[0]
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert not any(label.startswith(("-", "−")) for label in labels)
    assert labels.count("0") == 1 and "0–0" not in labels


def test_spend_without_a_finite_mean_is_not_negative(shop: list[Any], ctx: Any) -> None:
    from plugins.analysis.services import btyd

    summary = clv.load_summary(ctx, AS_OF, "CNY")
    bg = btyd.BgNbdParams(r=0.5, alpha=5.0, a=0.8, b=2.5)
    gg = btyd.GammaGammaParams(p=0.4, q=0.6, gamma=10.0)  # q < 1: E[spend] of a one-time buyer is infinite
    predictions, notes = clv.predict(summary, bg, gg, horizon_days=90, months=12, monthly_discount=0.01)
    assert (predictions["clv"] >= 0).all() and (predictions["expected_spend"] > 0).all()
    assert [n["code"] for n in notes] == ["spend_mean_undefined"]


@pytest.fixture
def demo(ctx: Any) -> None:
    from crmcore.demo import load_demo as core_demo
    from plugins.analysis.services.demo import load_demo
    from plugins.sales.services.demo import load_demo as sales_demo

    core_demo(ctx)
    sales_demo(ctx)
    load_demo(ctx)


def test_churn_model_near_chance_carries_a_caveat(app: Any, ctx: Any, analyze: Any, demo: None,
                                                   make_user: Any) -> None:
    """The demo's churn model is trained on a handful of customers (its AUC is near or under 0.5):
    the CLI, the API, the dashboard and the 360 panel say it is not to be trusted."""
    today = dt.date.today().isoformat()
    out = analyze("churn", "--as-of", today, "--json")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    codes = {w["code"] for w in result["warnings"]}
    assert "missing_rate" not in codes  # the demo's orders are in the catalogue's currency
    assert "small_data" in codes and ("auc_below_chance" in codes or "auc_near_chance" in codes or result["auc"] >= 0.6)
    assert "Warning: Too little data to judge the churn model" in out.stderr
    make_user("analyst", username="ana")
    headers = make_user("analyst")[1]
    body = app.test_client().get("/api/v1/analysis/churn/customers", headers=headers).json
    assert body["model"]["reliable"] is False and body["model"]["auc"] == round(result["auc"], 4)
    page = _login(app, "ana").get("/admin/analysis/dashboard/").text
    assert "Too little data to judge the churn model" in page.split('id="churn"')[1]
    riskiest = body["items"][0]
    customer_id = ctx.session.scalar(select(Customer.id).where(Customer.name == riskiest["customer"]))
    panels = app.test_client().get(f"/api/v1/customers/{customer_id}/panels", headers=headers).json
    rows = dict(next(p for p in panels if p["key"] == "analysis")["rows"])
    assert rows["Churn model"].startswith("Not reliable")


def test_churn_auc_below_chance(app: Any, ctx: Any, shop: list[Any], make_user: Any) -> None:
    """A stored model with AUC 0.42 on 400 held-out customers: data enough, but worse than chance."""
    ctx.session.add(ModelFit(kind="churn", run_date=AS_OF, params={"coefficients": {}},
                             metrics={"auc": 0.42, "test_customers": 400, "test_buy_rate": 0.5}))
    ctx.session.execute(insert(ChurnScore), [{"run_date": AS_OF, "customer_id": c.id, "purchase_probability": 0.3,
                                              "churn_score": 0.7} for c in shop])
    ctx.session.commit()
    make_user("analyst", username="ana")
    headers = make_user("analyst")[1]
    body = app.test_client().get("/api/v1/analysis/churn/customers", headers=headers).json
    assert [w["code"] for w in body["model"]["warnings"]] == ["auc_below_chance"]
    assert "worse than chance" in body["model"]["warnings"][0]["message"]
    zh = app.test_client().get("/api/v1/analysis/churn/customers", headers={**headers, "Accept-Language": "zh-CN"})
    assert "比随机还差" in zh.json["model"]["warnings"][0]["message"]
    page = _login(app, "ana").get("/admin/analysis/dashboard/").text
    assert "worse than chance" in page.split('id="churn"')[1]


def test_a_fit_that_fails_even_penalised_says_both(analyze: Any, demo: None) -> None:
    """On the demo's 14 customers nobody seems to drop out: BG/NBD's drop-out parameter a runs to 0
    with or without the fallback penalizer, and the run says both that it refitted and that the
    refit did not converge either."""
    out = analyze("clv", "--json")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    bgnbd = [w["code"] for w in result["warnings"] if w.get("model") == "BG/NBD"]
    assert bgnbd == ["penalized_fallback", "not_converged"] and result["bgnbd"]["converged"] is False
    assert "Warning: The BG/NBD fit did not converge (penalizer 0.001)" in out.stderr
