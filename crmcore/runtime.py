"""The runtime: database, plugin manager, registry and settings, usable with or without Flask.

``ServiceContext`` is what every service function takes: a session, who is acting, and from
where. The Flask app builds one per request; the CLI and jobs build their own.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pluggy
from sqlalchemy.orm import Session

from .config import load_settings
from .db import Database
from .errors import AuthenticationRequired, PermissionDenied
from .plugins import Registry, build_plugin_manager, collect_registry
from .i18n import _

if TYPE_CHECKING:  # the models load with the app or the command that uses them, not with `crm --help`
    from .models import User

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: dict[str, Any]
    db: Database
    pm: pluggy.PluginManager
    registry: Registry

    def context(self, actor: User | None = None, source: str = "system", session: Session | None = None) -> "ServiceContext":
        """A service context; without ``session`` it uses the thread's scoped session."""
        return ServiceContext(session=session or self.db.session(), runtime=self, actor=actor, source=source)


def build_runtime(settings: dict[str, Any] | None = None, plugins: Iterable[tuple[str, Any]] = (), db: Database | None = None,
                  *, lazy: bool = False) -> Runtime:
    """Load settings, build the plugin manager and the database for one application.

    :param lazy: collect what plugins register (models, jobs, providers, ...) on first use, not now
        (the ``crm`` command: a light command imports only what it uses).
    """
    settings = load_settings(settings)
    if not lazy:  # else when a schema is first imported (crmcore.schemas) or the app is made
        from .schemas.limits import install as install_limits

        install_limits()  # text and integer limits on every marshmallow field, for every schema
    pm = build_plugin_manager(settings, extra=plugins)
    registry = collect_registry(pm, lazy=lazy)
    return Runtime(settings=settings, db=db or Database(settings["DATABASE_URL"]), pm=pm, registry=registry)


@dataclass
class ServiceContext:
    """Who acts, from where, in which session. Services check permissions through it."""

    session: Session
    runtime: Runtime
    actor: User | None = None  # None for the system (CLI, jobs)
    source: str = "system"
    job: Any = None  # crmcore.services.jobs.JobHandle while this context runs a job, else None
    _perms: frozenset[str] | None = field(default=None, repr=False)

    @property
    def pm(self) -> pluggy.PluginManager:
        return self.runtime.pm

    @property
    def hook(self) -> Any:
        return self.runtime.pm.hook

    @property
    def registry(self) -> Registry:
        return self.runtime.registry

    @property
    def settings(self) -> dict[str, Any]:
        return self.runtime.settings

    @property
    def is_system(self) -> bool:
        return self.actor is None

    @property
    def actor_id(self) -> int | None:
        """The acting user's id; None for the system (whose record scope is ``all``)."""
        return self.actor.id if self.actor is not None else None

    @property
    def permissions(self) -> frozenset[str]:
        if self._perms is None:
            if self.actor is None:
                self._perms = frozenset({"*"})
            else:
                self._perms = frozenset(self.actor.role.permissions or []) if self.actor.role else frozenset()
        return self._perms

    @property
    def scope(self) -> str:
        """Record scope of the actor: ``own``, ``team`` or ``all``."""
        if self.actor is None or "*" in self.permissions:
            return "all"
        return (self.actor.role.scope if self.actor.role else "own") or "own"

    def can(self, permission: str) -> bool:
        perms = self.permissions
        if "*" in perms or permission in perms:
            return True
        family = permission.split(".", 1)[0]
        return f"{family}.*" in perms

    def require(self, permission: str) -> None:
        """Raise ``PermissionDenied`` unless the actor has ``permission``."""
        if self.actor is not None and not self.actor.active:
            raise AuthenticationRequired(_("This account is disabled."))
        if not self.can(permission):
            raise PermissionDenied(_("You need the permission '%(permission)s' to do this.", permission=permission))

    def report_progress(self, done: int, total: int | None = None) -> None:
        """In a job: record ``done`` of ``total`` (seen in ``crm jobs list``, the API, the admin) and raise
        ``JobCancelled`` if the run was cancelled. Call it between chunks of work; outside a job it does nothing."""
        from .services.jobs import report_progress

        report_progress(self, done, total)

    def fresh(self) -> "ServiceContext":
        """A context like this one with a new session (for work after a commit), knowing the change stamps this
        one's request read (``services.stamps``)."""
        from .services import stamps  # (the models: not on a light command's path)

        fresh = ServiceContext(session=self.runtime.db.new_session(), runtime=self.runtime, actor=self.actor,
                               source=self.source)
        stamps.carry(self.session, fresh.session)
        return fresh

    @property
    def actor_label(self) -> str:
        if self.actor is None:
            return self.source
        return self.actor.username
