"""The unit of work: a service write and everything it records commit together or not at all."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from ..errors import Conflict
from ..i18n import _
from .integrity import integrity_message

if TYPE_CHECKING:
    from ..runtime import ServiceContext

_DEPTH = "crm_uow_depth"


@contextmanager
def unit_of_work(ctx: ServiceContext) -> Iterator[Any]:
    """Commit at the end of the outermost block; roll everything back on any error.

    Nested blocks (a service calling another) join the outer one.
    """
    info = ctx.session.info
    depth = info.get(_DEPTH, 0)
    info[_DEPTH] = depth + 1
    try:
        yield ctx.session
        if depth == 0:
            ctx.session.commit()
    except StaleDataError as exc:
        if depth == 0:
            ctx.session.rollback()
        raise Conflict(_("The record was changed by someone else; reload it and try again.")) from exc
    except IntegrityError as exc:
        if depth == 0:
            ctx.session.rollback()
        raise Conflict(integrity_message(ctx, exc)) from exc
    except BaseException:
        if depth == 0:
            ctx.session.rollback()
        raise
    finally:
        info[_DEPTH] = depth


def new_values(defaults: dict[str, Any], data: dict[str, Any], fields: tuple[str, ...] | list[str]
               ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """A new record's values (``defaults`` with ``fields`` present in ``data``) and ``{field: [before, after]}``
    of what differs from the defaults: what ``apply_changes`` gives on a new instance holding ``defaults``,
    without setting attributes one by one (a batch builds it with ``transient``)."""
    changes = {name: [defaults.get(name), data[name]] for name in fields
               if name in data and defaults.get(name) != data[name]}
    return {**defaults, **{name: data[name] for name in fields if name in data}}, changes


def apply_changes(obj: Any, data: dict[str, Any], fields: tuple[str, ...] | list[str]) -> dict[str, list[Any]]:
    """Set ``fields`` present in ``data`` on ``obj``; return ``{field: [before, after]}`` of real changes."""
    changes: dict[str, list[Any]] = {}
    for name in fields:
        if name not in data:
            continue
        before = getattr(obj, name, None)
        after = data[name]
        if before != after:
            setattr(obj, name, after)
            changes[name] = [before, after]
    return changes
