"""Large lists: keyset (cursor) pages alongside ``page``, and counts that turn into flagged estimates above a threshold."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, and_, false, func, literal, or_, select

from ..config import secret_key
from ..errors import BadRequest
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

COUNT_EXACT_MAX = 1000  # rows counted exactly; above: an estimate (the COUNT_EXACT_MAX setting wins)
COUNT_CACHE_SECONDS = 60  # how long a large list's estimate (SQLite: its count) is kept


@dataclass(frozen=True)
class Key:
    """One sort key of a list: the column, its direction, and whether it holds NULLs (they sort last going
    up and first going down, on every engine)."""

    column: Any
    desc: bool = False
    nullable: bool = False

    def order(self) -> Any:
        expr = self.column.desc() if self.desc else self.column.asc()
        if self.nullable:
            expr = expr.nulls_first() if self.desc else expr.nulls_last()
        return expr

    def after(self, value: Any) -> Any:
        """Rows strictly after ``value`` on this key."""
        col = self.column
        if value is None:  # NULLs come last going up, first going down
            return col.is_not(None) if self.desc else false()
        beyond = col < value if self.desc else col > value
        return or_(beyond, col.is_(None)) if self.nullable and not self.desc else beyond

    def same(self, value: Any) -> Any:
        return self.column.is_(None) if value is None else self.column == value


def ordered(stmt: Select[Any], keys: list[Key]) -> Select[Any]:
    return stmt.order_by(*[k.order() for k in keys])


def after(keys: list[Key], values: list[Any]) -> Any:
    """The rows after the row of ``values`` in the order of ``keys`` (the last key is unique: the id)."""
    terms = []
    for i, key in enumerate(keys):
        terms.append(and_(*[k.same(v) for k, v in zip(keys[:i], values[:i], strict=True)], key.after(values[i])))
    first, value = keys[0], values[0]
    if value is not None and not first.nullable:  # a bound on the first key, so an index can seek to it
        return and_(first.column <= value if first.desc else first.column >= value, or_(*terms))
    return or_(*terms)


def _dump(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _load(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dt"}:
        return dt.datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and set(value) == {"d"}:
        return dt.date.fromisoformat(value["d"])
    if value is None or isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise ValueError("not a key value")


def _serializer(ctx: ServiceContext) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(ctx.settings), salt="crm.list-cursor")


def make_cursor(ctx: ServiceContext, name: str, sort: str, keys: list[Key], row: Any, estimate: int | None = None) -> str:
    """The opaque, signed cursor of the page after ``row`` in list ``name`` sorted by ``sort``; it carries the
    list's estimated total, so later pages count nothing."""
    data: dict[str, Any] = {"l": name, "s": sort, "v": [_dump(getattr(row, k.column.key)) for k in keys]}
    if estimate is not None:
        data["t"] = estimate
    return str(_serializer(ctx).dumps(data))


def read_cursor(ctx: ServiceContext, cursor: str, name: str, sort: str, keys: list[Key]) -> tuple[list[Any], int | None]:
    """The key values (and estimated total) a cursor of this list and sort carries; ``BadRequest`` (400) for
    anything else."""
    other = _("The cursor belongs to another list; start again from the first page.")
    try:
        data = _serializer(ctx).loads(cursor)
        if not isinstance(data, dict) or data.get("l") != name or not isinstance(data.get("v"), list):
            raise BadRequest(other, errors={"cursor": [other]})
        if data.get("s") != sort:
            message = _("The cursor was made for another sort order; keep the sort of the page it came from, "
                        "or start again from the first page.")
            raise BadRequest(message, errors={"cursor": [message]})
        values = [_load(v) for v in data["v"]]
        estimate = data.get("t")
        if estimate is not None and (not isinstance(estimate, int) or isinstance(estimate, bool) or estimate < 0):
            raise ValueError("not a total")
    except (BadSignature, ValueError, TypeError):
        message = _("The cursor was not given out by this server, or it was changed; start again from the "
                    "first page.")
        raise BadRequest(message, errors={"cursor": [message]}) from None
    if len(values) != len(keys):
        raise BadRequest(other, errors={"cursor": [other]})
    return values, estimate


def keyset_page(ctx: ServiceContext, stmt: Select[Any], *, keys: list[Key], after_values: list[Any] | None, page: int,
                page_size: int) -> tuple[list[Any], Any]:
    """One page of ``stmt`` in the order of ``keys``: after the row of ``after_values`` when given (``page``
    is then not used), else the ``page``-th; with its last row when more follow (else None)."""
    if after_values is not None:
        stmt = stmt.where(after(keys, after_values))
    else:
        stmt = stmt.offset((page - 1) * page_size)
    rows = list(ctx.session.scalars(ordered(stmt, keys).limit(page_size + 1)).unique())
    more = len(rows) > page_size
    rows = rows[:page_size]
    return rows, rows[-1] if more and rows else None


_cache: dict[Any, tuple[float, int]] = {}
_cache_lock = threading.Lock()


def _estimate(ctx: ServiceContext, ones: Select[Any]) -> int:
    """The planner's row estimate (PostgreSQL) or a count (SQLite) of ``ones`` (the list's statement selecting a
    constant: nothing of the ORM to compile), kept per process for ``COUNT_CACHE_SECONDS``: the next pages of a
    large list (and its other readers) reuse it, with no statement compiled, no ``EXPLAIN`` or count sent."""
    conn = ctx.session.connection()
    cache_key = ones._generate_cache_key()  # SQLAlchemy's own statement key: no compiling
    values = tuple(repr(b.effective_value) for b in cache_key.bindparams) if cache_key is not None else ()
    key = (str(conn.engine.url), cache_key.key if cache_key is not None else str(ones), values)
    now = time.monotonic()
    ttl = float(ctx.settings.get("COUNT_CACHE_SECONDS", COUNT_CACHE_SECONDS))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    if conn.dialect.name == "postgresql":
        compiled = ones.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar()
        plan: Any = json.loads(raw) if isinstance(raw, str) else raw
        total = int(plan[0]["Plan"]["Plan Rows"])
    else:
        total = int(ctx.session.scalar(select(func.count()).select_from(ones.subquery())) or 0)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = (now, total)
    return total


def count(ctx: ServiceContext, stmt: Select[Any]) -> tuple[int, bool]:
    """``(total, estimated)``: exact up to ``COUNT_EXACT_MAX`` rows (a count that stops there), above it an
    estimate, never below the threshold."""
    ones = stmt.order_by(None).with_only_columns(literal(1), maintain_column_froms=True)  # no row read whole
    limit = int(ctx.settings.get("COUNT_EXACT_MAX", COUNT_EXACT_MAX))
    capped = int(ctx.session.scalar(select(func.count()).select_from(ones.limit(limit + 1).subquery())) or 0)
    if capped <= limit:
        return capped, False
    return max(_estimate(ctx, ones), limit + 1), True


class ListPage(tuple[list[Any], int]):
    """``(items, total)`` of one page of a list, with ``estimated`` (the total is an estimate above
    ``COUNT_EXACT_MAX``) and ``next_cursor`` (None on the last page)."""

    estimated: bool
    next_cursor: str | None

    def __new__(cls, items: list[Any], total: int, estimated: bool = False,
                next_cursor: str | None = None) -> ListPage:
        page = super().__new__(cls, (items, total))
        page.estimated, page.next_cursor = estimated, next_cursor
        return page


def list_page(ctx: ServiceContext, stmt: Select[Any], *, name: str, keys: list[Key], sort: str = "", cursor: str | None = None,
              page: int = 1, page_size: int = 25) -> ListPage:
    """A page of ``stmt`` (unordered) with its total: what every large list of the API returns. The total is
    counted on the first page only when the list is larger than it; an estimated one rides in the cursor."""
    after_values, carried = read_cursor(ctx, cursor, name, sort, keys) if cursor else (None, None)
    items, last = keyset_page(ctx, stmt, keys=keys, after_values=after_values, page=page, page_size=page_size)
    if carried is not None:
        total, estimated = carried, True
    elif not cursor and page == 1 and last is None:  # the whole list is on this page: nothing to count
        total, estimated = len(items), False
    else:
        total, estimated = count(ctx, stmt)
    next_cursor = None if last is None else make_cursor(ctx, name, sort, keys, last, total if estimated else None)
    return ListPage(items, total, estimated, next_cursor)
