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


#: where a session keeps the events queued for after its commit (``crmcore.events``)
PENDING_EVENTS = "crm_pending_events"


@contextmanager
def unit_of_work(ctx: ServiceContext, *, commit_unused: bool = True) -> Iterator[Any]:
    """Commit at the end of the outermost block; roll everything back on any error.

    Nested blocks (a service calling another) join the outer one. ``commit_unused=False``: no commit when the
    block left the session as it found it, with no transaction begun and nothing added, changed or queued (the
    listeners' session after a write, which most of them only read through what the process keeps)."""
    info = ctx.session.info
    depth = info.get(_DEPTH, 0)
    info[_DEPTH] = depth + 1
    try:
        yield ctx.session
        if depth == 0 and (commit_unused or _used(ctx.session)):
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


def _used(session: Any) -> bool:
    """Whether a commit of ``session`` would do anything: a transaction begun, records added, changed or deleted,
    or events queued for after commit (``crmcore.events`` keeps them under :data:`PENDING_EVENTS`)."""
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted) or bool(
        session.info.get(PENDING_EVENTS))


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
