"""The core's row mover for customer merges: moves rows, applies declared merge policies, restores on undo."""
from __future__ import annotations

import base64
import datetime as dt
import decimal
from typing import Any, TYPE_CHECKING

from sqlalchemy import (Column, Index, PrimaryKeyConstraint, Table, UniqueConstraint, delete, exists, insert, select,
                        tuple_, update)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator

from ..contracts import MERGE_DROP_DERIVED, MERGE_KEEP_WINNER, MERGE_POLICIES, MovedRows, RemovedRows
from ..db import Base
from ..errors import Conflict, PluginError
from ..events import jsonable
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

SKIP_TABLES = ("customers", "customer_tags")  # the merge itself handles the customer row and its tags


def table_owner(ctx: ServiceContext, table: Table) -> str:
    """The plugin that registered ``table`` (``core`` for the core's own tables)."""
    owner = ctx.registry.table_owners.get(table.name)
    if owner:
        return owner
    for mapper in Base.registry.mappers:
        if table in mapper.tables:
            module = mapper.class_.__module__.split(".")[0]
            return "core" if module == "crmcore" else module
    return "core"


def merge_policy(table: Table) -> str | None:
    """The merge policy the table's owner declared (``__table_args__`` info ``merge_policy``)."""
    policy = table.info.get("merge_policy")
    if policy is not None and policy not in MERGE_POLICIES:
        raise PluginError(f"table {table.name!r} declares an unknown merge_policy {policy!r}")
    return policy


def unique_keys(table: Table, column: Column[Any]) -> list[tuple[Column[Any], ...]]:
    """Every unique constraint, unique index or primary key of ``table`` that includes ``column``."""
    keys: dict[tuple[str, ...], tuple[Column[Any], ...]] = {}
    for item in list(table.constraints) + list(table.indexes):
        if isinstance(item, (UniqueConstraint, PrimaryKeyConstraint)) or (isinstance(item, Index) and item.unique):
            cols = tuple(item.columns)
            if any(c is column for c in cols):
                keys.setdefault(tuple(sorted(c.name for c in cols)), cols)
    return list(keys.values())


def _ids(ctx: ServiceContext, pk: list[Column[Any]], *where: Any) -> list[Any]:
    """Primary keys of the matching rows: values for a one-column key, lists for a composite one."""
    rows = ctx.session.execute(select(*pk).where(*where).order_by(*pk)).all()
    return [row[0] if len(pk) == 1 else list(row) for row in rows]


def _in(pk: list[Column[Any]], ids: list[Any]) -> Any:
    return pk[0].in_(ids) if len(pk) == 1 else tuple_(*pk).in_([tuple(i) for i in ids])


def _clashing(ctx: ServiceContext, table: Table, column: Column[Any], pk: list[Column[Any]], key: tuple[Column[Any], ...], mine: int,
              theirs: int) -> list[Any]:
    """Keys of ``mine``'s rows that have a row of ``theirs`` with the same values on ``key``."""
    other = table.alias("other")
    same = [other.c[c.name] == c for c in key if c is not column]
    return _ids(ctx, pk, column == mine, exists().where(other.c[column.name] == theirs, *same))


def _remove(ctx: ServiceContext, table: Table, pk: list[Column[Any]], ids: list[Any]) -> RemovedRows:
    rows = [{k: _to_json(v) for k, v in row.items()} for row in ctx.session.execute(
        select(table).where(_in(pk, ids)).order_by(*pk)).mappings()]
    ctx.session.execute(delete(table).where(_in(pk, ids)))
    return RemovedRows(table.name, rows)


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return jsonable(value)


def _from_json(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    type_ = column.type
    try:
        kind = (type_.impl_instance if isinstance(type_, TypeDecorator) else type_).python_type
    except NotImplementedError:
        return value
    if kind is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if kind is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if kind is dt.time and isinstance(value, str):
        return dt.time.fromisoformat(value)
    if kind is decimal.Decimal and isinstance(value, str):
        return decimal.Decimal(value)
    if kind is bytes and isinstance(value, dict):
        return base64.b64decode(value["base64"])
    return value


def _refuse(ctx: ServiceContext, table: Table, key: tuple[Column[Any], ...]) -> Conflict:
    return Conflict(_("These customers cannot be merged: both have rows in table %(table)s (plugin %(plugin)s) "
                      "with the same %(columns)s, and the plugin declares no merge policy for that table. "
                      "Ask its maintainer to declare one (keep_winner, keep_loser or drop_derived).",
                      table=table.name, plugin=table_owner(ctx, table), columns=", ".join(c.name for c in key)))


def move_rows(ctx: ServiceContext, winner_id: int, loser_id: int) -> list[MovedRows | RemovedRows]:
    """Move the loser's rows of every table with a foreign key to customers.id to the winner.

    Where a unique key includes the customer column, rows of both customers may clash; the
    table's declared ``merge_policy`` decides which row stays, and without one the merge is
    refused with a message naming the table and its plugin. Removed rows are returned whole,
    so :func:`restore` can put them back."""
    from ..models import load_all

    load_all()  # every table that may refer to a customer, the core's all
    done: list[MovedRows | RemovedRows] = []
    existing = set(sa_inspect(ctx.session.connection()).get_table_names())
    for table in Base.metadata.sorted_tables:
        # skip tables of plugins imported here but not migrated into this database
        if table.name in SKIP_TABLES or table.name not in existing or not table.primary_key.columns:
            continue
        pk = list(table.primary_key.columns)
        for fk in table.foreign_keys:
            if fk.column.table.name != "customers" or fk.column.name != "id":
                continue
            col = fk.parent
            policy, removed = merge_policy(table), []
            if policy == MERGE_DROP_DERIVED:
                removed = _ids(ctx, pk, col == loser_id)
            for key in unique_keys(table, col):
                clash = _clashing(ctx, table, col, pk, key, loser_id, winner_id)
                if not clash or policy == MERGE_DROP_DERIVED:
                    continue
                if policy is None:
                    raise _refuse(ctx, table, key)
                if policy == MERGE_KEEP_WINNER:
                    removed += [i for i in clash if i not in removed]
                else:  # keep the loser's: the winner's rows that clash give way
                    theirs = _clashing(ctx, table, col, pk, key, winner_id, loser_id)
                    done.append(_remove(ctx, table, pk, theirs))
            if removed:
                done.append(_remove(ctx, table, pk, removed))
            ids = _ids(ctx, pk, col == loser_id)
            if not ids:
                continue
            try:
                ctx.session.execute(update(table).where(_in(pk, ids)).values({col.name: winner_id}))
            except IntegrityError as exc:  # a unique key the model does not declare
                raise Conflict(_("These customers cannot be merged: their rows in table %(table)s (plugin "
                                 "%(plugin)s) clash on a unique key that the table's model does not declare.",
                                 table=table.name, plugin=table_owner(ctx, table))) from exc
            if any(c is col for c in pk):  # the key itself changed: record the rows' keys after the move
                at = [i for i, c in enumerate(pk) if c is col][0]
                ids = [winner_id if len(pk) == 1 else [winner_id if n == at else v for n, v in enumerate(i)]
                       for i in ids]
            done.append(MovedRows(table.name, col.name, ids, ",".join(c.name for c in pk)))
    return done


def move_back(ctx: ServiceContext, moved: dict[str, Any], winner_id: int, loser_id: int) -> None:
    """Undo one :class:`MovedRows` entry of a merge's audit data: those rows go back to the loser."""
    table = Base.metadata.tables[moved["table"]]
    pk = [table.c[name] for name in moved.get("pk", "id").split(",")]
    if len(pk) == 1:
        ids = [_from_json(pk[0], i) for i in moved["ids"]]
    else:
        ids = [[_from_json(c, v) for c, v in zip(pk, i, strict=True)] for i in moved["ids"]]
    column = table.c[moved["column"]]
    ctx.session.execute(update(table).where(_in(pk, ids), column == winner_id).values({column.name: loser_id}))


def restore(ctx: ServiceContext, removed: list[dict[str, Any]]) -> None:
    """Put back the rows a merge removed (after its moved rows went back to the loser)."""
    tables = Base.metadata.tables
    for entry in removed:
        table = tables[entry["table"]]
        pk = list(table.primary_key.columns)
        surrogate = pk[0] if len(pk) == 1 and not pk[0].foreign_keys else None
        for row in entry["rows"]:
            values = {k: _from_json(table.c[k], v) for k, v in row.items() if k in table.c}
            if surrogate is not None and ctx.session.scalar(
                    select(surrogate).where(surrogate == values.get(surrogate.name))) is not None:
                values.pop(surrogate.name)  # the id was given to a newer row meanwhile
            try:
                ctx.session.execute(insert(table).values(values))
            except IntegrityError as exc:
                raise Conflict(_("The merge cannot be undone: a row removed from table %(table)s (plugin "
                                 "%(plugin)s) clashes with a row added since the merge.",
                                 table=table.name, plugin=table_owner(ctx, table))) from exc
