"""Apply a rewrite to every stored condition of one JSON column (for the data migrations)."""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa


def rewrite_column(conn: Any, table: str, column: str, rewrite: Callable[[dict[str, Any], Any], Any],
                   extra: str | None = None) -> int:
    """Store ``rewrite(row, condition)`` for each row whose ``column`` it changes; return how many changed."""
    cols = [sa.column("id"), sa.column(column, sa.JSON)] + ([sa.column(extra)] if extra else [])
    tbl = sa.table(table, *cols)
    changed = 0
    for row in conn.execute(sa.select(*tbl.c)).mappings().all():
        old = row[column]
        if not old:
            continue
        new = rewrite(dict(row), old)
        if new != old:
            conn.execute(sa.update(tbl).where(tbl.c.id == row["id"]).values({column: new}))
            changed += 1
    return changed
