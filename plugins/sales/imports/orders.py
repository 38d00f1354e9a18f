"""Import of orders with their lines: one row per line, the order's columns repeated on each, grouped
by order number; validated by the order service, written set-based (one INSERT per table per batch)."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.orm import selectinload

from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import _
from crmcore.normalize import fold
from crmcore.imports import ImportOptions, Row, RowResult
from crmcore.imports.driver import record
from crmcore.imports.sql import insert_rows
from crmcore.runtime import ServiceContext

from ..models import Order, OrderLine
from ..services import orders as svc
from .common import (by_key, cell, customer_id, customers_by_code, done, exists, group_rows, owner_id, products_by_code,
                     reject, split, unknown_columns, users_by_name)

HEAD = ("number", "customer_code", "order_date", "currency", "status", "owner")
LINE = ("product_code", "description", "quantity", "unit_price", "list_price", "discount_percent", "line_total")
COLUMNS = HEAD + LINE
# The service's field names as the file's columns, so a reader finds the cell to fix.
AS_COLUMN = {"customer_id": "customer_code", "owner_id": "owner"}
ORDER_VALUES = ("number", "customer_id", "owner_id", "quote_id", "opportunity_id", "order_date", "currency", "status",
                "total", "list_total", "source")
LINE_VALUES = ("product_id", "description", "quantity", "list_price", "unit_price", "discount_percent", "line_total")
_COLUMNS, _LINE, _LINE_CELLS = frozenset(COLUMNS), frozenset(LINE), frozenset(LINE[1:])


def _cells(row: Any) -> dict[str, Any]:
    """A row's cells of the kind's columns as :func:`.common.cell` reads each (text trimmed, empty ones left
    out), in one pass over the row's own keys; not an object: no cells."""
    if not isinstance(row, dict):
        return {}
    out = {}
    for key, value in row.items():
        if type(value) is str:
            value = value.strip()
            if not value:
                continue
        if value is not None and key in _COLUMNS:
            out[key] = value
    return out


def _order_data(rows: Sequence[dict[str, Any]], positions: list[int], refs: dict[str, Any],
                own: dict[int, dict[str, list[Any]]]) -> tuple[dict[str, Any], list[int], dict[str, list[Any]]]:
    """The order service's input for one order's rows (cells trimmed, empty ones left out): the order's
    columns (the same on every line, or empty after the first), its lines with products by code; problems go to the row they are on
    (``own``) or to the order. Returns the data, the row of each line and the order's errors."""
    first = rows[positions[0]]
    errors: dict[str, list[Any]] = {}
    head = [(key, first.get(key)) for key in HEAD[1:]]
    for i in positions[1:]:
        row = rows[i]
        for key, said in head:
            value = row.get(key)
            if value is not None and value != said:
                own.setdefault(i, {}).setdefault(key, []).append(
                    _("This line says '%(value)s'; the order's first line says '%(first)s'.", value=value,
                      first=said or ""))
    data: dict[str, Any] = {"number": first.get("number"),
                            "customer_id": customer_id(refs["customers"], first.get("customer_code"), errors)}
    for key in ("order_date", "currency", "status"):
        if first.get(key) is not None:
            data[key] = first.get(key)
    if first.get("owner") is not None:
        data["owner_id"] = owner_id(refs["users"], first.get("owner"), errors)
    lines, line_rows = [], []
    products = refs["products"]
    for i in positions:
        row = rows[i]  # its cells present (see _cells): None is never a value here
        if _LINE.isdisjoint(row):
            continue  # a row of the order's columns only: no line
        line = {key: value for key, value in row.items() if key in _LINE_CELLS}
        code = row.get("product_code")
        if code is not None:
            product = (type(code) is str and products.get(code)) or products.get(fold(str(code)))
            if product is None:
                own.setdefault(i, {}).setdefault("product_code", []).append(
                    _("No product has the code '%(code)s'.", code=code))
                continue
            line["product_id"] = product.id
        lines.append(line)
        line_rows.append(i)
    data["lines"] = lines
    return data, line_rows, errors


def _spread(messages: dict[str, Any], line_rows: list[int], errors: dict[str, list[Any]],
            own: dict[int, dict[str, list[Any]]]) -> None:
    """Validation errors (the schema's ``{"lines": {n: {field: [...]}}}`` or the service's
    ``lines.<n>.<field>``) to the row of line n; the rest to the order, under the file's column names."""
    for key, found in messages.items():
        parts = str(key).split(".", 2)
        if parts[0] == "lines" and isinstance(found, dict):
            nested = {f"lines.{n}.{field}": msgs for n, fields in found.items()
                      for field, msgs in (fields.items() if isinstance(fields, dict) else [("row", fields)])}
            _spread(nested, line_rows, errors, own)
        elif parts[0] == "lines" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(line_rows):
            field = parts[2] if len(parts) > 2 else "row"
            own.setdefault(line_rows[int(parts[1])], {}).setdefault(field, []).extend(found)
        elif AS_COLUMN.get(key, key) not in errors:  # a reference already reported by its column stays once
            errors.setdefault(AS_COLUMN.get(key, key), []).extend(found if isinstance(found, list) else [found])


def _rejection(positions: list[int], errors: dict[str, list[Any]], own: dict[int, dict[str, list[Any]]],
               number: str) -> tuple[CRMError, dict[int, dict[str, Any]]]:
    """Every row of a refused order: the order's problems and its own, or why its good line goes too."""
    per_row: dict[int, dict[str, Any]] = {}
    for i in positions:
        mine = {**errors, **own.get(i, {})}
        if not mine:
            bad = sorted(own)
            mine = {"order": [_("Order %(number)s is not imported: another of its lines is not valid.",
                                number=number)]} if bad else {}
        per_row[i] = mine
    return ValidationError(_("The order is not valid."), errors=errors or {"order": [
        _("Order %(number)s is not imported: one of its lines is not valid.", number=number)]}), per_row


def load_orders(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Create, update (lines replaced) or leave unchanged one batch of order rows, by order number.

    A bad line rejects its whole order and nothing else. New orders are written with one INSERT
    per table; changed ones through the ORM; audit, outbox and events in bulk."""
    ctx.require("sales.order.write")
    lines, rows = split(batch)
    results: list[RowResult | None] = [None] * len(rows)
    for i, row in enumerate(rows):
        bad = unknown_columns(row, _COLUMNS)
        if bad:
            results[i] = RowResult(i, "rejected", key=cell(row, "number") if isinstance(row, dict) else None,
                                   errors=bad)
    groups = group_rows(rows, "number", results)
    present = [_cells(row) for row in rows]  # each row's cells trimmed, empty ones left out: read once
    wanted = [present[i] for positions in groups.values() for i in positions]
    refs = {"customers": customers_by_code(ctx, (r.get("customer_code") for r in wanted)),
            "products": products_by_code(ctx, (r.get("product_code") for r in wanted)),
            "users": users_by_name(ctx, (r.get("owner") for r in wanted))}
    products_by_id = {p.id: p for p in refs["products"].values()}
    customers_by_id = {c.id: c for c in refs["customers"].values()}
    existing = by_key(ctx, Order.number, groups, selectinload(Order.lines))
    created: list[tuple[Order, dict[str, Any], list[int]]] = []
    updated: list[tuple[Order, dict[str, Any], list[int]]] = []
    with ctx.session.no_autoflush:
        for number, positions in groups.items():
            own = {i: dict(r.errors) for i in positions if (r := results[i]) is not None}  # rejected already
            live = [i for i in positions if i not in own]
            data, line_rows, errors = _order_data(present, live, refs, own) if live else ({}, [], {})
            order = existing.get(number)
            if order is not None and not options.update:
                reject(results, positions, number, exists(_("The order is not valid.")))
                continue
            clean = None
            try:
                if live:  # the order's one validation (its schema, then the service's rules)
                    clean = svc.validate_order(ctx, {k: v for k, v in data.items() if v is not None}, order,
                                               products_by_id, customers_by_id)
            except ValidationError as exc:
                _spread(exc.errors, line_rows, errors, own)
            except CRMError as exc:  # a customer outside the actor's scope
                reject(results, positions, number, exc)
                continue
            if errors or own or clean is None:
                exc, per_row = _rejection(positions, errors, own, number)
                reject(results, positions, number, exc, per_row)
                continue
            try:
                if order is None:
                    clean.data.setdefault("source", "import")
                    order = svc.new_order(ctx, clean)
                    changes = svc.apply_order(order, clean, True, core_insert=True)
                    ctx.hook.crm_before_save(ctx=ctx, entity="order", obj=order, changes=changes, created=True)
                    created.append((order, changes, positions))
                    continue
                changes = _update(ctx, order, clean)
            except CRMError as exc:
                reject(results, positions, number, exc)
                continue
            if changes:
                updated.append((order, changes, positions))
            else:
                for i in positions:
                    results[i] = RowResult(i, "unchanged", order.id, number)
    ids = _insert(ctx, [order for order, _changes, _pos in created])
    entries = []
    for (order, changes, positions), new_id in zip(created, ids, strict=True):
        entries.append(("order", "created", new_id, changes,
                        {"number": order.number, "customer_id": order.customer_id}, "sales.order.created"))
        for i in positions:
            results[i] = RowResult(i, "created", new_id, order.number)
    for order, changes, positions in updated:
        entries.append(("order", "updated", order.id, changes,
                        {"number": order.number, "customer_id": order.customer_id}, "sales.order.updated"))
        for i in positions:
            results[i] = RowResult(i, "updated", order.id, order.number)
    record(ctx, options, entries)
    return done(results, lines)


def _insert(ctx: ServiceContext, orders: list[Order]) -> list[int]:
    """Insert new orders and their lines: one INSERT ... RETURNING for the orders, one for the lines."""
    if not orders:
        return []
    # Read from each new record's own dict: what is set (a field never set is None, as ``getattr`` gives).
    values = [{key: order.__dict__.get(key) for key in ORDER_VALUES} for order in orders]
    ids = insert_rows(ctx, Order.__table__, values)
    lines = [{"order_id": oid, **{key: ln.__dict__.get(key) for key in LINE_VALUES}}
             for order, oid in zip(orders, ids, strict=True) for ln in order.__dict__["lines"]]
    insert_rows(ctx, OrderLine.__table__, lines, returning=False)
    return ids


def _update(ctx: ServiceContext, order: Order, clean: Any) -> dict[str, Any]:
    """Write a changed order in a savepoint of its own: refused (closed, or a plugin's ``crm_before_save``
    says no), it is left exactly as it was and the rest of the batch goes on."""
    if not svc.order_differs(order, clean):
        return {}
    with ctx.session.begin_nested():
        changes = svc.apply_order(order, clean, False)
        if changes:
            ctx.hook.crm_before_save(ctx=ctx, entity="order", obj=order, changes=changes, created=False)
    return changes
