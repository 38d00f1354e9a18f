"""Records of an entity picked by name in a condition builder: a search by name or number, and labels of ids."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import BigInteger, String, cast, func, or_, select

from .. import entities as meta
from ..errors import NotFound, PermissionDenied, ValidationError
from ..i18n import _
from ..models import Customer
from ..schemas.common import SEARCH_MAX
from .condition_fields import TITLE_COLUMNS, scoped
from .search import check_term, customer_ids

if TYPE_CHECKING:
    from ..runtime import ServiceContext

LIMIT = 20  # suggestions per search
MAX_IDS = 50  # labels asked at once
_MAX_ID = 2 ** 63 - 1


def search(ctx: ServiceContext, name: str, q: Any) -> list[dict[str, Any]]:
    """At most :data:`LIMIT` records of entity ``name`` the actor may see (read permission, record rules, not
    deleted) whose name or title contains ``q`` (customers: the customer search, so code, pinyin and phone too),
    or whose number is ``q``, as ``{value: id, label: name}``."""
    entity = _readable(ctx, name)
    text = q.strip() if isinstance(q, str) else ""
    if len(text) > SEARCH_MAX:
        raise ValidationError(_("The search is too long."), errors={"q": [_("At most %(n)s characters.", n=SEARCH_MAX)]})
    check_term(text)  # no NUL, no lone surrogate: neither the search index nor PostgreSQL takes them
    if not text:
        return []
    model, title = entity.model, _title(entity.model)
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    if number is not None and number > _largest_id(model):
        number = None  # no such record (and PostgreSQL refuses a number its column cannot hold)
    exact = model.id == number if number is not None else None
    if model is Customer:
        found: Any = model.id.in_(customer_ids(ctx, text))  # the customer search: name, code, pinyin, phone
    elif title is not None:
        found = func.lower(cast(title, String)).contains(text.lower(), autoescape=True)
    else:
        found = None
    arms = [c for c in (exact, found) if c is not None]
    if not arms:
        return []
    stmt = _visible(ctx, entity, select(model.id, title if title is not None else model.id).where(or_(*arms)))
    order = [(model.id != number)] if number is not None else []  # the record of that number first
    rows = ctx.session.execute(stmt.order_by(*order, title if title is not None else model.id, model.id)
                               .limit(LIMIT)).all()
    return [_item(row, title) for row in rows]


def labels(ctx: ServiceContext, name: str, ids: Any) -> list[dict[str, Any]]:
    """The names of the records ``ids`` (at most :data:`MAX_IDS` whole numbers, as a list or separated by
    commas) of entity ``name`` that the actor may see, as ``{value, label}``, in the order asked."""
    entity = _readable(ctx, name)
    wanted = _ids(ids)
    if not wanted:
        return []
    model, title = entity.model, _title(entity.model)
    wanted = [i for i in wanted if i <= _largest_id(model)]  # no such record, and a number its column cannot hold
    stmt = _visible(ctx, entity, select(model.id, title if title is not None else model.id).where(model.id.in_(wanted)))
    found = {row[0]: _item(row, title) for row in ctx.session.execute(stmt)}
    return [found[i] for i in wanted if i in found]


def _readable(ctx: ServiceContext, name: str) -> Any:
    entity = meta.registered(ctx).get(name) if isinstance(name, str) else None
    if entity is None:
        raise NotFound(_("Unknown record type %(name)s.", name=str(name)[:50]))
    if not ctx.can(entity.read_permission):
        raise PermissionDenied(_("You may not read these records."))
    return entity


def _visible(ctx: ServiceContext, entity: Any, stmt: Any) -> Any:
    model = entity.model
    columns = model.__table__.c
    if "deleted_at" in columns:
        stmt = stmt.where(model.deleted_at.is_(None))
    if "merged_into_id" in columns:
        stmt = stmt.where(model.merged_into_id.is_(None))
    return scoped(ctx, entity.name, model, stmt)


def _largest_id(model: Any) -> int:
    return _MAX_ID if isinstance(model.__table__.c.id.type, BigInteger) else 2 ** 31 - 1


def _title(model: Any) -> Any:
    return next((getattr(model, c) for c in TITLE_COLUMNS if c in model.__table__.c), None)


def _item(row: Any, title: Any) -> dict[str, Any]:
    label = str(row[1]) if title is not None and row[1] is not None else f"#{row[0]}"
    return {"value": row[0], "label": label}


def _ids(ids: Any) -> list[int]:
    parts = ids.split(",") if isinstance(ids, str) else ids if isinstance(ids, list) else None
    if parts is None or len(parts) > MAX_IDS:
        raise ValidationError(_("The record numbers are not valid."),
                              errors={"ids": [_("At most %(n)s record numbers, separated by commas.", n=MAX_IDS)]})
    out: list[int] = []
    for part in parts:
        text = str(part).strip()
        if not text:
            continue
        if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > _MAX_ID:
            raise ValidationError(_("The record numbers are not valid."),
                                  errors={"ids": [_("At most %(n)s record numbers, separated by commas.", n=MAX_IDS)]})
        if int(text) not in out:
            out.append(int(text))
    return out
