"""The admin pages mounted on first use: a web process that only answers the API never imports Flask-Admin."""
from __future__ import annotations

import threading
from typing import Any, Callable

from flask import Flask


class LazyAdmin:
    """Mounts the admin (``mount(app)``) before the first request outside ``/api/`` is routed, or when a URL of an
    admin page is first built (an API answer that links to a page: the customer 360's panels)."""

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
