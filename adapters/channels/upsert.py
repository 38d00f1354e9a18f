"""``INSERT ... ON CONFLICT DO NOTHING`` on the databases we run on: a duplicate is skipped in one statement,
without a savepoint, and the transaction goes on (a unique key decides, as before)."""
from __future__ import annotations

from typing import Any

from crmcore.runtime import ServiceContext


def insert_or_skip(ctx: ServiceContext, model: Any, keys: list[str], values: dict[str, Any]) -> Any:
    """The INSERT of ``values`` into ``model`` that does nothing when the unique ``keys`` exist already; None on
    a database without ON CONFLICT (the caller uses a savepoint then)."""
    dialect = ctx.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).values(values).on_conflict_do_nothing(index_elements=keys)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).values(values).on_conflict_do_nothing(index_elements=keys)
    return None
