"""A report over order lines grouped by month and the customer's province, as the reports plugin compiles it,
against the hand-written SQL of the same numbers, measured in the same run on SQLite and PostgreSQL.

``python bench/run.py reports [--customers 2000] [--orders-per-customer 5] [--rounds 5] [--engines sqlite,postgresql]
[--pg-url URL]``; ``--full`` is bench/scale.py's 1M customers and 10M orders, one line per order (10M lines).

The customers and orders are bench/scale.py's, generated once and cached (``$CRM_BENCH_CACHE``); this script adds
to that data, once, an address per customer (31 provinces) and one line per order, set-based. Each round runs both
queries, interleaved, alternating which goes first; the time of each is its best round. The ratio
``report / hand-written`` (target <= 1.5) and the spread of the ratio over the rounds are printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, text  # noqa: E402

import scale  # noqa: E402

PROVINCES = ("北京市 天津市 河北省 山西省 内蒙古自治区 辽宁省 吉林省 黑龙江省 上海市 江苏省 浙江省 安徽省 福建省 江西省 "
             "山东省 河南省 湖北省 湖南省 广东省 广西壮族自治区 海南省 重庆市 四川省 贵州省 云南省 西藏自治区 陕西省 甘肃省 "
             "青海省 宁夏回族自治区 新疆维吾尔自治区").split()
DEFINITION = {"entity": "order_line", "name": "bench", "measures": [{"agg": "sum", "field": "line_total"}],
              "group_by": [{"field": "order.order_date", "bucket": "month"}, {"field": "order.province"}],
              "row_limit": 5000}


def add_lines(url: str) -> None:
    """Once per database: a primary address per customer in one of the provinces, one line per order."""
    from crmcore.db import Base, Database
    from crmcore import models  # noqa: F401
    from plugins.reports import models as report_models  # noqa: F401
    from plugins.sales import models as sales_models  # noqa: F401

    db = Database(url)
    Base.metadata.create_all(db.engine)  # the reports plugin's tables (the validation looks for a name)
    db.dispose()
    engine = create_engine(url)
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:  # an index the models gained after a cache was built (sales 0006)
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_sales_orders_currency ON sales_orders (currency)")
    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM sales_order_lines")).scalar():
            return
        started = time.perf_counter()
        names = " UNION ALL ".join(f"SELECT {i} AS k, '{p}' AS p" for i, p in enumerate(PROVINCES))
        true = "true" if pg else "1"
        now = "now()" if pg else "datetime('now')"
        conn.execute(text(f"""
            INSERT INTO addresses (customer_id, kind, line1, city, region, country, is_primary, created_at)
            SELECT c.id, 'office', '1号', '市', pr.p, 'CN', {true}, {now}
            FROM customers c JOIN ({names}) AS pr ON pr.k = c.id % {len(PROVINCES)}"""))
        conn.execute(text("""
            INSERT INTO sales_order_lines (order_id, description, quantity, unit_price, discount_percent, line_total)
            SELECT id, 'bench', 1, total, 0, total FROM sales_orders"""))
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_bench_addresses_customer ON addresses (customer_id)")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE" if pg else "ANALYZE")
    engine.dispose()
    print(f"  added addresses and order lines in {time.perf_counter() - started:.0f} s", flush=True)


def hand_written(pg: bool) -> str:
    month = "to_char(o.order_date, 'YYYY-MM')" if pg else "strftime('%Y-%m', o.order_date)"
    return f"""
        SELECT {month} AS month, a.region AS province, sum(l.line_total) AS total
        FROM sales_order_lines l JOIN sales_orders o ON o.id = l.order_id
        LEFT JOIN addresses a ON a.customer_id = o.customer_id AND a.is_primary
        GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 5001"""


def measure(url: str, rounds: int) -> tuple[float, list[float]]:
    from crmcore.runtime import build_runtime
    from plugins.reports.services import definition, query

    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
                        "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales", "plugins.reports"],
                        "REPORTS_TIMEOUT_SECONDS": "3600", "DEFAULT_TIMEZONE": "Asia/Shanghai"})
    ctx = rt.context(source="bench")
    values = definition.complete(definition.validate_report(ctx, DEFINITION, None))
    pg = ctx.session.get_bind().dialect.name == "postgresql"
    sql = text(hand_written(pg))

    def report() -> list[tuple[str, str, str]]:
        result = query.run(ctx, values, "bench")
        ctx.session.rollback()
        return [(r["cells"][0], r["cells"][1], str(r["values"][0])) for r in result.rows]

    def bare() -> list[tuple[str, str, str]]:
        rows = ctx.session.execute(sql).all()
        ctx.session.rollback()
        return [(m, p, f"{t:.2f}") for m, p, t in rows]

    assert report() == bare(), "the report and the hand-written SQL disagree"
    times: dict[str, list[float]] = {"report": [], "bare": []}
    for i in range(rounds):
        order = [("report", report), ("bare", bare)] if i % 2 == 0 else [("bare", bare), ("report", report)]
        for name, fn in order:
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    ctx.session.close()
    ratios = [r / b for r, b in zip(times["report"], times["bare"], strict=True)]
    best = min(times["report"]) / min(times["bare"])
    print(f"  report {min(times['report']) * 1000:.1f} ms, hand-written {min(times['bare']) * 1000:.1f} ms: "
          f"ratio {best:.2f} (per round {min(ratios):.2f}..{max(ratios):.2f}, median {statistics.median(ratios):.2f})",
          flush=True)
    return best, ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/reports.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--orders-per-customer", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="1,000,000 customers and 10,000,000 order lines")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"))
    args = parser.parse_args(argv)
    customers = 1_000_000 if args.full else args.customers
    orders = customers * (10 if args.full else args.orders_per_customer)
    for engine in args.engines.split(","):
        if engine == "postgresql" and not args.pg_url:
            print("== postgresql: skipped (give --pg-url or CRM_BENCH_DATABASE_URL) ==")
            continue
        print(f"== {engine}: {orders:,} order lines by month and province ==", flush=True)
        url = scale.sqlite_database(customers, orders) if engine == "sqlite" else \
            scale.pg_database(args.pg_url, customers, orders)
        if engine == "postgresql":  # the template is scale.py's: work on a copy
            url = _pg_copy(url)
        add_lines(url)
        measure(url, args.rounds)
    return 0


def _pg_copy(template_url: str) -> str:
    """A database made from scale.py's template once (its lines added), kept for later runs."""
    from sqlalchemy.engine import make_url

    base = make_url(template_url)
    name = f"{base.database}_lines"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    sys.exit(main())
