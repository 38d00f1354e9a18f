"""What the sales import kinds share: cells, one IN lookup per batch, rows grouped by record, results."""
from __future__ import annotations

from typing import Any, Collection, Iterable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import _
from crmcore.models import Customer, User
from crmcore.normalize import fold
from crmcore.imports import Row, RowResult
from crmcore.runtime import ServiceContext

from ..models import Product

CHUNK = 2000  # keys per IN list: under every database's limit on bound parameters


def cell(row: dict[str, Any], key: str) -> Any:
    """A cell: text trimmed, an empty cell as None; a JSON value (number, bool) as it is."""
    value = row.get(key)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def chunks(keys: Iterable[Any]) -> Iterator[list[Any]]:
    keys = list(dict.fromkeys(k for k in keys if k is not None))
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


def by_key(ctx: ServiceContext, column: Any, keys: Iterable[Any], *options: Any) -> dict[Any, Any]:
    """The records whose ``column`` is one of ``keys``, by that key: one IN query per :data:`CHUNK`."""
    entity = column.class_
    found: dict[Any, Any] = {}
    for part in chunks(keys):
        for obj in ctx.session.scalars(select(entity).where(column.in_(part)).options(*options)):
            found[getattr(obj, column.key)] = obj
    return found


def customers_by_code(ctx: ServiceContext, codes: Iterable[str | None]) -> dict[str, Customer]:
    """Customers by code (codes are keys, stored folded), without their tags and owner."""
    return by_key(ctx, Customer.code, (fold(c) for c in codes if c), lazyload("*"))


def products_by_code(ctx: ServiceContext, codes: Iterable[str | None]) -> dict[str, Product]:
    """Products by code (folded, as the catalogue stores them)."""
    return by_key(ctx, Product.code, (fold(c) for c in codes if c))


def product_ids_by_code(ctx: ServiceContext, codes: Iterable[Any]) -> dict[Any, int]:
    """Product ids by code as written (folded to look them up, as the catalogue stores them): one query of two
    columns per :data:`CHUNK` codes, no objects loaded, each distinct code folded once."""
    written: dict[Any, str] = {}
    for code in codes:
        if code and code not in written:
            written[code] = fold(str(code))
    found: dict[str, int] = {}
    for part in chunks(set(written.values())):
        found.update(ctx.session.execute(select(Product.code, Product.id).where(Product.code.in_(part))).all())
    return {code: found[folded] for code, folded in written.items() if folded in found}


def users_by_name(ctx: ServiceContext, names: Iterable[str | None]) -> dict[str, User]:
    """Users by user name (an import names the owner, never a stored id)."""
    return by_key(ctx, User.username, (n for n in names if n))


def customer_id(customers: dict[str, Customer], code: Any, errors: dict[str, list[Any]],
                field: str = "customer_code") -> int | None:
    """The id of the customer of ``code``, or an error under ``field`` (a code is required)."""
    if not code:
        errors.setdefault(field, []).append(_("Give the customer's code."))
        return None
    customer = customers.get(fold(str(code)))
    if customer is None:
        errors.setdefault(field, []).append(_("No customer has the code '%(code)s'.", code=code))
        return None
    return customer.id


def owner_id(users: dict[str, User], name: Any, errors: dict[str, list[Any]], field: str = "owner") -> int | None:
    """The id of the user called ``name`` (None when no owner is given), or an error under ``field``."""
    if not name:
        return None
    user = users.get(str(name))
    if user is None:
        errors.setdefault(field, []).append(_("No user is called '%(name)s'.", name=name))
        return None
    return user.id


def unknown_columns(row: Any, columns: Collection[str]) -> dict[str, list[Any]]:
    """Errors for a row that is not an object or names columns the kind does not have (``columns``: a
    frozenset makes the common case, a row of known columns only, one set operation)."""
    if not isinstance(row, dict):
        return {"row": [_("Each row must be an object.")]}
    known = columns if isinstance(columns, frozenset) else frozenset(columns)
    if known.issuperset(row):
        return {}
    return {k: [_("Unknown field.")] for k in sorted(set(row) - known)}


def group_rows(rows: Sequence[Any], key: str, results: list[RowResult | None]) -> dict[str, list[int]]:
    """The positions of the rows of each record (rows with the same ``key``, e.g. an order's lines), in
    the order first seen, rows rejected already included; a row without the key is rejected at once."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        value = cell(row, key) if isinstance(row, dict) else None
        if value is None:
            if results[i] is None:
                results[i] = RowResult(i, "rejected", errors={key: [_("This field cannot be empty.")]})
            continue
        groups.setdefault(str(value), []).append(i)
    return groups


def reject(results: list[RowResult | None], positions: Sequence[int], key: str | None, exc: CRMError,
           own: dict[int, dict[str, Any]] | None = None) -> None:
    """Reject every row of one record: each row keeps its own errors (``own``), the others say why
    the record as a whole is refused."""
    errors = exc.errors or {"row": [exc.message]}
    for i in positions:
        mine = (own or {}).get(i)
        results[i] = RowResult(i, "rejected", key=key, errors=mine if mine else errors)


def invalid(errors: dict[str, list[Any]], what: Any) -> ValidationError:
    return ValidationError(what, errors=errors)


def split(rows: Sequence[Row]) -> tuple[list[int], list[dict[str, Any]]]:
    """A batch's ``(line, row)`` pairs as the file's lines and the rows."""
    return [line for line, _row in rows], [row for _line, row in rows]


def exists(what: Any) -> ValidationError:
    """A row whose key exists, imported without updates (``--no-update``, ``"upsert": false``)."""
    return ValidationError(what, errors={"row": [_("Already exists; imported without updates.")]})


def done(results: list[RowResult | None], lines: Sequence[int]) -> list[RowResult]:
    """The results by the file's line (they were kept by position in the batch), every row answered
    (a row left unanswered is a bug: fail loudly, the driver then loads the rows one by one)."""
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"import rows left without a result: {missing[:5]}")
    out = [r for r in results if r is not None]
    for result in out:
        result.line = lines[result.line]
    return out
