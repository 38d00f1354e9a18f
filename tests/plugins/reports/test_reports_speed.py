"""A report's one query written as a person would: computed fields one hop away through a join computed once
(the same values as their subquery per row), no currency conversion when every row is in the base currency,
JIT off on PostgreSQL for the report's statement only."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, text

from plugins.reports.services import definition as d, query


def values(ctx, data):
    checked = d.validate_report(ctx, {"name": "Speed", **data}, None)
    return {**{k: None for k in d.EDITABLE}, **checked, "row_limit": 500}


def sql_of(ctx, data):
    stmt, _columns = query.build(ctx, values(ctx, data))
    return str(stmt.compile(dialect=ctx.session.get_bind().dialect))


def table(ctx, data):
    return [(*row["cells"], *row["values"]) for row in query.run(ctx, values(ctx, data)).rows]


@pytest.fixture
def places(ctx, make_customer):
    """A customer whose primary address is not its first, one with no primary (its first counts), one without."""
    from crmcore.services import contacts
    from plugins.sales.models import Order, OrderLine

    both, first, none = make_customer("两址"), make_customer("无主址"), make_customer("无址")
    contacts.add_address(ctx, both.id, {"line1": "1号", "city": "南京", "region": "江苏省", "is_primary": False})
    contacts.add_address(ctx, both.id, {"line1": "2号", "city": "上海", "region": "上海市", "is_primary": True})
    contacts.add_address(ctx, first.id, {"line1": "3号", "city": "成都", "region": "四川省", "is_primary": False})
    contacts.add_address(ctx, first.id, {"line1": "4号", "city": "昆明", "region": "云南省", "is_primary": False})
    for n, (customer, total) in enumerate(((both, "10.00"), (first, "20.00"), (none, "40.00")), start=1):
        row = Order(number=f"SO-P{n}", customer_id=customer.id, owner_id=customer.owner_id,
                    order_date=dt.date(2026, 3, n), currency="CNY", total=Decimal(total), status="confirmed")
        row.lines = [OrderLine(description="茶", quantity=Decimal(1), unit_price=Decimal(total),
                               line_total=Decimal(total))]
        ctx.session.add(row)
    ctx.session.commit()


@pytest.mark.parametrize("entity, field, measure", [
    ("order", "customer.province", "total"), ("order", "province", "total"),
    ("order_line", "order.province", "line_total")])
def test_province_through_a_join_is_the_primary_else_first_address(ctx, places, entity, field, measure):
    data = {"entity": entity, "measures": [{"agg": "sum", "field": measure}], "group_by": [{"field": field}]}
    assert dict(table(ctx, data)) == {"(empty)": Decimal("40.00"), "上海市": Decimal("10.00"),  # NULL sorts per engine
                                      "四川省": Decimal("20.00")}
    sql = sql_of(ctx, data)
    assert "JOIN (SELECT" in sql  # computed once, joined
    if ctx.session.get_bind().dialect.name == "postgresql":  # an aggregate, not a window: run in parallel
        assert "GROUP BY addresses.customer_id" in sql and " OVER " not in sql
    else:  # the window, materialised once and searched by an automatic index
        assert "row_number() OVER" in sql
    assert "LIMIT" not in sql.split("GROUP BY")[0]  # no subquery per row


def test_a_filter_on_the_joined_city_keeps_its_meaning(ctx, places):
    data = {"entity": "order", "measures": [{"agg": "count"}], "group_by": [{"field": "customer.city"}],
            "filters": {"field": "customer.city", "op": "in", "value": ["上海", "成都", "南京"]}}
    assert table(ctx, data) == [("上海", 1), ("成都", 1)]


def test_no_conversion_while_every_row_is_in_the_base_currency(ctx, places):
    from plugins.sales.models import ExchangeRate, Order

    data = {"entity": "order_line", "measures": [{"agg": "sum", "field": "line_total"}]}
    assert "sales_exchange_rates" not in sql_of(ctx, data)
    assert table(ctx, data) == [(Decimal("70.00"),)]
    ctx.session.add(ExchangeRate(currency="USD", rate=Decimal("7.00")))
    ctx.session.get(Order, ctx.session.query(Order.id).filter_by(number="SO-P3").scalar()).currency = "USD"
    ctx.session.commit()
    assert "sales_exchange_rates" in sql_of(ctx, data)
    assert table(ctx, data) == [(Decimal("310.00"),)]  # 40 USD at 7.00
    ctx.session.add(ExchangeRate(currency="AUD", rate=Decimal("5.00")))  # a currency below the base one
    ctx.session.get(Order, ctx.session.query(Order.id).filter_by(number="SO-P3").scalar()).currency = "AUD"
    ctx.session.commit()
    assert "sales_exchange_rates" in sql_of(ctx, data)
    assert table(ctx, data) == [(Decimal("230.00"),)]  # 40 AUD at 5.00


def test_the_currency_check_reads_the_ends_of_an_index(ctx, places):
    """"Is every order in the base currency?" is asked once per run: two look-ups at the ends of the currency
    index, not a scan of every order (seconds at 10M orders)."""
    seen: list[str] = []
    engine = ctx.session.get_bind()

    def listen(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        sql_of(ctx, {"entity": "order_line", "measures": [{"agg": "sum", "field": "line_total"}]})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    checks = [s for s in seen if "sales_orders.currency" in s]
    assert len(checks) == 2 and "min(" in checks[0] and "max(" in checks[1]
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for statement in checks:
        plan = " ".join(str(row[-1]) for row in ctx.session.execute(text(explain + statement)))
        assert "ix_sales_orders_currency" in plan, plan


def test_an_order_in_a_currency_without_a_rate_is_still_left_out(ctx, places):
    from plugins.sales.models import Order

    ctx.session.get(Order, ctx.session.query(Order.id).filter_by(number="SO-P3").scalar()).currency = "EUR"
    ctx.session.commit()
    data = {"entity": "order", "measures": [{"agg": "sum", "field": "total"}]}
    assert table(ctx, data) == [(Decimal("30.00"),)]


def test_jit_is_off_for_the_report_statement_only(ctx, places, rt):
    if ctx.session.get_bind().dialect.name != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    from sqlalchemy import text

    before = ctx.session.execute(text("SELECT current_setting('jit')")).scalar_one()
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(rt.db.engine, "before_cursor_execute", listener)
    try:
        stmt, _columns = query.build(ctx, values(ctx, {"entity": "order", "measures": [{"agg": "count"}]}))
        query.execute(ctx, stmt)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", listener)
    setting = next(i for i, s in enumerate(seen) if "set_config('jit', 'off'" in s)
    report = next(i for i, s in enumerate(seen) if "count(*)" in s)
    assert setting < report
    assert ctx.session.execute(text("SELECT current_setting('jit')")).scalar_one() == before


def test_a_run_reads_the_fields_once_and_keeps_words_and_cents(ctx, shop, monkeypatch):
    """The fields are looked up once per run (the build's), not again to name the groups; the rows read the same."""
    calls = []
    real = query.entity_fields
    monkeypatch.setattr(query, "entity_fields", lambda *a: calls.append(a) or real(*a))
    data = {"entity": "order", "measures": [{"agg": "sum", "field": "total"}, {"agg": "count"}, {"agg": "max", "field": "order_date"}],
            "group_by": [{"field": "owner_id"}, {"field": "status"}]}
    rows = table(ctx, data)
    assert len(calls) == 1
    assert rows == [("ann", "Confirmed", Decimal("180.00"), 3, "2026-02-07"), ("bob", "Confirmed", Decimal("70.00"), 1, "2026-02-01")]
