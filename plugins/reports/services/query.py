"""Run a report: its definition compiled to ONE SQL query (filters, groups, measures, sort, limit) under the
reader's record rules, with a row limit and a statement timeout; ids and codes in the result read as names."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import asc, desc, func, literal_column, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.expression import ColumnClause

from crmcore import entities as meta
from crmcore.conditions import Field, compile_sql
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services.condition_fields import TITLE_COLUMNS, scoped

from .definition import entity_fields
from .periods import bucket

DEFAULT_TIMEOUT = 10.0  # seconds; setting REPORTS_TIMEOUT_SECONDS
SQLITE_STEPS = 20_000  # virtual machine steps between two looks at the clock (well under a millisecond)
CENT = Decimal("0.01")
AGG_LABELS: dict[str, Any] = {"count": _("Count"), "sum": _("Sum of %(field)s"), "avg": _("Average %(field)s"),
                              "min": _("Lowest %(field)s"), "max": _("Highest %(field)s"),
                              "distinct": _("Distinct %(field)s")}


class ReportTooSlow(ValidationError):
    """The report ran longer than the statement timeout allows."""


@dataclass
class Column:
    """A column of a report's result: a grouping (``g0``, ``g1``) or a measure (``m0``...)."""

    key: str
    label: str
    role: str  # group | measure
    kind: str
    field: str | None = None
    bucket: str | None = None
    money: bool = False
    agg: str | None = None
    choices: tuple[Any, ...] = ()  # a grouped field's (value, label) pairs


@dataclass
class Result:
    """What a report answered: its columns, its rows (raw values and what a person reads), and whether the
    row limit cut it short."""

    name: str
    entity: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"keys": [raw group values], "cells": [text...], "values": [...]}
    truncated: bool = False
    limit: int = 0
    currency: str | None = None
    display: str = "table"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "entity": self.entity, "display": self.display, "currency": self.currency,
                "truncated": self.truncated, "limit": self.limit,
                "columns": [{"key": c.key, "label": c.label, "role": c.role, "type": c.kind, "field": c.field,
                             "bucket": c.bucket} for c in self.columns],
                "rows": self.rows}


def base_currency(ctx: ServiceContext) -> str:
    return str(ctx.settings.get("DEFAULT_CURRENCY") or "CNY").upper()


def zone_of(ctx: ServiceContext) -> str:
    return str(ctx.settings.get("DEFAULT_TIMEZONE") or "UTC")


def _names_used(definition: dict[str, Any]) -> set[str]:
    """Every field the definition names: its groups', its measures' and its filters' leaves."""
    names = {g.get("field") for g in definition.get("group_by") or []}
    names |= {m.get("field") for m in definition.get("measures") or []}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("field"), str):
                names.add(node["field"])
            for key in ("all", "any"):
                for item in node.get(key) or []:
                    walk(item)
            walk(node.get("not"))
    walk(definition.get("filters"))
    return {n for n in names if isinstance(n, str)}


def joined_fields(ctx: ServiceContext, entity: Any, definition: dict[str, Any]) -> tuple[dict[str, Field], list[Any]]:
    """The entity's fields, with those one hop away that the definition names read through a JOIN of the
    related record (one per relation) instead of a subquery per row: the same values (a many-to-one relation has
    at most one record), the plan a person would write. Returns the fields and the joins (target, on-clause, inner: a NOT NULL key)."""
    from sqlalchemy import and_

    known = dict(entity_fields(ctx, entity.name))
    mapper = sa_inspect(entity.model)
    joins: list[Any] = []
    used = _names_used(definition)
    later: list[Any] = []  # joins of computed fields, after the related records whose columns they match

    def computed_join(name: str, computed: Any) -> bool:
        if computed is None or computed.join is None:
            return False
        rows, key = computed.join(ctx)
        later.append((rows, rows.c.key == key, False))
        spec = known[name]
        known[name] = Field(name, spec.kind, rows.c.value, spec.label, spec.choices)
        return True

    for computed in meta.computed(ctx, entity.name):
        if computed.field in used and computed.field in known:
            computed_join(computed.field, computed)
    prefixes = {n.split(".", 1)[0] for n in used if "." in n and not n.startswith("attributes.")}
    for key in sorted(prefixes):
        rel = mapper.relationships.get(key)
        target = rel.mapper.class_ if rel is not None else None
        if rel is None or rel.direction.name != "MANYTOONE" or target is entity.model:
            continue  # a self-reference keeps its subquery
        on = and_(*[remote == local for local, remote in rel.local_remote_pairs])
        # a NOT NULL foreign key (enforced on both engines) has exactly one related record: an inner join
        # gives the same rows and leaves the planner free to order the joins (PostgreSQL then joins order
        # lines to orders in parallel, as the hand-written query does; an outer join made it hash every
        # order joined to its customer's address first)
        joins.append((target, on, all(not local.nullable for local, _remote in rel.local_remote_pairs)))
        target_entity = next((e for e in meta.registered(ctx).values() if e.model is target), None)
        for name, spec in list(known.items()):
            if not name.startswith(f"{key}.") or target_entity is None:
                continue
            column = name.split(".", 1)[1]
            if column in target.__table__.c:
                known[name] = Field(name, spec.kind, getattr(target, column), spec.label, spec.choices)
            else:  # a computed field of the related record, correlated to its table, now in the FROM
                computed = next((c for c in meta.computed(ctx, target_entity.name) if c.field == column), None)
                if name in used and computed_join(name, computed):
                    continue  # read through its own join, computed once
                if computed is not None:
                    known[name] = Field(name, spec.kind, computed.expr(ctx), spec.label, spec.choices)
    return known, joins + later


def build(ctx: ServiceContext, definition: dict[str, Any], where: tuple[Any, ...] = (),
          currency: str | None = None) -> tuple[Any, list[Column]]:
    """The one SELECT of a (validated) definition and its columns; ``where``: more SQL conditions on the entity's
    columns (a metric's period and subject), ``currency``: amounts in it instead of the base currency."""
    entity = meta.get(ctx, definition["entity"])
    known, joins = joined_fields(ctx, entity, definition)
    dialect = ctx.session.get_bind().dialect.name
    zone = zone_of(ctx)
    columns: list[Column] = []
    exprs: list[Any] = []
    for i, group in enumerate(definition.get("group_by") or []):
        spec = known[group["field"]]
        expr = bucket(spec.expr, spec.kind, group["bucket"], zone, dialect) if group.get("bucket") else spec.expr
        label = str(spec.label) if not group.get("bucket") else f"{spec.label} ({_period_label(group['bucket'])})"
        columns.append(Column(f"g{i}", label, "group", "str" if group.get("bucket") else spec.kind, spec.name,
                              group.get("bucket"), choices=tuple(spec.choices)))
        exprs.append(expr.label(f"g{i}"))
    groups = list(exprs)
    for i, measure in enumerate(definition["measures"]):
        agg = measure["agg"]
        spec = known.get(measure.get("field") or "")
        if agg == "count" or spec is None:
            columns.append(Column(f"m{i}", str(AGG_LABELS["count"]), "measure", "int", agg="count"))
            exprs.append(func.count().label(f"m{i}"))
            continue
        value, money = spec.expr, False
        if spec.kind == "money" and agg != "distinct":
            value, money = _converted(ctx, entity.model, spec, known, currency or base_currency(ctx)), True
        sql = {"sum": func.sum, "avg": func.avg, "min": func.min, "max": func.max}.get(agg)
        expr = sql(value) if sql is not None else func.count(func.distinct(value))
        kind = "int" if agg == "distinct" else "money" if money else "num" if agg == "avg" else spec.kind
        columns.append(Column(f"m{i}", str(AGG_LABELS[agg]) % {"field": spec.label}, "measure", kind, spec.name,
                              money=money, agg=agg))
        exprs.append(expr.label(f"m{i}"))
    model = entity.model
    stmt = select(*exprs).select_from(model)
    for target, on, inner in joins:
        stmt = stmt.join(target, on) if inner else stmt.outerjoin(target, on)
    stmt = stmt.where(compile_sql(definition.get("filters"), known, "filters"), *where)
    if "deleted_at" in model.__table__.c:
        stmt = stmt.where(model.deleted_at.is_(None))
    stmt = scoped(ctx, entity.name, model, stmt)
    if groups:
        stmt = stmt.group_by(*[literal_column(f"g{i}") for i in range(len(groups))])  # by name: one expression
    direction = desc if definition.get("sort_desc") else asc
    order = [direction(f"m{0}")] if definition.get("sort") == "measure" or not groups else []
    order += [direction(f"g{i}") for i in range(len(groups))]
    stmt = stmt.order_by(*order).limit(int(definition.get("row_limit") or 500) + 1)
    return stmt, columns


def _converted(ctx: ServiceContext, model: Any, spec: Field, known: dict[str, Field], target: str) -> Any:
    """A money field in ``target`` (the base currency unless asked): the row's currency is the entity's own, or that of the record the
    field (or, for a record without one such as an order line, its parent) belongs to."""
    prefix = spec.name.rsplit(".", 1)[0] + "." if "." in spec.name else ""
    currency = known.get(f"{prefix}currency") or next((f for n, f in known.items() if n.endswith(".currency")), None)
    if currency is None or not _foreign_currency(ctx, _plain_column(model, currency.name), target):
        return spec.expr
    answer = ctx.hook.crm_convert_money(ctx=ctx, amount=spec.expr, currency=currency.expr, target=target)
    return spec.expr if answer is None else answer


def _plain_column(model: Any, name: str) -> Any:
    """The table column a field (``currency``, ``order.currency``) reads, or None for anything else."""
    *path, column = name.split(".")
    for hop in path:
        rel = sa_inspect(model).relationships.get(hop)
        if rel is None:
            return None
        model = rel.mapper.class_
    return model.__table__.c.get(column)


def _foreign_currency(ctx: ServiceContext, column: Any, target: str) -> bool:
    """Whether any row of the currency column's table is in another currency than ``target`` (or in none):
    asked once per run; when none is, every amount is already in ``target`` and needs no conversion."""
    if not isinstance(column, ColumnClause) or column.table is None:
        return True  # not a plain column: convert
    if column.nullable:
        missing = select(literal_column("1")).select_from(column.table).where(column.is_(None)).limit(1)
        if ctx.session.execute(missing).first() is not None:
            return True
    # the lowest and the highest currency: with an index on the column (the sales tables have one) each is one
    # look-up at an end of the index on both engines, where "any row <> target" scanned every row in one currency
    # (10M orders: seconds per run); two statements, since SQLite reads min() and max() from an index only alone
    low = ctx.session.scalar(select(func.min(column)))
    high = ctx.session.scalar(select(func.max(column)))
    return low is not None and (low != target or high != target)


def _period_label(period: str) -> str:
    return str({"day": _("day"), "week": _("week"), "month": _("month"), "quarter": _("quarter"),
                "year": _("year")}[period])


def execute(ctx: ServiceContext, stmt: Any) -> list[Any]:
    """Run ``stmt`` under the statement timeout (setting ``REPORTS_TIMEOUT_SECONDS``); ReportTooSlow past it."""
    timeout = float(ctx.settings.get("REPORTS_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT)
    conn = ctx.session.connection()
    try:
        if conn.dialect.name == "postgresql":
            # JIT compiling costs more than it saves on a report's one aggregate (tens of ms): off for it
            # one round trip: the settings read in a subquery kept apart (OFFSET 0), so before they are set
            timeout_before, jit_before = conn.execute(sql_text(
                "SELECT old.t, old.j, set_config('statement_timeout', :ms, true), set_config('jit', 'off', true) "
                "FROM (SELECT current_setting('statement_timeout') AS t, current_setting('jit') AS j OFFSET 0) AS old"),
                {"ms": str(max(1, int(timeout * 1000)))}).one()[:2]
            rows = list(conn.execute(stmt).all())  # a timeout aborts the transaction: rolled back below
            conn.execute(sql_text("SELECT set_config('statement_timeout', :v, true), set_config('jit', :jit, true)"),
                         {"v": timeout_before, "jit": jit_before})
            return rows
        raw = conn.connection.dbapi_connection
        deadline = time.monotonic() + timeout
        setter = getattr(raw, "set_progress_handler", None)
        if setter is not None:
            setter(lambda: 1 if time.monotonic() > deadline else 0, SQLITE_STEPS)
        try:
            return list(conn.execute(stmt).all())
        finally:
            if setter is not None:
                setter(None, 0)
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "interrupted" not in text and "statement timeout" not in text:
            raise
        ctx.session.rollback()
        raise ReportTooSlow(_("The report took longer than %(seconds)s seconds and was stopped.", seconds=timeout),
                            errors={"filters": [_("Narrow the filters, group by fewer fields or a longer period.")]}
                            ) from None


def run(ctx: ServiceContext, definition: dict[str, Any], name: str = "") -> Result:
    """The report's rows, at most its row limit, read as a person reads them."""
    stmt, columns = build(ctx, definition)
    limit = int(definition.get("row_limit") or 500)
    rows = execute(ctx, stmt)
    truncated = len(rows) > limit
    rows = rows[:limit]
    groups = [c for c in columns if c.role == "group"]
    names = [_names(ctx, definition["entity"], c, {row[i] for row in rows}) for i, c in enumerate(groups)]
    width = len(groups)
    measures = [(j, _converter(c)) for j, c in enumerate(columns[width:], start=width)]
    out = []
    for row in rows:  # ~2,000 rows at most by default: kept to plain lookups (the time around the query)
        keys, cells = [], []
        for i in range(width):
            value = row[i]
            if type(value) is str:
                keys.append(value)
                cells.append(names[i].get(value, value))
            else:
                keys.append(_plain(value))
                cells.append(names[i][value] if value in names[i] else _text(value))
        out.append({"keys": keys, "cells": cells,
                    "values": [None if row[j] is None else convert(row[j]) for j, convert in measures]})
    return Result(name, definition["entity"], columns, out, truncated, limit, base_currency(ctx),
                  str(definition.get("display") or "table"))


def _names(ctx: ServiceContext, entity: str, column: Column, values: set[Any]) -> dict[Any, str]:
    """What a person reads for the grouped values: a choice's label, a record's name for an id."""
    if column.bucket or column.field is None:
        return {}
    out: dict[Any, str] = {v: str(label) for v, label in column.choices if v in values}
    if None in values:
        out[None] = str(_("(empty)"))
    target = _target(ctx, entity, column.field)
    if target is not None:
        model = target.model
        titles = [getattr(model, c) for c in TITLE_COLUMNS if c in model.__table__.c]  # full name, else username
        ids = [v for v in values if v is not None]
        if titles and ids:
            out.update({k: str(t) for k, t in ctx.session.execute(
                select(model.id, func.coalesce(*titles, "")).where(model.id.in_(ids))).all() if t})
    return out


def _target(ctx: ServiceContext, entity: str, name: str) -> Any:
    """The entity a foreign-key field (``owner_id``, ``customer.owner_id``) points to, or None."""
    registered = meta.registered(ctx)
    model = registered[entity].model
    *path, column = name.split(".")
    for hop in path:
        rel = sa_inspect(model).relationships.get(hop)
        if rel is None:
            return None
        model = rel.mapper.class_
    col = sa_inspect(model).columns.get(column)
    if col is None:
        return None
    by_table = {e.model.__table__.name: e for e in registered.values()}
    return next((by_table.get(fk.column.table.name) for fk in col.foreign_keys), None)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _text(value: Any) -> str:
    if value is None:
        return str(_("(empty)"))
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return str(_plain(value))


def _converter(column: Column) -> Any:
    """:func:`_number` for one measure column, its kind looked at once (not once per row)."""
    if column.kind in ("date", "datetime"):
        return _plain
    if column.kind == "int":
        return lambda value: value if type(value) is int else _number(value, column)

    def cents(value: Any) -> Any:
        return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT, rounding=ROUND_HALF_UP)
    return cents


def _number(value: Any, column: Column) -> Any:
    """A measure's value: whole numbers as they are, amounts and averages to the cent."""
    if value is None:
        return None
    if column.kind in ("date", "datetime"):
        return _plain(value)
    if column.kind == "int" and not isinstance(value, (float, Decimal)):
        return int(value)
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT, rounding=ROUND_HALF_UP)
