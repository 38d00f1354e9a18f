"""Search and lists at scale: phone, e-mail and name/pinyin search, a list page, a deep page and the count,
each as a ratio to the bare query on the same index and to today's (before issue 15) query shape, measured in
the same run on SQLite and PostgreSQL.

``python bench/run.py scale [--customers 100000] [--orders-per-customer 10] [--rounds 3] [--queries 15]
[--engines sqlite,postgresql] [--pg-url URL]``; ``--full`` is 1M customers and 10M orders.

The data is generated once, set-based (one INSERT ... SELECT per table over a pool of names whose derived
fields, pinyin and initials, are computed by the services' own functions), and cached: a SQLite file under
``$CRM_BENCH_CACHE`` (default ``~/.cache/crm-bench``), and on PostgreSQL a database marked as a template
(``crm_scale_<customers>_<orders>``), reused by later runs. PostgreSQL runs when ``--pg-url`` or
``CRM_BENCH_DATABASE_URL`` names a server (a superuser, to create the database).

Every number is the p50 over ``--queries`` different inputs, best of ``--rounds`` rounds, the variants
interleaved in each round. The ratio ``vs bare`` (target <= 2) compares the service call with the bare
query on the same index loading the same rows through the ORM; ``today/new`` (target >= 10 at 1M) compares
today's query shape (the OR of LIKEs over every customer, an exact count and an OFFSET page) with the new one.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, literal_column, or_, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

CITIES = "北京 上海 广州 深圳 杭州 南京 苏州 成都 重庆 武汉 西安 天津 长沙 郑州 青岛 厦门 宁波 合肥 福州 昆明".split()
WORDS = ("华 盛 鑫 源 泰 恒 瑞 达 宏 丰 嘉 诚 信 通 海 天 金 银 龙 凤 祥 和 兴 旺 安 康 美 佳 福 顺 "
         "明 光 新 科 创 智 远 博 卓 越").split()
TRADES = "贸易 科技 食品 建材 物流 服装 电子 医药 化工 机械 家具 文化 餐饮 茶业 印刷".split()
SUFFIXES = ("有限公司", "股份有限公司", "商行", "集团")
SURNAMES = "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗".split()
GIVEN = "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平".split()


def name_pool(size: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """``(name, name_key, search_text without the code)`` of ``size`` company names, derived by the services'
    functions (``search_text(name, code, name_key)`` is this text, then the code)."""
    from crmcore.normalize import company_key, search_text

    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < size:
        names[rng.choice(CITIES) + rng.choice(WORDS) + rng.choice(WORDS) + rng.choice(TRADES) + rng.choice(SUFFIXES)] = None
    return [(n, company_key(n), search_text(n, None, company_key(n))) for n in names]


def cache_dir() -> Path:
    path = Path(os.environ.get("CRM_BENCH_CACHE") or Path.home() / ".cache" / "crm-bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _schema(url: str) -> None:
    from crmcore.db import Base, Database
    from crmcore import models  # noqa: F401  # the core's tables and search indexes
    from plugins.sales import models as sales_models  # noqa: F401  # sales_orders

    db = Database(url)
    Base.metadata.create_all(db.engine)
    db.dispose()


def generate(url: str, customers: int, orders: int) -> None:
    """Fill an empty database: ``customers`` customers (one contact each) and ``orders`` orders, set-based."""
    _schema(url)
    engine = create_engine(url)
    pg = engine.dialect.name == "postgresql"
    pool = name_pool(min(20_000, max(customers // 20, 100)))
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE name_pool (n INTEGER PRIMARY KEY, name TEXT, name_key TEXT, st TEXT)")
        conn.execute(text("INSERT INTO name_pool VALUES (:n, :name, :key, :st)"),
                     [{"n": i, "name": n, "key": k, "st": s} for i, (n, k, s) in enumerate(pool)])
        series = ("generate_series(1, :n) AS g(i)" if pg else
                  "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s) AS g")
        pad = (lambda e, w: f"lpad(({e})::text, {w}, '0')") if pg else (lambda e, w: f"printf('%0{w}d', {e})")
        now = "now()" if pg else "datetime('now')"
        code = f"'C' || {pad('i', 8)}"
        stage = "(ARRAY['lead','prospect','customer','inactive'])[1 + i % 4]" if pg else \
            "CASE i % 4 WHEN 0 THEN 'lead' WHEN 1 THEN 'prospect' WHEN 2 THEN 'customer' ELSE 'inactive' END"
        conn.execute(text(f"""
            INSERT INTO customers (id, code, name, kind, stage, phone, phone_normalized, email, email_normalized,
                                   currency, attributes, completeness, search_text, name_key, version, created_at,
                                   updated_at)
            SELECT i, {code}, p.name, 'organization', {stage}, '138' || {pad('i', 8)}, '+86138' || {pad('i', 8)},
                   'Info' || i || '@Mail' || (i % 997) || '.example', 'info' || i || '@mail' || (i % 997) || '.example',
                   'CNY', '{{}}', 50, p.st || ' ' || lower({code}), p.name_key, 1, {now}, {now}
            FROM {series} JOIN name_pool p ON p.n = i % {len(pool)}"""), {"n": customers})
        conn.execute(text(f"""
            INSERT INTO contacts (id, customer_id, name, is_primary, phone, phone_normalized, mobile, mobile_normalized,
                                  email, email_normalized, attributes, version, created_at, updated_at)
            SELECT i, i, s.name || g2.name, {'true' if pg else '1'}, '010 ' || {pad('i', 8)}, '+8610' || {pad('i', 8)},
                   '139' || {pad('i', 8)}, '+86139' || {pad('i', 8)},
                   'p' || i || '@people.example', 'p' || i || '@people.example', '{{}}', 1, {now}, {now}
            FROM {series} {_people_join(pg)}"""), {"n": customers})
        order_date = "(DATE '2020-01-01' + (i % 2000))" if pg else "date('2020-01-01', '+' || (i % 2000) || ' days')"
        conn.execute(text(f"""
            INSERT INTO sales_orders (id, number, customer_id, order_date, currency, status, total, source, version,
                                      created_at, updated_at, coupon_discount)
            SELECT i, 'SO' || {pad('i', 9)}, 1 + i % {customers}, {order_date}, 'CNY', 'confirmed', (i % 5000) + 0.5,
                   'crm', 1, {now}, {now}, 0
            FROM {series}"""), {"n": orders})
        if pg:
            for table in ("customers", "contacts", "sales_orders"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with engine.connect() as conn:  # the derived fields are the services' own
        from crmcore.normalize import search_text
        for name, code, key, stored in conn.execute(text("SELECT name, code, name_key, search_text FROM customers "
                                                         "WHERE id IN (1, 2, 3)")):
            assert stored == search_text(name, code, key), (stored, search_text(name, code, key))
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM ANALYZE" if pg else "ANALYZE")
    engine.dispose()
    print(f"  generated {customers:,} customers, {customers:,} contacts, {orders:,} orders in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def _people_join(pg: bool) -> str:
    surnames = " UNION ALL ".join(f"SELECT {i} AS k, '{s}' AS name" for i, s in enumerate(SURNAMES))
    given = " UNION ALL ".join(f"SELECT {i} AS k, '{g}' AS name" for i, g in enumerate(GIVEN))
    return (f"JOIN ({surnames}) AS s ON s.k = i % {len(SURNAMES)} "
            f"JOIN ({given}) AS g2 ON g2.k = (i / {len(SURNAMES)}) % {len(GIVEN)}")


def sqlite_database(customers: int, orders: int) -> str:
    path = cache_dir() / f"scale-{customers}-{orders}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        generate(f"sqlite:///{tmp}", customers, orders)
        tmp.rename(path)
    return f"sqlite:///{path}"


def pg_database(base: str, customers: int, orders: int) -> str:
    name = f"crm_scale_{customers}_{orders}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ready = conn.execute(text("SELECT datistemplate FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if not ready:  # missing, or left half-built by an interrupted run
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    if not ready:
        generate(url, customers, orders)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE true'))  # built: kept for later runs
    admin.dispose()
    return url


# ---- today's query shapes (crmcore before issue 15), for the "today" column ---------------------------

def today_customers(ctx: Any, q: str | None, page: int = 1) -> tuple[list[Any], int]:
    """``list_customers`` as it was: one OR of LIKEs over every customer, an exact count, an OFFSET page."""
    from crmcore.models import Contact, Customer
    from crmcore.normalize import fold, normalize_phone

    stmt = select(Customer).where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))
    if q:
        like = f"%{fold(q).casefold()}%"
        phone = normalize_phone(q, "CN")
        conds = [Customer.search_text.like(like), Customer.email_normalized.like(like)]
        if phone:
            conds.append(Customer.phone_normalized == phone)
            conds.append(Customer.id.in_(select(Contact.customer_id).where(
                or_(Contact.phone_normalized == phone, Contact.mobile_normalized == phone))))
        conds.append(Customer.id.in_(select(Contact.customer_id).where(
            or_(func.lower(Contact.name).like(like), Contact.email_normalized.like(like)))))
        stmt = stmt.where(or_(*conds))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    stmt = stmt.order_by(Customer.name.asc(), Customer.id.asc()).offset((page - 1) * 25).limit(25)
    return list(ctx.session.scalars(stmt).unique()), int(total or 0)


def today_orders(ctx: Any) -> tuple[list[Any], int]:
    from plugins.sales.models import Order

    stmt = select(Order)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    return list(ctx.session.scalars(stmt.order_by(Order.order_date.desc(), Order.id.desc()).limit(25))), int(total or 0)


# ---- the bare queries on the same indexes --------------------------------------------------------------

def bare(ctx: Any, where: Any, count: bool = True) -> tuple[list[Any], int]:
    """A list page on the bare predicate: the rows through the ORM as the list loads them, and their count."""
    from crmcore.models import Customer

    stmt = select(Customer).where(where)
    items = list(ctx.session.scalars(stmt.order_by(Customer.name, Customer.id).limit(25)).unique())
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) if count and len(items) == 25 else len(items)
    return items, int(total or 0)


def bare_text(ctx: Any, term: str) -> tuple[list[Any], int]:
    """The text index alone: FTS5 MATCH (SQLite) or the trigram LIKE (PostgreSQL), rows loaded as the list does."""
    from crmcore.models import Customer

    if ctx.session.get_bind().dialect.name == "sqlite":
        ids = select(literal_column("rowid")).select_from(text("customers_fts")).where(
            literal_column("customers_fts").op("MATCH")('"' + term + '"'))
        return bare(ctx, Customer.id.in_(ids))
    return bare(ctx, Customer.search_text.like(f"%{term}%"))  # the trigram index serves it


# ---- measuring -----------------------------------------------------------------------------------------

def timed(fn: Callable[[Any], Any], value: Any, ctx: Any) -> float:
    started = time.perf_counter()
    fn(value)
    elapsed = time.perf_counter() - started
    ctx.session.rollback()
    return elapsed


def measure(url: str, customers: int, rounds: int, queries: int, out: list[str]) -> None:
    from crmcore.models import Customer
    from crmcore.runtime import build_runtime
    from crmcore.services import customers as svc
    from crmcore.services import listing
    from plugins.sales.models import Order
    from plugins.sales.services import orders as order_svc

    rt = build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
                        "PLUGINS_AUTOLOAD": False})
    ctx = rt.context(source="bench")
    rng = random.Random(11)
    ids = [rng.randint(1, customers) for _ in range(queries)]
    pool = name_pool(min(20_000, max(customers // 20, 100)))
    names = [pool[i % len(pool)][0][2:6] for i in ids]  # four characters from the middle of a name
    pinyin = [pool[i % len(pool)][2].split(" ")[1][:9] for i in ids]  # the start of the name's pinyin
    phones = [f"+86 138 {i:08d}"[:12] + " " + f"{i:08d}"[4:] for i in ids]  # "+86 138 0001 2345"
    emails = [f"INFO{i}@mail{i % 997}.example" for i in ids]
    cursors = []
    for i in range(queries):  # a cursor deep in the list, for the "page N" row
        deep = svc.list_customers(ctx, page=1 + (ids[i] % 200), page_size=25)
        cursors.append(deep.next_cursor)
    rows: dict[str, dict[str, float]] = {}
    cases: dict[str, dict[str, Callable[[Any], Any]]] = {
        "phone search": {
            "new": lambda v: svc.list_customers(ctx, q=v[0]),
            "bare": lambda v: bare(ctx, Customer.phone_normalized == v[1]),
            "today": lambda v: today_customers(ctx, v[0])},
        "e-mail search": {
            "new": lambda v: svc.list_customers(ctx, q=v[0]),
            "bare": lambda v: bare(ctx, Customer.email_normalized == v[1]),
            "today": lambda v: today_customers(ctx, v[0])},
        "name search (Chinese)": {
            "new": lambda v: svc.list_customers(ctx, q=v),
            "bare": lambda v: bare_text(ctx, v),
            "today": lambda v: today_customers(ctx, v)},
        "pinyin search": {
            "new": lambda v: svc.list_customers(ctx, q=v),
            "bare": lambda v: bare_text(ctx, v),
            "today": lambda v: today_customers(ctx, v)},
        "list page 1 (+count)": {
            "new": lambda v: svc.list_customers(ctx),
            "bare": lambda v: bare(ctx, Customer.deleted_at.is_(None), count=False),
            "today": lambda v: today_customers(ctx, None)},
        "list page N (cursor)": {
            "new": lambda v: svc.list_customers(ctx, cursor=v[0]),
            "bare": lambda v: bare(ctx, Customer.deleted_at.is_(None), count=False),
            "today": lambda v: today_customers(ctx, None, page=v[1])},
        "count": {
            "new": lambda v: listing.count(ctx, svc.search_statement(ctx)),
            "bare": lambda v: ctx.session.scalar(select(func.count()).select_from(Customer)),
            "today": lambda v: today_customers(ctx, None)[1]},
        "orders page 1 (+count)": {
            "new": lambda v: order_svc.list_orders(ctx),
            "bare": lambda v: list(ctx.session.scalars(select(Order).order_by(Order.order_date.desc(), Order.id.desc())
                                                       .limit(25))),
            "today": lambda v: today_orders(ctx)},
    }
    inputs: dict[str, list[Any]] = {
        "phone search": [(p, f"+86138{i:08d}") for p, i in zip(phones, ids, strict=False)],
        "e-mail search": [(e, e.lower()) for e in emails],
        "name search (Chinese)": names, "pinyin search": pinyin,
        "list page 1 (+count)": [None] * queries,
        "list page N (cursor)": [(c, 2 + (i % 200)) for c, i in zip(cursors, ids, strict=False)],
        "count": [None] * 3, "orders page 1 (+count)": [None] * 3,
    }
    for case, variants in cases.items():
        rows[case] = {k: float("inf") for k in variants}
        spread: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(rounds):
            times: dict[str, list[float]] = {k: [] for k in variants}
            # new and bare interleaved on each input (each first in turn), so both see the same caches and
            # noise; today's shape in a pass of its own (its scans would leave the next query a cold cache)
            for n, value in enumerate(inputs[case]):
                for kind in (("new", "bare") if n % 2 else ("bare", "new")):
                    times[kind].append(timed(variants[kind], value, ctx))
            for value in inputs[case]:
                times["today"].append(timed(variants["today"], value, ctx))
            for kind in variants:
                p50 = statistics.median(times[kind])
                spread[kind].append(p50)
                rows[case][kind] = min(rows[case][kind], p50)
        new, base, old = rows[case]["new"], rows[case]["bare"], rows[case]["today"]
        worst = max(spread["new"]) / max(min(spread["new"]), 1e-9)
        line = (f"  {case:24s} new {new * 1000:8.2f} ms  bare {base * 1000:8.2f} ms  today {old * 1000:9.2f} ms  "
                f"vs bare {new / base:5.2f}x  today/new {old / new:7.1f}x  (new spread {worst:4.2f}x)")
        print(line, flush=True)
        out.append(line)
    ctx.session.close()
    rt.db.dispose()


# ---- crm import customers at scale ----------------------------------------------------------------------

def _rss_mib() -> float:
    """This process's resident memory now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def import_scale(engine: str, url: str, rows: int, pg_url: str | None) -> str:
    """``crm import customers`` of a ``rows``-row file (cached) on an empty database against the executemany
    baseline of ``bench/import_customers.py`` writing the same rows, derived fields, audit and outbox (one run
    each, the baseline first), with the import's resident memory after each batch: flat in rows when the
    last batch's is about the one after the first tenth."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _import_bench import cold, runtime
    from crmcore.imports import ImportOptions
    from crmcore.imports.driver import get_kind, import_file
    from import_customers import baseline, write_file

    path = cache_dir() / f"customers-{rows}.csv"
    if not path.exists():
        write_file(path.with_suffix(".building"), rows)
        path.with_suffix(".building").rename(path)
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    if engine == "postgresql" and pg_url:  # the import's own database, emptied by every run
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = make_url(url).database
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()

    def fresh(name: str) -> Any:
        if engine == "sqlite":
            return runtime(f"sqlite:///{folder / name}.sqlite", folder)
        return runtime(str(url), folder)

    rt = fresh("baseline")
    cold()
    base = baseline(rt, path)
    rt.db.dispose()
    rt = fresh("import")
    cold()
    ctx = rt.context(source="cli", session=rt.db.new_session())
    samples: list[float] = []
    started = time.perf_counter()
    outcome = import_file(ctx, get_kind(ctx, "customers"), str(path), options=ImportOptions(),
                          progress=lambda _pos: samples.append(_rss_mib()))
    seconds = time.perf_counter() - started
    ctx.session.close()
    rt.db.dispose()
    early = samples[max(len(samples) // 10 - 1, 0)]
    line = (f"  import {rows:>9,} rows  {seconds:8.1f} s ({rows / seconds:6.0f} rows/s)  baseline {base:8.1f} s "
            f"({rows / base:6.0f} rows/s)  ratio {seconds / base:5.2f}x  RSS {early:6.0f} MiB after 10%, "
            f"{samples[-1]:6.0f} MiB at the end, max {max(samples):6.0f} MiB  {outcome.summary.present()}")
    print(line, flush=True)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders-per-customer", type=int, default=10)
    parser.add_argument("--full", action="store_true", help="1,000,000 customers and 10,000,000 orders")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"))
    parser.add_argument("--import-rows", type=int, nargs="*", default=[], metavar="N",
                        help="also time `crm import customers` of files of these sizes (e.g. 100000 1000000)")
    parser.add_argument("--no-search", action="store_true", help="only the imports")
    args = parser.parse_args(argv)
    customers = 1_000_000 if args.full else args.customers
    orders = customers * args.orders_per_customer
    for engine in args.engines.split(","):
        if engine == "postgresql" and not args.pg_url:
            print("== postgresql: skipped (give --pg-url or CRM_BENCH_DATABASE_URL) ==")
            continue
        for rows in args.import_rows:
            print(f"== {engine}: crm import customers ==", flush=True)
            import_scale(engine, make_url(args.pg_url).set(database="crm_scale_import").render_as_string(
                hide_password=False) if engine == "postgresql" else "", rows, args.pg_url)
        if args.no_search:
            continue
        print(f"== {engine}: {customers:,} customers, {orders:,} orders ==", flush=True)
        url = sqlite_database(customers, orders) if engine == "sqlite" else pg_database(args.pg_url, customers, orders)
        measure(url, customers, args.rounds, args.queries, [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
