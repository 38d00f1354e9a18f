"""Tags by name: get or create, safe when concurrent transactions name the same new tag."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..models import Tag

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def ensure_tags(ctx: ServiceContext, names: Iterable[str]) -> dict[str, Tag]:
    """The tags of these (already folded) names, creating the missing ones; ``{name: Tag}``.

    A tag another transaction creates at the same moment is taken, not a unique-key error: the
    insert skips a name that exists (``ON CONFLICT DO NOTHING``, waiting for that transaction
    to end), then every tag is read back."""
    wanted = list(dict.fromkeys(n for n in names if n))
    if not wanted:
        return {}
    found = {t.name: t for t in ctx.session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        dialect = ctx.session.get_bind().dialect.name
        rows = [{"name": n} for n in missing]
        if dialect in ("postgresql", "sqlite"):
            dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
            ctx.session.execute(dialect_insert(cast(Table, Tag.__table__)).values(rows).on_conflict_do_nothing(index_elements=["name"]))
        else:  # any other database: one savepoint per name
            for row in rows:
                try:
                    with ctx.session.begin_nested():
                        ctx.session.execute(insert(cast(Table, Tag.__table__)).values(row))
                except IntegrityError:
                    pass
        found.update({t.name: t for t in ctx.session.scalars(select(Tag).where(Tag.name.in_(missing)))})
    return found


def ensure_tag(ctx: ServiceContext, name: str) -> Tag:
    """One tag by name, created when missing (see :func:`ensure_tags`)."""
    return ensure_tags(ctx, [name])[name]
