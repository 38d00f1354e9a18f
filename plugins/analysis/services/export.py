"""CSV export of the analysis tables, streamed in chunks; optional UTF-8 byte-order mark so that
Excel opens Chinese text correctly."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.services.exporter import safe_cell
from crmcore.runtime import ServiceContext

EXPORTS = ("rfm", "clv", "churn", "segments", "cohorts", "rules")


def to_csv(header: list[str], rows: Iterable[Iterable[Any]], *, bom: bool = False) -> Iterator[str]:
    """Yield CSV text (header first); ``bom`` starts it with U+FEFF."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if bom:
        buf.write("\ufeff")
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow([safe_cell(v) for v in row])  # a name like "=HYPERLINK(..)" stays text
        if i % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def table(ctx: ServiceContext, name: str, as_of: Any = None) -> tuple[list[str], Iterable[list[Any]]]:
    """Header and rows of an export (customer tables: the latest run, within the actor's scope)."""
    import datetime as dt

    from . import basket, loyalty, rfm
    from .results import COLUMNS, scoped_ids, stream_rows

    ctx.require("analysis.export")
    if name in ("rfm", "clv", "churn"):
        run_date, rows = stream_rows(ctx, name)
        return ["run_date", "customer", *COLUMNS[name]], ([run_date, *row] for row in rows)
    if name == "segments":
        rows = rfm.segment_sizes(ctx, customer_ids=scoped_ids(ctx))
        header = ["segment", "label", "customers", "monetary", "avg_recency_days", "avg_frequency"]
        return header, [[r[h] for h in header] for r in rows]
    if name == "cohorts":
        cohorts = loyalty.cohort_table(ctx, as_of or dt.datetime.now(dt.timezone.utc).date(), 12, scoped_ids(ctx))
        width = max((len(c["retention"]) for c in cohorts), default=0)
        header = ["cohort", "size", *[f"m{k}" for k in range(width)]]
        return header, [[c["cohort"], c["size"], *c["retention"]] for c in cohorts]
    if name == "rules":
        rows = basket.top_rules(ctx, limit=10_000, min_lift=None)  # every rule, lift in its column
        header = ["antecedent", "consequent", "orders", "support", "confidence", "lift"]
        return header, [[r[h] for h in header] for r in rows]
    raise ValidationError(_("Unknown export."), errors={"table": [str(_("Use one of: %(names)s.", names=", ".join(EXPORTS)))]})
