"""RFM benchmark: ``run_rfm`` (aggregate, window-function scores, segment lookup, INSERT ... SELECT)
against hand-written SQL on the same SQLite file in the same run: (1) the same job by hand, one
statement that aggregates, ranks and stores the scores into ``analysis_rfm_scores`` (replacing the
day's rows, as ``run_rfm`` does); (2) that statement into an index-free temp table, which shows
what the two indexes of the results table cost. Then peak memory at half and all the orders."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from analysis_data import AS_OF, add_orders, fresh_db, parse, peak_mib, timed  # noqa: E402

SCORES = """
SELECT customer_id, recency, frequency, monetary,
       (RANK() OVER (ORDER BY recency DESC) - 1) * 5 / COUNT(*) OVER () + 1,
       (RANK() OVER (ORDER BY frequency) - 1) * 5 / COUNT(*) OVER () + 1,
       (RANK() OVER (ORDER BY monetary) - 1) * 5 / COUNT(*) OVER () + 1
FROM (SELECT customer_id, CAST(julianday('{day}') - julianday(MAX(order_date)) AS INTEGER) AS recency,
             COUNT(*) AS frequency, SUM(total) AS monetary
      FROM sales_orders WHERE status IN ('confirmed', 'delivered') AND order_date <= '{day}'
      GROUP BY customer_id)
"""
SAME_TABLE = """
DELETE FROM analysis_rfm_scores WHERE run_date = '{day}';
INSERT INTO analysis_rfm_scores (customer_id, recency_days, frequency, monetary, r_score, f_score, m_score,
                                 run_date, currency)
SELECT *, '{day}', 'CNY' FROM (""" + SCORES + """);
"""
TEMP_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS baseline_rfm AS SELECT 0 AS customer_id, 0 AS recency, 0 AS frequency, 0.0 AS monetary,
       0 AS r, 0 AS f, 0 AS m WHERE 0;
DELETE FROM baseline_rfm;
INSERT INTO baseline_rfm """ + SCORES + """;
"""  # noqa: S608 - built from this file's constants and its own date only


def main(argv: list[str] | None = None) -> int:
    from plugins.analysis.services import rfm

    args = parse(argv, __doc__)
    half = args.orders // 2
    rt, path = fresh_db(args, half)
    ctx = rt.context(source="bench")
    rfm.run_rfm(ctx, AS_OF)  # warm up: imports, compiled statements, segment table
    mem_half = peak_mib(lambda: rfm.run_rfm(ctx, AS_OF))
    add_orders(rt, args.customers, args.orders - half, start=half, seed=2)
    mem_full = peak_mib(lambda: rfm.run_rfm(ctx, AS_OF))

    def by_hand(script: str) -> None:
        raw = rt.db.engine.raw_connection()
        try:
            raw.executescript(script.format(day=AS_OF.isoformat()))
            raw.commit()
        finally:
            raw.close()

    ours = timed(lambda: rfm.run_rfm(ctx, AS_OF))
    same = timed(lambda: by_hand(SAME_TABLE))
    temp = timed(lambda: by_hand(TEMP_TABLE))
    rfm.run_rfm(ctx, AS_OF)  # leave the plugin's own rows behind
    print(f"  run_rfm                      {ours:8.2f}s  ({args.customers:,} customers, {args.orders:,} orders)")
    print(f"  hand-written SQL, same table {same:8.2f}s  ratio {ours / same:5.2f}x  (target <= 2x)")
    print(f"  hand-written SQL, temp table {temp:8.2f}s  ratio {ours / temp:5.2f}x  (no indexes to maintain)")
    print(f"  peak memory (tracemalloc)    {mem_half:8.1f} MiB at {half:,} orders, {mem_full:.1f} MiB at {args.orders:,}")
    rt.db.dispose()
    if not args.dir:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
