"""Import of products (by code) and price lists (one row per price, grouped by the list's name),
validated by the catalogue's schema and service; new products and new prices written with one INSERT per batch,
changes with one flush, audit in bulk."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.orm import selectinload

from crmcore.db import utcnow
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import _
from crmcore.normalize import fold, tidy
from crmcore.imports import ImportOptions, Row, RowResult
from crmcore.imports.driver import record
from crmcore.imports.sql import insert_rows, row_values, transient
from crmcore.services.unit import apply_changes, new_values
from crmcore.runtime import ServiceContext

from ..models import PriceList, PriceListItem, Product
from ..services import catalog as svc
from .common import (by_key, cell, done, exists, group_rows, product_ids_by_code, products_by_code, reject, split,
                     unknown_columns)

PRODUCT_COLUMNS = ("code", "name", "category", "unit", "list_price", "currency", "cost", "active", "description")
PRICE_LIST_COLUMNS = ("price_list", "currency", "valid_from", "valid_to", "active", "product_code", "price")
LIST_HEAD = ("currency", "valid_from", "valid_to", "active")


def _present(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The row's non-empty cells of ``columns`` (each read once)."""
    return {k: value for k in columns if k in row and (value := cell(row, k)) is not None}


def load_products(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Create, update or leave unchanged one batch of products, by code (folded, as stored)."""
    ctx.require("sales.product.write")
    lines, rows = split(batch)
    results: list[RowResult | None] = [None] * len(rows)
    for i, row in enumerate(rows):
        bad = unknown_columns(row, PRODUCT_COLUMNS)
        if bad:
            results[i] = RowResult(i, "rejected", key=cell(row, "code") if isinstance(row, dict) else None,
                                   errors=bad)
    keyed = [(fold(str(cell(r, "code"))), i) for i, r in enumerate(rows) if results[i] is None and cell(r, "code")]
    groups = group_rows(rows, "code", results)
    stored = products_by_code(ctx, (code for code, _i in keyed))
    created: dict[str, Product] = {}
    entries: dict[int, tuple[Product, str, dict[str, Any]]] = {}
    with ctx.session.no_autoflush:
        for _key, positions in groups.items():
            for i in positions:
                if results[i] is not None:
                    continue
                code = fold(str(cell(rows[i], "code")))
                product = stored.get(code) or created.get(code)
                try:
                    if product is not None and not options.update:
                        raise exists(_("The product is not valid."))
                    data = svc.validate_product(ctx, _present(rows[i], PRODUCT_COLUMNS), product, codes_checked=True)
                    if product is None:  # built without attribute events (``transient``): one INSERT below
                        values, changes = new_values(svc.new_product_values(ctx), data, svc.PRODUCT_FIELDS)
                        product = transient(Product, **values)
                        ctx.hook.crm_before_save(ctx=ctx, entity="product", obj=product, changes=changes, created=True)
                        created[code] = product  # written below, one INSERT for the batch's new products
                        entries[i] = (product, "created", changes)
                        continue
                    if not any(k in data and getattr(product, k) != data[k] for k in svc.PRODUCT_FIELDS):
                        results[i] = RowResult(i, "unchanged", product.id, product.code)
                        continue
                    with ctx.session.begin_nested():  # refused by a plugin: left as it was
                        changes = apply_changes(product, data, svc.PRODUCT_FIELDS)
                        if changes:
                            ctx.hook.crm_before_save(ctx=ctx, entity="product", obj=product, changes=changes,
                                                     created=False)
                except CRMError as exc:
                    reject(results, [i], code, exc)
                    continue
                if changes:
                    entries[i] = (product, "updated", changes)
                else:
                    results[i] = RowResult(i, "unchanged", product.id, product.code)
    ctx.session.flush()
    now = utcnow()
    table = Product.__table__
    for product, new_id in zip(created.values(), insert_rows(ctx, table, [
            row_values(product, table, now) for product in created.values()]), strict=True):
        product.id = new_id
    for i, (product, action, _changes) in entries.items():
        results[i] = RowResult(i, action, product.id, product.code)
    for result in results:  # a code twice in this batch, the same again: the product created just now
        if result is not None and result.id is None and result.status == "unchanged":
            result.id = created[str(result.key)].id
    record(ctx, options, [("product", action, product.id, changes, None, f"sales.product.{action}")
                          for product, action, changes in entries.values()])
    return done(results, lines)


def _list_data(rows: Sequence[dict[str, Any]], positions: list[int]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The price list's columns (the same on every row, or empty after the first) and their disagreements."""
    first = rows[positions[0]]
    errors: dict[str, list[Any]] = {}
    for i in positions[1:]:
        row = rows[i]
        for key in LIST_HEAD:
            raw = row.get(key)
            if raw is None or raw == first.get(key):  # absent, or the first line's very cell: no disagreement
                continue
            value = cell(row, key)
            if value is not None and value != cell(first, key):
                errors.setdefault(key, []).append(
                    _("This line says '%(value)s'; the list's first line says '%(first)s'.", value=value,
                      first=cell(first, key) or ""))
    return {"name": tidy(str(cell(first, "price_list"))), **_present(first, LIST_HEAD)}, errors


def load_price_lists(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Set the prices of one batch of rows, each a product's price in a named price list (created on
    its first row). Other prices of a list stay as they are. A problem with the list's own columns
    rejects its rows; a bad price or an unknown product rejects that row only."""
    ctx.require("sales.product.write")
    lines, rows = split(batch)
    results: list[RowResult | None] = [None] * len(rows)
    for i, row in enumerate(rows):
        bad = unknown_columns(row, PRICE_LIST_COLUMNS)
        if bad:
            results[i] = RowResult(i, "rejected", key=cell(row, "price_list") if isinstance(row, dict) else None,
                                   errors=bad)
    groups = {tidy(k): v for k, v in group_rows(rows, "price_list", results).items()}
    lists = by_key(ctx, PriceList.name, groups, selectinload(PriceList.items))
    products = product_ids_by_code(ctx, (cell(rows[i], "product_code") for ps in groups.values() for i in ps))
    touched: dict[str, PriceList] = {}
    added: dict[tuple[int, int], dict[str, Any]] = {}  # (list, product) -> a new item, written below
    audit: list[tuple[PriceList, str, dict[str, str], dict[str, str], dict[str, Any]]] = []
    new_lists: list[PriceList] = []
    with ctx.session.no_autoflush:
        for name, positions in groups.items():
            live = [i for i in positions if results[i] is None]
            if not live:
                continue
            pl = lists.get(name)
            data, errors = _list_data(rows, live)
            try:
                if pl is not None and not options.update:
                    raise exists(_("The price list is not valid."))
                if errors:
                    raise ValidationError(_("The price list is not valid."), errors=errors)
                data = svc.validate_price_list(ctx, data, pl, name_checked=True)
            except CRMError as exc:
                reject(results, live, name, exc)
                continue
            if pl is None:  # built with its values (``transient``): the batch's new lists by one INSERT below
                values, changes = new_values(svc.new_price_list_values(ctx), data, svc.PRICE_LIST_FIELDS)
                pl, action = transient(PriceList, **values), "created"
                new_lists.append(pl)
            else:
                changes, action = apply_changes(pl, data, svc.PRICE_LIST_FIELDS), "updated"
            touched[name] = pl
            before: dict[str, str] = {}
            after: dict[str, str] = {}
            items = {it.product_id: it for it in pl.items} if action == "updated" else {}  # by product: no scan per row
            list_name = pl.name  # read once, not per row
            for i in live:
                results[i] = _set_price(ctx, pl, list_name, rows[i], i, products, items, before, after, added)
            if changes or before != after or action == "created":
                audit.append((pl, action, before, after, changes))
    ctx.session.flush()  # the stored lists' changed items
    table = PriceList.__table__
    now = utcnow()
    for pl, new_id in zip(new_lists, insert_rows(ctx, table, [row_values(pl, table, now) for pl in new_lists]),
                          strict=True):
        pl.id = new_id
    insert_rows(ctx, PriceListItem.__table__, [{"price_list_id": pl.id, "product_id": product_id, "price": price}
                                               for (_list, product_id), (pl, price) in added.items()],
                returning=False)
    stored = {id(pl) for pl in lists.values()}
    for pl in {id(pl): pl for pl, _price in added.values() if id(pl) in stored}.values():
        ctx.session.expire(pl, ["items"])  # a stored list: read again when next asked for, with the items just written
    entries = []
    for pl, action, before, after, changes in audit:
        if before != after:
            changes["items"] = [before, after]
        entries.append(("price_list", action, pl.id, changes, None, f"sales.price_list.{action}"))
    record(ctx, options, entries)
    for name, pl in touched.items():
        for i in groups[name]:
            result = results[i]
            if result is not None and result.status != "rejected":
                result.id = pl.id
    return done(results, lines)


def _set_price(ctx: ServiceContext, pl: PriceList, name: str, row: dict[str, Any], i: int, products: dict[Any, int],
               items: dict[int, PriceListItem], before: dict[str, str], after: dict[str, str],
               added: dict[tuple[int, int], Any]) -> RowResult:
    """One row's price in ``pl`` (``items``: its stored items by product): created, updated, unchanged or rejected
    (this row only). A new item goes to ``added`` (``(id(pl), product id) -> (pl, price)``), written with the
    batch's others."""
    code = cell(row, "product_code")
    product_id = products.get(code) if code else None
    if product_id is None:
        message = _("No product has the code '%(code)s'.", code=code) if code else _("Give the product's code.")
        return RowResult(i, "rejected", key=name, errors={"product_code": [message]})
    try:
        amount = svc.validate_price(ctx, product_id, cell(row, "price"), product_checked=True)  # found by code above
    except ValidationError as exc:
        return RowResult(i, "rejected", key=name, errors=exc.errors)
    key = str(product_id)
    new = added.get((id(pl), product_id))
    if new is not None:  # added by an earlier row of this batch
        if new[1] == amount:
            return RowResult(i, "unchanged", key=name)
        added[(id(pl), product_id)] = (pl, amount)
        after[key] = str(amount)
        return RowResult(i, "updated", key=name)
    item = items.get(product_id)
    if item is not None and item.price == amount:
        return RowResult(i, "unchanged", key=name)
    if item is None:
        added[(id(pl), product_id)] = (pl, amount)
        after[key] = str(amount)
        return RowResult(i, "created", key=name)
    before.setdefault(key, str(item.price))
    item.price = amount
    after[key] = str(amount)
    return RowResult(i, "updated", key=name)
