"""The admin pages and CSRF protection mounted on first use: a web process that only answers the API never imports
Flask-Admin or WTForms."""
from __future__ import annotations

import threading
from typing import Any, Callable

from flask import Flask


class DeferredCSRF:
    """Flask-WTF's ``CSRFProtect``, installed by :class:`LazyAdmin` before the first request outside ``/api/`` is
    routed. Every request under ``/api/`` carries a bearer token (no cookie: nothing a forged request could borrow) and
    its blueprints are exempt, so a worker that only answers the API has nothing to protect and never imports WTForms
    (~1.2 MiB). Stands in ``app.extensions["csrf"]`` until then: plugins' exemptions are kept and passed on, and its
    check sits where ``CSRFProtect(app)`` would have put it among the app's ``before_request`` functions."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.exempted: list[Any] = []
        self._check: Callable[[], Any] | None = None
        app.extensions["csrf"] = self
        app.before_request(self._protect)

    def exempt(self, view: Any) -> Any:
        self.exempted.append(view)
        return view

    def _protect(self) -> Any:
        return self._check() if self._check is not None else None

    def install(self) -> None:
        """Create the real protection (it takes ``app.extensions["csrf"]``), with the exemptions asked for so far."""
        from flask_wtf.csrf import CSRFProtect

        funcs = self.app.before_request_funcs.setdefault(None, [])
        count = len(funcs)
        real = CSRFProtect(self.app)
        self._check = funcs.pop(count)  # its check runs from this one's place
        for view in self.exempted:
            real.exempt(view)


class LazyAdmin:
    """Mounts the admin (``mount(app)``) before the first request outside ``/api/`` is routed, or when a URL of an
    admin page is first built (an API answer that links to a page: the customer 360's panels); installs a
    :class:`DeferredCSRF` first."""

    def __init__(self, app: Flask, mount: Callable[[Flask], None], api_prefix: str = "/api/") -> None:
        self.app, self.mount, self.api_prefix = app, mount, api_prefix
        self.mounted = False
        self._lock = threading.Lock()
        self._wsgi_app = app.wsgi_app
        app.wsgi_app = self  # type: ignore[method-assign]
        app.url_build_error_handlers.append(self._on_build_error)

    def ensure(self) -> bool:
        """Mount the admin unless it is; True when this call mounted it."""
        if self.mounted:
            return False
        with self._lock:
            if self.mounted:
                return False
            started = self.app._got_first_request
            self.app._got_first_request = False  # Flask refuses new routes once serving: none is routed meanwhile
            try:
                csrf = self.app.extensions.get("csrf")
                if isinstance(csrf, DeferredCSRF):
                    csrf.install()
                self.mount(self.app)
            finally:
                self.app._got_first_request = started
            self.mounted = True
            return True

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.mounted and not environ.get("PATH_INFO", "").startswith(self.api_prefix):
            self.ensure()
        return self._wsgi_app(environ, start_response)

    def _on_build_error(self, error: Exception, endpoint: str, values: dict[str, Any]) -> str:
        if not self.ensure():
            raise error
        return self.app.url_for(endpoint, **values)
