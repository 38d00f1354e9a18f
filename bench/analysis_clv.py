"""CLV benchmark: ``run_clv`` (SQLAlchemy summary query, BG/NBD and Gamma-Gamma fits, predictions,
rows stored) against the shortest hand-written path over the same SQLite file in the same run:
one raw SQL summary query, the same numpy fits and predictions, an ``executemany`` into a temp
table. The ratio is the cost of our plumbing; then peak memory at half and all the orders."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import numpy as np  # noqa: E402

from analysis_data import AS_OF, add_orders, fresh_db, parse, peak_mib, timed  # noqa: E402

SUMMARY = """
SELECT customer_id, COUNT(DISTINCT order_date) - 1,
       CAST(julianday(MAX(order_date)) - julianday(MIN(first_day)) AS INTEGER),
       CAST(julianday('{day}') - julianday(MIN(first_day)) AS INTEGER),
       SUM(CASE WHEN order_date > first_day THEN total ELSE 0 END)
FROM (SELECT customer_id, order_date, total, MIN(order_date) OVER (PARTITION BY customer_id) AS first_day
      FROM sales_orders WHERE status IN ('confirmed', 'delivered') AND order_date <= '{day}')
GROUP BY customer_id ORDER BY customer_id
"""


def baseline(rt, penalizer: float) -> None:
    from plugins.analysis.services import btyd

    raw = rt.db.engine.raw_connection()
    try:
        rows = raw.execute(SUMMARY.format(day=AS_OF.isoformat())).fetchall()
        a = np.asarray(rows, dtype=float)
        ids, x, t_x, T, amount = a[:, 0], a[:, 1], a[:, 2] / 7, a[:, 3] / 7, a[:, 4]
        zbar = np.divide(amount, x, out=np.zeros_like(x), where=x > 0)
        triples, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        bg = btyd.fit_bgnbd(triples[:, 0], triples[:, 1], triples[:, 2], weights=counts, penalizer=penalizer)
        keep = (x > 0) & (zbar > 0)
        gg = btyd.fit_gamma_gamma(x[keep], zbar[keep], penalizer=penalizer)
        e = btyd.expected_purchases(bg, 90 / 7, x, t_x, T)
        p = btyd.probability_alive(bg, x, t_x, T)
        s = btyd.expected_spend(gg, x, zbar)
        v = btyd.clv(bg, gg, x, t_x, T, zbar, periods=12, period_length=30 / 7, discount_rate=0.01)
        raw.execute("CREATE TEMP TABLE IF NOT EXISTS baseline_clv (customer_id, e, p, s, v)")
        raw.execute("DELETE FROM baseline_clv")
        raw.executemany("INSERT INTO baseline_clv VALUES (?, ?, ?, ?, ?)",
                        zip(ids.astype(int).tolist(), e.tolist(), p.tolist(), np.round(s, 2).tolist(), np.round(v, 2).tolist(), strict=True))
        raw.commit()
    finally:
        raw.close()


def main(argv: list[str] | None = None) -> int:
    from plugins.analysis.services import clv

    args = parse(argv, __doc__)
    half = args.orders // 2
    rt, path = fresh_db(args, half)
    ctx = rt.context(source="bench")
    clv.run_clv(ctx, AS_OF)  # warm up
    mem_half = peak_mib(lambda: clv.run_clv(ctx, AS_OF))
    add_orders(rt, args.customers, args.orders - half, start=half, seed=2)
    mem_full = peak_mib(lambda: clv.run_clv(ctx, AS_OF))
    penalizer = clv.settings_of(ctx)["penalizer"]
    ours = timed(lambda: clv.run_clv(ctx, AS_OF))
    base = timed(lambda: baseline(rt, penalizer))
    print(f"  run_clv            {ours:8.2f}s  ({args.customers:,} customers, {args.orders:,} orders)")
    print(f"  hand-written path  {base:8.2f}s  (raw SQL + the same numpy fits + executemany)")
    print(f"  ratio              {ours / base:8.2f}x  (target <= 2x)")
    print(f"  peak memory        {mem_half:8.1f} MiB at {half:,} orders, {mem_full:.1f} MiB at {args.orders:,}")
    rt.db.dispose()
    if not args.dir:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
