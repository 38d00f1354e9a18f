"""Running reports: one SQL query, groupings (dates by period in the company's zone, one hop away), measures with
money in the base currency, the reader's record rules, the row limit and the statement timeout."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import event

from crmcore.errors import ValidationError

REVENUE = {"entity": "order", "name": "Revenue", "measures": [{"agg": "sum", "field": "total"}],
           "group_by": [{"field": "order_date", "bucket": "month"}, {"field": "customer.province"}]}


def run(ctx, definition):
    from plugins.reports.services import definition as d, query

    values = d.validate_report(ctx, definition, None)
    return query.run(ctx, {**{k: None for k in d.EDITABLE}, **values, "row_limit": values.get("row_limit", 500)})


def table(result):
    return [(*row["cells"], *row["values"]) for row in result.rows]


def test_revenue_by_month_and_province_in_one_query(ctx, shop, rt):
    statements = []
    engine = rt.db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        from plugins.reports.services import query

        from plugins.reports.services import definition as d
        values = d.validate_report(ctx, REVENUE, None)
        stmt, _columns = query.build(ctx, {**{k: None for k in d.EDITABLE}, **values})
        statements.clear()
        query.execute(ctx, stmt)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len([s for s in statements if "sales_orders" in s]) == 1  # (PostgreSQL also sets the statement timeout)
    result = run(ctx, REVENUE)
    # the USD order (10.00 at 7.00) counts as 70.00 CNY
    assert table(result) == [("2026-01", "浙江省", Decimal("130.00")), ("2026-02", "广东省", Decimal("70.00")),
                             ("2026-02", "浙江省", Decimal("50.00"))]
    assert result.currency == "CNY"


def test_filters_counts_and_names_not_ids(ctx, shop):
    result = run(ctx, {"entity": "order", "name": "VIP", "measures": [{"agg": "count"}, {"agg": "avg", "field": "total"}],
                       "group_by": [{"field": "owner_id"}],
                       "filters": {"field": "customer.level", "op": "eq", "value": "VIP"}})
    assert table(result) == [("ann", 2, Decimal("75.00")), ("bob", 1, Decimal("70.00"))]
    assert [c.label for c in result.columns] == ["Owner", "Count", "Average Total"]


def test_order_lines_grouped_by_their_order_customer_province(ctx, shop):
    result = run(ctx, {"entity": "order_line", "name": "Lines", "measures": [{"agg": "sum", "field": "line_total"}],
                       "group_by": [{"field": "order.customer_id"}]})
    assert {row["cells"][0]: row["values"][0] for row in result.rows} == {
        "杭州茶庄": Decimal("150.00"), "宁波船厂": Decimal("30.00"), "广州酒家": Decimal("70.00")}


def test_a_rep_sees_only_own_records(rt, shop):
    reader = rt.context(actor=shop["bob"])
    result = run(reader, {"entity": "order", "name": "Mine", "measures": [{"agg": "count"}]})
    assert table(result) == [(1,)]
    lines = run(reader, {"entity": "order_line", "name": "Mine", "measures": [{"agg": "count"}]})
    assert table(lines) == [(1,)]


def test_datetime_buckets_use_the_company_time_zone(ctx, make_customer):
    import datetime as dt

    from crmcore.models import Customer

    late = make_customer("Late")  # 2026-03-31 17:30 UTC is 2026-04-01 01:30 in Shanghai
    ctx.session.get(Customer, late.id).created_at = dt.datetime(2026, 3, 31, 17, 30, tzinfo=dt.timezone.utc)
    ctx.session.commit()
    result = run(ctx, {"entity": "customer", "name": "New", "measures": [{"agg": "count"}],
                       "group_by": [{"field": "created_at", "bucket": "quarter"}],
                       "filters": {"field": "name", "op": "eq", "value": "Late"}})
    assert table(result) == [("2026-Q2", 1)]
    for period, label in (("day", "2026-04-01"), ("week", "2026-03-30"), ("month", "2026-04"), ("year", "2026")):
        result = run(ctx, {"entity": "customer", "name": "New", "measures": [{"agg": "count"}],
                           "group_by": [{"field": "created_at", "bucket": period}],
                           "filters": {"field": "name", "op": "eq", "value": "Late"}})
        assert table(result) == [(label, 1)], period


def test_dst_zone_transitions_are_written_into_sqlite():
    from plugins.reports.services.periods import transitions

    import datetime as dt

    assert transitions("Asia/Shanghai")[-1] == (dt.datetime(1991, 9, 14, 17, 0), 480)  # China's last summer time
    berlin = transitions("Europe/Berlin")
    assert (berlin[0][1], len(berlin) > 100) == (60, True)
    spring = [at for at, minutes in berlin if at is not None and at.year == 2026]
    assert [str(at) for at in spring] == ["2026-03-29 01:00:00", "2026-10-25 01:00:00"]


def test_row_limit_says_it_cut(ctx, shop):
    result = run(ctx, {"entity": "order", "name": "Few", "measures": [{"agg": "count"}], "row_limit": 1,
                       "group_by": [{"field": "customer_id"}]})
    assert result.truncated and len(result.rows) == 1


def test_timeout_gives_a_clear_message(ctx, shop):
    import datetime as dt

    from sqlalchemy import insert

    from plugins.sales.models import Order

    customer = shop["杭州茶庄"]
    ctx.session.execute(insert(Order), [{"number": f"B-{i}", "customer_id": customer.id, "order_date": dt.date(2026, 3, 1),
                                         "currency": "CNY", "total": Decimal(1), "status": "confirmed", "source": "crm",
                                         "version": 1} for i in range(2000)])
    ctx.session.commit()
    assert run(ctx, REVENUE).rows  # in time
    ctx.runtime.settings["REPORTS_TIMEOUT_SECONDS"] = 1e-9
    with pytest.raises(ValidationError) as err:
        run(ctx, REVENUE)
    assert "longer than" in str(err.value.message)


@pytest.mark.parametrize("definition, path, words", [
    ({"entity": "nope"}, "entity", "choose one of"),
    ({"group_by": [{"field": "totl"}]}, "group_by.0.field", "total"),
    ({"group_by": [{"field": "order_date"}]}, "group_by.0.bucket", "day, week"),
    ({"group_by": [{"field": "status", "bucket": "month"}]}, "group_by.0.bucket", "period"),
    ({"measures": [{"agg": "sum", "field": "status"}]}, "measures.0.field", "total"),
    ({"measures": [{"agg": "count", "field": "total"}]}, "measures.0.field", "no field"),
    ({"measures": [{"agg": "median", "field": "total"}]}, "measures.0.agg", "sum"),
    ({"filters": {"field": "total", "op": "contains", "value": 1}}, "filters.op", "amount"),
    ({"row_limit": 10**6}, "row_limit", "5000"),
])
def test_one_validation_names_each_problem(ctx, shop, definition, path, words):
    with pytest.raises(ValidationError) as err:
        run(ctx, {**REVENUE, **definition})
    assert words in " ".join(map(str, err.value.errors[path])), err.value.errors


def test_a_code_without_declared_choices_reads_as_a_word(ctx, shop):
    result = run(ctx, {"entity": "order", "name": "By status", "measures": [{"agg": "count"}],
                       "group_by": [{"field": "status"}]})
    assert table(result) == [("Confirmed", 4)]


def test_order_lines_by_month_and_their_customers_province(ctx, shop):
    result = run(ctx, {"entity": "order_line", "name": "Lines", "measures": [{"agg": "sum", "field": "line_total"}],
                       "group_by": [{"field": "order.order_date", "bucket": "month"}, {"field": "order.province"}]})
    assert table(result) == [("2026-01", "浙江省", Decimal("130.00")), ("2026-02", "广东省", Decimal("70.00")),  # USD 10 in the order's currency
                             ("2026-02", "浙江省", Decimal("50.00"))]
