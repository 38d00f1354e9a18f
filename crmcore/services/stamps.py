"""Change stamps (``ChangeStamp``): a counter per kind of configuration, bumped in the transaction of each change.

What a process keeps (the active custom fields) it keeps under the stamp it read; a request that knows the stamp
(an API request reads it in its token's statement: no statement of its own) uses what was kept while the stamp
has not moved. A session that does not know it (the admin's, a job's) reads the configuration as before.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import ChangeStamp

_KNOWN = "crm_change_stamps"  # in a session's info: {name: version} read in this session's request
_KEPT: dict[str, dict[int, Any]] = {}  # per process: {name: {version: what is kept under it}}


def kept(name: str) -> dict[int, Any]:
    """The process's store of what is kept under the stamp ``name``'s versions (the caller keeps one version)."""
    return _KEPT.setdefault(name, {})


def forget_kept() -> None:
    """Forget everything kept (the database was emptied or replaced: a test's wipe, a restore)."""
    for store in _KEPT.values():
        store.clear()


def column(name: str) -> Any:
    """The stamp's version as a column of another statement (NULL when its row is missing)."""
    return select(ChangeStamp.version).where(ChangeStamp.name == name).scalar_subquery().label(f"stamp_{name}")


def remember(session: Session, name: str, version: int | None) -> None:
    """The stamp ``name`` as this session read it (None: unknown, read the configuration)."""
    if version is not None:
        session.info.setdefault(_KNOWN, {})[name] = version


def known(session: Session, name: str) -> int | None:
    """The stamp's version this session read, or None."""
    versions = session.info.get(_KNOWN)
    return versions.get(name) if versions else None


def bump(session: Session, name: str) -> None:
    """Move the stamp, in the session's transaction (from a flush that changes what it stamps); what this session
    knew of it is forgotten."""
    session.connection().execute(update(ChangeStamp).where(ChangeStamp.name == name).values(
        version=ChangeStamp.version + 1))
    versions = session.info.get(_KNOWN)
    if versions:
        versions.pop(name, None)
